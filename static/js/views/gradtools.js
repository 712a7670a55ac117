// "Check this gradient" and "what if" for the parameter selected on the diagram (an edge's weight, a neuron's
// bias) or its whole layer: backprop's ∂C/∂w beside the central difference (POST …/gradcheck), and the batch
// cost's change when the parameter is nudged by Δ beside the first-order prediction Δ·∂C/∂w (POST …/whatif).
// The server computes both in float64 on a copy of the paused run's weights, on the batch it trains next;
// the numbers shown are its own. The store's `check` slice holds the answers.

import { fmt, setHidden, subText as sub, supText as sup } from "../format.js";
import { isRunning } from "../state.js";
import { DEFAULT_DELTA_INDEX, DELTAS, movedOn, targetKey, targetsOf } from "../walkthrough_state.js";
import { h, num } from "./walkthrough_tables.js";

const MAX_LAYER_ROWS = 24; // parameters listed for a whole layer; the largest error is always given

/** The name of a target as the page writes it: W²₁₂ (neurons from 1), b²₁, or layer 2. */
export function targetName(t) {
  if (t.kind === "weight") return `W${sup(t.layer)}${sub(t.index[0] + 1)}${sub(t.index[1] + 1)}`;
  if (t.kind === "bias") return `b${sup(t.layer)}${sub(t.bias + 1)}`;
  return `All of layer ${t.layer} (its weights and biases)`;
}

function checkRows(r) {
  if (r.target !== "layer") {
    return [
      ["backprop ∂C/∂w", num(r.backprop, "gc-backprop", { cls: "strong" })],
      ["central difference (C(w + ε) − C(w − ε)) / 2ε", num(r.numeric, "gc-numeric", { cls: "strong" })],
      ["relative error |b − n| / (|b| + |n|)", num(r.rel_error, "gc-rel")],
      ["ε", num(r.epsilon, "gc-eps")],
    ];
  }
  const rows = [];
  const W = r.backprop;
  for (let j = 0; j < W.length && rows.length < MAX_LAYER_ROWS; j++) {
    for (let k = 0; k < W[j].length && rows.length < MAX_LAYER_ROWS; k++) {
      rows.push([`W${sup(r.layer)}${sub(j + 1)}${sub(k + 1)}`, num(W[j][k], "gc-backprop", { j, k }),
        num(r.numeric[j][k], "gc-numeric", { j, k }), num(r.rel_error[j][k], "gc-rel", { j, k })]);
    }
  }
  const b = r.biases;
  for (let k = 0; k < b.backprop.length && rows.length < MAX_LAYER_ROWS; k++) {
    rows.push([`b${sup(r.layer)}${sub(k + 1)}`, num(b.backprop[k], "gcb-backprop", { k }), num(b.numeric[k], "gcb-numeric", { k }),
      num(b.rel_error[k], "gcb-rel", { k })]);
  }
  return rows;
}

function checkResult(c) {
  if (c.status === "loading") return [h("p", { class: "hint" }, "Checking…")];
  if (c.status === "error") return [h("p", { class: "gt-error", role: "alert" }, c.error)];
  const r = c.result;
  if (!r) return [];
  const n = r.batch.length;
  const rows = checkRows(r);
  const table = r.target === "layer"
    ? h("table", { class: "gt-table" }, h("thead", {}, h("tr", {}, ["", "backprop", "central diff.", "rel. error"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map(([name, ...cells]) => h("tr", {}, h("th", { scope: "row" }, name), cells.map((x) => h("td", {}, x))))))
    : h("table", { class: "gt-table" }, h("tbody", {}, rows.map(([name, x]) => h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, x)))));
  const total = r.target === "layer" ? r.backprop.length * r.backprop[0].length + r.biases.backprop.length : 1;
  return [
    h("p", { class: "gt-headline" }, `${targetName(c.checked)}: largest relative error `, num(r.max_rel_error, "gc-max", { cls: "strong" }),
      r.target === "layer" ? ` over ${total} parameters` : "", ", ε = ", num(r.epsilon, "gc-eps-all"), `, on the ${n} examples of the next mini-batch (C = `,
      num(r.cost, "gc-cost"), ").", h("span", { class: "gt-batch", "data-indices": r.batch.join(",") })),
    table,
    total > rows.length ? h("p", { class: "hint" }, `The first ${rows.length} of ${total} parameters; the largest error is over all of them.`) : null,
    h("p", { class: "gt-explain" }, r.explanation),
  ];
}

function whatifResult(c) {
  const out = [];
  if (c.whatifError) out.push(h("p", { class: "gt-error", role: "alert" }, c.whatifError));
  const r = c.whatif;
  if (!r) return out;
  out.push(h("table", { class: "gt-table" }, h("tbody", {},
    h("tr", {}, h("th", { scope: "row" }, "the parameter"), h("td", {}, num(r.value_before, "wi-before"), " → ", num(r.value_after, "wi-after"), " (Δ = ", num(r.delta, "wi-delta"), ")")),
    h("tr", {}, h("th", { scope: "row" }, "batch cost C"), h("td", {}, num(r.cost_before, "wi-cost-before"), " → ", num(r.cost_after, "wi-cost-after"))),
    h("tr", {}, h("th", { scope: "row" }, "its change"), h("td", {}, num(r.change, "wi-change", { cls: "strong" }))),
    h("tr", {}, h("th", { scope: "row" }, "predicted Δ · ∂C/∂w"), h("td", {}, num(r.predicted, "wi-predicted", { cls: "strong" }), " (∂C/∂w = ", num(r.gradient, "wi-gradient"), ")")),
    h("tr", {}, h("th", { scope: "row" }, "the rest (Δ² and higher)"), h("td", {}, num(r.difference, "wi-difference"))),
  )));
  out.push(h("p", { class: "gt-explain" }, r.explanation));
  return out;
}

/** The cost's change against Δ (dots, every Δ asked) beside the tangent Δ · ∂C/∂w (line). */
function plot(canvas, c) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 260;
  const hgt = canvas.clientHeight || 110;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(hgt * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  const pts = c.points.filter((p) => p.change !== null && p.predicted !== null);
  const g = c.whatif ? c.whatif.gradient : null;
  if (!pts.length || g === null) return;
  const dMax = Math.max(...pts.map((p) => Math.abs(p.delta)));
  const yMax = Math.max(1e-12, ...pts.map((p) => Math.max(Math.abs(p.change), Math.abs(p.predicted))));
  const X = (d) => w / 2 + (d / dMax) * (w / 2 - 8);
  const Y = (v) => hgt / 2 - (v / yMax) * (hgt / 2 - 8);
  const css = getComputedStyle(canvas);
  ctx.strokeStyle = css.getPropertyValue("--line").trim() || "#dde1e4";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, hgt / 2);
  ctx.lineTo(w, hgt / 2);
  ctx.moveTo(w / 2, 0);
  ctx.lineTo(w / 2, hgt);
  ctx.stroke();
  ctx.strokeStyle = "#0877bd";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(X(-dMax), Y(-dMax * g));
  ctx.lineTo(X(dMax), Y(dMax * g));
  ctx.stroke();
  ctx.fillStyle = "#f59322";
  for (const p of pts) {
    ctx.beginPath();
    ctx.arc(X(p.delta), Y(p.change), 3.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.fillStyle = css.getPropertyValue("--muted").trim() || "#6b7780";
  ctx.font = "10px system-ui, sans-serif";
  ctx.textAlign = "left";
  ctx.fillText(`ΔC ±${fmt(yMax, 2)}`, 4, 10);
  ctx.textAlign = "right";
  ctx.fillText(`Δ ±${fmt(dMax, 2)}`, w - 4, hgt - 4);
}

export function mountGradTools(root, walk) {
  const intro = h("p", { class: "hint gt-intro" });
  const one = h("button", { type: "button", class: "small-btn gt-check-one" });
  const layer = h("button", { type: "button", class: "small-btn gt-check-layer" });
  const checkOut = h("div", { class: "gt-check-out", "aria-live": "polite" });
  const slider = h("input", { type: "range", min: 0, max: DELTAS.length - 1, step: 1, class: "gt-delta", "aria-label": "Δ: how far to nudge the parameter" });
  const deltaOut = h("output", { class: "gt-delta-out" });
  const nudge = h("button", { type: "button", class: "small-btn gt-nudge" }, "What if?");
  const whatifIntro = h("p", { class: "hint gt-whatif-intro" });
  const whatifOut = h("div", { class: "gt-whatif-out", "aria-live": "polite" });
  const canvas = h("canvas", { class: "gt-plot", "aria-label": "the batch cost's change against Δ (dots) and the tangent Δ·∂C/∂w (line)" });
  const plotNote = h("p", { class: "hint gt-plot-note" }, "Dots: the cost's change for each Δ asked; line: Δ · ∂C/∂w, the tangent. Near Δ = 0 they meet.");
  const stale = h("p", { class: "gt-stale hint" }, "The run has moved on since these answers: ask again for its current weights.");
  root.append(
    h("h3", {}, "Check this gradient"), intro, h("div", { class: "gt-buttons" }, one, layer), checkOut,
    h("h3", {}, "What if"), whatifIntro, h("div", { class: "gt-buttons" }, h("label", { class: "gt-delta-label" }, "Δ ", slider, deltaOut), nudge),
    whatifOut, canvas, plotNote, stale,
  );
  slider.value = String(DEFAULT_DELTA_INDEX);
  slider.dataset.deltas = DELTAS.join(","); // the Δ of each position
  one.addEventListener("click", () => walk.checkGradient());
  layer.addEventListener("click", () => walk.checkGradient({ whole: true }));
  nudge.addEventListener("click", () => walk.whatIf(Number(slider.value)));
  slider.addEventListener("input", () => {
    deltaOut.value = String(DELTAS[Number(slider.value)]);
    walk.whatIf(Number(slider.value));
  });

  let drawn = "";
  return {
    update(s) {
      const targets = targetsOf(s.selection, s.layerSizes);
      const c = s.check && targets && targetKey(s.check.target) === targetKey(targets.one) ? s.check : null;
      const running = isRunning(s);
      const moved = c ? movedOn(c.at, s) : false;
      const key = [targets ? targetKey(targets.one) : "", s.rev.check, running, moved, s.run ? s.run.id : ""].join("|");
      if (key === drawn) return;
      drawn = key;
      setHidden(root, !targets || !s.run);
      if (root.hidden) return;
      const name = targetName(targets.one);
      const pauses = running ? " Asking pauses the run." : "";
      intro.textContent = `Backprop's ∂C/∂w against the central difference, both computed by the server in double precision on the current weights `
        + `and the mini-batch the run trains next (the equation above averages the training set instead, so its ∂C/∂w differs).${pauses}`;
      one.textContent = `Check ${name}`;
      layer.textContent = `Check all of layer ${targets.layer.layer}`;
      checkOut.replaceChildren(...(c ? checkResult(c).filter(Boolean) : []));
      whatifIntro.textContent = `Nudge ${name} by Δ and see the batch cost change next to the gradient's first-order prediction. `
        + `The server nudges a copy of the weights: the run is not changed, so there is nothing to undo.${pauses}`;
      const index = c ? c.deltaIndex : Number(slider.value);
      if (Number(slider.value) !== index) slider.value = String(index);
      deltaOut.value = String(DELTAS[index]);
      nudge.disabled = !!(c && c.pending);
      whatifOut.replaceChildren(...(c ? whatifResult(c) : []));
      const hasPlot = !!(c && c.points.length && c.whatif);
      setHidden(canvas, !hasPlot);
      setHidden(plotNote, !hasPlot);
      if (hasPlot) plot(canvas, c);
      setHidden(stale, !(c && (c.result || c.whatif) && moved));
    },
  };
}
