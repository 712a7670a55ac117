// What the two charts show (charts.js draws them): their traces, layouts and keys, drawn by Plotly and by the
// live canvas (livechart.js) alike, and how a long history is thinned to about CAP points a trace.

import { supText } from "../format.js";
import { shownSnapshot } from "../state.js";

export const CAP = 1000; // points per trace (charts.js rebuilds a chart with a doubled stride past it)
const LAYER_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79"];
const OVERLAY_COLORS = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79"];
// What every redraw would otherwise measure and lay out again is left to the page: the legend is HTML
// (legendOf), axis titles are in the panel's text, margins are fixed (no automargin pass).
export const THEMES = {
  light: { ink: "#444", plot: "#fff", grid: "#eee", zero: "#ccc", mark: "#333" },
  dark: { ink: "#c9d1d6", plot: "#1b2327", grid: "#2c363b", zero: "#46525a", mark: "#ddd" },
};
function baseLayout(s) {
  const t = THEMES[s.theme] || THEMES.light;
  const axis = { gridcolor: t.grid, zerolinecolor: t.zero, linecolor: t.zero, automargin: false };
  return {
    font: { family: "system-ui, sans-serif", size: 11, color: t.ink }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: t.plot,
    showlegend: false, hovermode: "x unified", hoverlabel: { namelength: 40 },
    xaxis: { ...axis, rangemode: "nonnegative" }, yaxis: { ...axis, exponentformat: "e" },
  };
}

/**
 * Text for Plotly, which reads some HTML in trace names, hovers and titles (links, styles): a name a person
 * gave is escaped, so it shows as the text it is.
 */
export function plotlyText(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** The history indices a chart shows from index `from` on: multiples of `stride`, and the newest (n − 1). */
export function thinIndices(from, n, stride) {
  const out = [];
  for (let k = Math.ceil(from / stride) * stride; k < n; k += stride) out.push(k);
  if (n - 1 >= from && out[out.length - 1] !== n - 1) out.push(n - 1);
  return out;
}

/** The smallest power of two s with ⌈n / s⌉ ≤ cap. */
export function strideFor(n, cap = CAP) {
  let s = 1;
  while (Math.ceil(n / s) > cap) s *= 2;
  return s;
}

/** Values of a history column at the given indices (null where missing: a gap in the line). */
export function pick(history, name, idx) {
  const col = history.column(name);
  return idx.map((k) => (Number.isNaN(col[k]) ? null : col[k]));
}

/** A dotted line at the epoch shown while the page travels in time (none while it follows the run). */
export function scrubShape(s) {
  const snap = shownSnapshot(s);
  if (s.following || !snap) return [];
  const color = (THEMES[s.theme] || THEMES.light).mark;
  return [{ type: "line", xref: "x", yref: "paper", x0: snap.epoch, x1: snap.epoch, y0: 0, y1: 1, line: { color, width: 1, dash: "dot" } }];
}

const COST_COLUMNS = ["train_cost", "test_cost", "accuracy"];

/** The cost chart: train and test cost, test accuracy on the right axis, and overlaid runs' train cost. */
export const COST = {
  selector: ".cost-chart",
  note: "",
  columns: () => COST_COLUMNS,
  traces(s, x, ys) {
    const traces = [
      { name: "train", x, y: ys[0], line: { color: "#0877bd", width: 2 } },
      { name: "test", x, y: ys[1], line: { color: "#f59322", width: 2 } },
      { name: "test acc. (right)", x, y: ys[2], yaxis: "y2", line: { color: "#2ca02c", width: 1.5, dash: "dot" } },
    ];
    Object.entries(s.overlays).forEach(([id, o], k) => {
      if (s.run && id === s.run.id) return;
      const stride = strideFor(o.points.length);
      const pts = thinIndices(0, o.points.length, stride).map((i) => o.points[i]);
      // `label` is the legend's (HTML, set as text); `name` is Plotly's, escaped: it shows in the hover
      const label = `${o.name || id} (train)`;
      traces.push({ name: plotlyText(label), label, x: pts.map((p) => p.epoch), y: pts.map((p) => p.train_cost),
        line: { color: OVERLAY_COLORS[k % OVERLAY_COLORS.length], width: 1.5, dash: "dash" } });
    });
    return traces.map((t) => ({ type: "scatter", mode: "lines", hovertemplate: "%{y:.4g}", ...t }));
  },
  layout(s) {
    const classification = s.run ? s.run.task === "classification" : true;
    const base = baseLayout(s);
    return {
      ...base, margin: { l: 46, r: classification ? 36 : 12, t: 8, b: 22 }, height: 160,
      xaxis: { ...base.xaxis, zeroline: false },
      yaxis: { ...base.yaxis, type: s.view.logScale ? "log" : "-" }, // "-": Plotly's own choice, linear for numbers
      yaxis2: { overlaying: "y", side: "right", range: [0, 1.02], visible: classification, tickformat: ".0%", showgrid: false,
        tickmode: "array", tickvals: [0, 0.5, 1], fixedrange: true },
      shapes: scrubShape(s), uirevision: s.run ? s.run.id : "none",
    };
  },
  key: (s) => [s.run ? s.run.id : "", s.view.logScale, s.rev.overlays || 0, s.run ? s.run.task : "", s.theme].join("|"),
};

const layersOf = (s) => Math.max(0, s.layerSizes.length - 1);

/** The norms chart: ‖δˡ‖ (solid) and ‖∂C/∂Wˡ‖ (dotted) per layer, log scale (ticks at powers of ten). */
export const NORMS = {
  selector: ".norm-chart",
  note: "",
  columns: (s) => Array.from({ length: layersOf(s) }, (_, l) => [`delta_norms.${l}`, `grad_norms.${l}`]).flat(),
  traces(s, x, ys) {
    const traces = [];
    for (let l = 0; l < layersOf(s); l++) {
      const color = LAYER_COLORS[l % LAYER_COLORS.length];
      // one legend entry per layer (its colour); the dash tells δ from ∂C/∂W (the note)
      traces.push({ name: `‖δ${supText(l + 1)}‖`, label: `layer ${l + 1}`, x, y: ys[2 * l], line: { color, width: 1.5 } });
      traces.push({ name: `‖∂C/∂W${supText(l + 1)}‖`, label: null, x, y: ys[2 * l + 1], line: { color, width: 1.5, dash: "dot" } });
    }
    return traces.map((t) => ({ type: "scatter", mode: "lines", hovertemplate: "%{y:.3g}", ...t }));
  },
  layout(s) {
    const base = baseLayout(s);
    return {
      ...base, margin: { l: 46, r: 12, t: 6, b: 22 }, height: 140,
      yaxis: { ...base.yaxis, type: "log", dtick: 1, exponentformat: "power", showexponent: "all" },
      shapes: scrubShape(s), uirevision: s.run ? s.run.id : "none",
    };
  },
  key: (s) => [s.run ? s.run.id : "", layersOf(s), s.theme].join("|"),
};

/** `spec`'s traces from `s`'s history, every `stride`-th epoch and the newest; `count`: points per trace. */
export function tracesOf(spec, s, stride) {
  const h = s.history;
  const n = h ? h.length : 0;
  const idx = n ? thinIndices(0, n, stride) : [];
  const x = n ? pick(h, "epoch", idx) : [];
  const ys = spec.columns(s).map((c) => (n ? pick(h, c, idx) : []));
  return { traces: spec.traces(s, x, ys), count: idx.length };
}
