// What the diagram says in words: the input column (which inputs, named how) and the hover box's lines.

import { entry, gradientScope, label } from "../catalog.js";
import { fmt, subText, supText } from "../format.js";

/**
 * The input column: for 2-D data, Playground's features in the catalog's order (those the run does not use
 * dimmed, a click adds or removes one); otherwise the network's inputs, named by the data's columns.
 */
export function inputColumn(s) {
  const cat = s.catalog;
  const run = s.run;
  const info = run && s.datasets.find((d) => d.name === run.config.dataset);
  const features = (run && run.config.features) || cat.default_features;
  const coords = JSON.stringify(features) === JSON.stringify(cat.default_features);
  const columns = s.data ? s.data.column_names : null;
  if (!info || !info.two_d) {
    return { slots: null, names: s.data ? s.data.feature_names : null, offNames: null, coords: false, features: null };
  }
  return {
    slots: cat.features.map((f) => (features.includes(f.name) ? { j: features.indexOf(f.name) } : { off: f.name })),
    // an upload's own column names for its two coordinates; the catalog's labels for everything else
    names: features.map((n, j) => (coords && columns && columns.join() !== features.join() ? columns[j] : label(cat, "features", n))),
    offNames: Object.fromEntries(cat.features.map((f) => [f.name, f.label])),
    coords,
    features,
  };
}

const v = (snap, name, k) => {
  const t = snap.tensors[name];
  return t && k < t.data.length ? t.data[k] : null;
};

/** Hover lines for a neuron, an edge or an unused input, from the shown snapshot. */
export function describe(hit, snap, s, column) {
  const L = s.layerSizes.length - 1;
  const cat = s.catalog;
  if (hit.kind === "off") {
    return [label(cat, "features", hit.name), "not an input of this network", "click to add it (a new run)"];
  }
  const scope = gradientScope(cat, s.data ? s.data.train.y.length : NaN);
  if (hit.kind === "neuron") {
    const { l, j } = hit;
    const inputName = (column && column.names && column.names[j]) ?? `input ${j + 1}`;
    const name = l === 0 ? `input ${j + 1}: ${inputName}` : l === L ? `output neuron ${j + 1}` : `layer ${l}, neuron ${j + 1}`;
    const lines = [name, `a = ${fmt(v(snap, `a${l}`, j))}`];
    if (l === 0 && s.data) {
      const mu = s.data.mean[j];
      const sc = s.data.scale[j];
      const a = v(snap, "a0", j);
      lines.push(s.data.standardized ? `a⁰ = (φ(x) − μ) / s, μ = ${fmt(mu)}, s = ${fmt(sc)}` : "a⁰ = φ(x): not standardised",
        `φ(x) = ${fmt(a === null ? null : a * sc + mu)} for the probe example`);
      if (column && column.features) lines.push("click to take this input out (a new run)");
      return lines;
    }
    if (l > 0) {
      lines.push(`z = ${fmt(v(snap, `z${l}`, j))}`, `δ = ${fmt(v(snap, `delta${l}`, j))} (probe)`,
        `mean |δ| = ${fmt(v(snap, `mean_abs_delta${l}`, j))}`, `b = ${fmt(v(snap, `b${l}`, j))}`,
        `∂C/∂b = ${fmt(v(snap, `db${l}`, j))}`, `∂C/∂b, mean |δ|: ${scope}`);
    }
    lines.push("click for the equation");
    return lines;
  }
  const { l, i, j } = hit;
  const n = s.layerSizes[l];
  const e = i * n + j;
  const from = l === 1 && column && column.names ? `input ${i + 1} (${column.names[i]})` : `layer ${l - 1} #${i + 1}`;
  const act = entry(cat, "activations", s.activations[l - 1]);
  const ij = i < 9 && j < 9 ? `${i + 1}${j + 1}` : `${i + 1},${j + 1}`;
  return [`weight W${supText(l)}${subText(ij)}: ${from} → layer ${l} #${j + 1}`,
    `w = ${fmt(v(snap, `W${l}`, e))}`, `∂C/∂w = ${fmt(v(snap, `dW${l}`, e))}, ${scope}`,
    `∂Cₓ/∂w = aⱼˡ⁻¹ δₖˡ = ${fmt((v(snap, `a${l - 1}`, i) ?? NaN) * (v(snap, `delta${l}`, j) ?? NaN))} (probe)`,
    act ? `σ of layer ${l}: ${act.label}` : "", "click for the equation"].filter(Boolean);
}
