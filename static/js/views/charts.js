// Live charts (Plotly, served by our own server): train/test cost and accuracy per epoch, and the
// per-layer norms ‖δˡ‖ and ‖∂C/∂Wˡ‖ (log scale) that show vanishing or exploding gradients.
// Plotly's extendTraces costs 20–60 ms a call here, so the curves are extended at most 10 times a second
// with every point that arrived since, and a history beyond 10 000 points is thinned. On a slow machine
// an update can take far longer than that, so the pause between updates adapts to what the last one cost
// (at most BUDGET of the main thread), keeping the network diagram fluid.

import { fmt, fmtPct, setText } from "../format.js";
import { shownSnapshot } from "../state.js";

const PLOTLY_URL = "/static/vendor/plotly.min.js";
const MIN_INTERVAL = 100; // ms between chart updates (≤ 10 Hz)
const MAX_INTERVAL = 2000;
const BUDGET = 0.15; // share of the main thread the charts may take: the diagram comes first
const THIN_ABOVE = 10000;
const LAYER_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79"];
const OVERLAY_COLORS = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79"];
const CONFIG = { displayModeBar: false, responsive: true };
const FONT = { family: "system-ui, sans-serif", size: 11, color: "#444" };

let plotly = null;
function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotly) {
    plotly = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = PLOTLY_URL;
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => reject(new Error(`could not load the chart library from ${PLOTLY_URL}`));
      document.head.append(s);
    });
  }
  return plotly;
}

const pick = (points, f) => points.map(f);
function thin(points) {
  if (points.length <= THIN_ABOVE) return points;
  const stride = Math.ceil(points.length / (THIN_ABOVE / 2));
  const out = points.filter((_, k) => k % stride === 0);
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]);
  return out;
}

function costTraces(points, s) {
  const x = pick(points, (p) => p.epoch);
  const traces = [
    { name: "train", x, y: pick(points, (p) => p.train_cost), line: { color: "#0877bd", width: 2 } },
    { name: "test", x, y: pick(points, (p) => p.test_cost), line: { color: "#f59322", width: 2 } },
    { name: "test acc. (right)", x, y: pick(points, (p) => p.accuracy), yaxis: "y2", line: { color: "#2ca02c", width: 1.5, dash: "dot" } },
  ];
  Object.entries(s.overlays).forEach(([id, o], k) => {
    if (s.run && id === s.run.id) return;
    const pts = thin(o.points);
    traces.push({ name: `${o.name || id} (train)`, x: pick(pts, (p) => p.epoch), y: pick(pts, (p) => p.train_cost),
      line: { color: OVERLAY_COLORS[k % OVERLAY_COLORS.length], width: 1.5, dash: "dash" } });
  });
  return traces.map((t) => ({ type: "scatter", mode: "lines", hovertemplate: "%{y:.4g}", ...t }));
}

function normTraces(points, L) {
  const x = pick(points, (p) => p.epoch);
  const traces = [];
  for (let l = 0; l < L; l++) {
    const color = LAYER_COLORS[l % LAYER_COLORS.length];
    traces.push({ name: `‖δ${l + 1}‖`, x, y: pick(points, (p) => p.delta_norms[l]), line: { color, width: 1.5 } });
    traces.push({ name: `‖∂C/∂W${l + 1}‖`, x, y: pick(points, (p) => p.grad_norms[l]), line: { color, width: 1.5, dash: "dot" } });
  }
  return traces.map((t) => ({ type: "scatter", mode: "lines", hovertemplate: "%{y:.3g}", ...t }));
}

function scrubShape(s) {
  const snap = shownSnapshot(s);
  if (s.following || !snap) return [];
  return [{ type: "line", xref: "x", yref: "paper", x0: snap.epoch, x1: snap.epoch, y0: 0, y1: 1, line: { color: "#333", width: 1, dash: "dot" } }];
}

function costLayout(s) {
  const classification = s.run ? s.run.task === "classification" : true;
  return {
    margin: { l: 46, r: classification ? 40 : 12, t: 24, b: 30 }, height: 220, font: FONT,
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff", showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 10 }, itemwidth: 30, entrywidth: 70 },
    xaxis: { title: { text: "epoch", standoff: 4 }, zeroline: false, automargin: true, rangemode: "nonnegative" },
    yaxis: { title: { text: "cost" }, type: s.view.logScale ? "log" : "linear", exponentformat: "e", automargin: true },
    yaxis2: { overlaying: "y", side: "right", range: [0, 1.02], visible: classification, tickformat: ".0%", showgrid: false,
      tickmode: "array", tickvals: [0, 0.5, 1], title: { text: "accuracy", standoff: 2 } },
    shapes: scrubShape(s), uirevision: s.run ? s.run.id : "none", hovermode: "x unified",
  };
}

function normLayout(s) {
  return {
    margin: { l: 46, r: 12, t: 36, b: 30 }, height: 180, font: FONT, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff",
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 10 }, itemwidth: 30, entrywidth: 90 },
    xaxis: { title: { text: "epoch", standoff: 4 }, automargin: true, rangemode: "nonnegative" },
    yaxis: { type: "log", exponentformat: "e", automargin: true }, shapes: scrubShape(s),
    uirevision: s.run ? s.run.id : "none", hovermode: "x unified",
  };
}

export function mountCharts(root, actions) {
  const costEl = root.querySelector(".cost-chart");
  const normEl = root.querySelector(".norm-chart");
  const readout = root.querySelector(".cost-readout");
  const logBox = root.querySelector(".log-scale");
  logBox.addEventListener("change", () => actions.setView({ logScale: logBox.checked }));
  let P = null;
  let busy = false;
  let last = 0;
  let timer = 0;
  let drawn = { key: "", len: 0, shapeKey: "" };
  let lastFull = 0;
  let interval = MIN_INTERVAL;

  // Plotly is 4.8 MB of script: load it after the page, so the diagram is up and training first.
  const load = () => loadPlotly().then((p) => {
    P = p;
    root.classList.remove("charts-loading");
    actions.requestFrame();
  }, (err) => actions.message("error", err.message));
  root.classList.add("charts-loading");
  if (document.readyState === "complete") setTimeout(load, 0);
  else window.addEventListener("load", () => setTimeout(load, 0), { once: true });

  function later(ms) {
    if (!timer) timer = setTimeout(() => { timer = 0; actions.requestFrame(); }, ms);
  }

  async function full(s, points) {
    const shown = thin(points);
    await Promise.all([
      P.react(costEl, costTraces(shown, s), costLayout(s), CONFIG),
      P.react(normEl, normTraces(shown, s.layerSizes.length - 1), normLayout(s), CONFIG),
    ]);
  }

  async function extend(s, points, from) {
    const add = points.slice(from);
    const x = add.map((p) => p.epoch);
    const costCols = [(p) => p.train_cost, (p) => p.test_cost, (p) => p.accuracy];
    await P.extendTraces(costEl, { x: costCols.map(() => x), y: costCols.map((f) => add.map(f)) }, [0, 1, 2]);
    const L = s.layerSizes.length - 1;
    const nx = [];
    const ny = [];
    const idx = [];
    for (let l = 0; l < L; l++) {
      nx.push(x, x);
      ny.push(add.map((p) => p.delta_norms[l]), add.map((p) => p.grad_norms[l]));
      idx.push(2 * l, 2 * l + 1);
    }
    if (L) await P.extendTraces(normEl, { x: nx, y: ny }, idx);
  }

  return {
    update(s) {
      const h = s.history;
      const lastP = h[h.length - 1];
      setText(readout, lastP
        ? `epoch ${lastP.epoch} · train cost ${fmt(lastP.train_cost)} · test cost ${fmt(lastP.test_cost)}` +
          (lastP.accuracy != null ? ` · test accuracy ${fmtPct(lastP.accuracy)} · train accuracy ${fmtPct(lastP.train_accuracy)}` : "")
        : "no epochs yet");
      if (logBox.checked !== s.view.logScale) logBox.checked = s.view.logScale;
      if (!P) return;
      if (busy) return later(interval);
      const now = performance.now();
      if (now - last < interval) return later(interval - (now - last));
      const key = [s.run ? s.run.id : "", s.layerSizes.length, s.view.logScale, s.rev.overlays || 0, s.run ? s.run.task : ""].join("|");
      const shapeKey = JSON.stringify(scrubShape(s));
      let job = null;
      if (key !== drawn.key || h.length < drawn.len || (h.length > THIN_ABOVE && h.length > drawn.len)) {
        if (key === drawn.key && h.length > THIN_ABOVE && now - lastFull < 1000) return later(1000 - (now - lastFull));
        lastFull = now;
        job = full(s, h).then(() => { drawn = { key, len: h.length, shapeKey }; });
      } else if (h.length > drawn.len) {
        job = extend(s, h, drawn.len).then(() => { drawn.len = h.length; });
      }
      if (!job && shapeKey !== drawn.shapeKey) {
        const shapes = JSON.parse(shapeKey);
        job = Promise.all([P.relayout(costEl, { shapes }), P.relayout(normEl, { shapes })]).then(() => { drawn.shapeKey = shapeKey; });
      }
      if (!job) return;
      busy = true;
      last = now;
      job.catch((err) => actions.message("error", `chart: ${err.message}`)).finally(() => {
        busy = false;
        const cost = performance.now() - now;
        interval = Math.max(MIN_INTERVAL, Math.min(MAX_INTERVAL, cost / BUDGET));
        actions.requestFrame();
      });
    },
  };
}
