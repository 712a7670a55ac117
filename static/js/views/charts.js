// Live charts (Plotly, served by our own server): train/test cost and accuracy per epoch, and the
// per-layer norms ‖δˡ‖ and ‖∂C/∂Wˡ‖ (log scale) that show vanishing or exploding gradients. What each chart
// shows (traces, layout, thinning) is in chart_specs.js; this module decides when and by whom it is drawn.
//
// Any Plotly update redraws its whole chart: 15–30 ms here, whatever it adds. So while a run streams:
// - a chart is extended (extendTraces, every point since the last update) at most 10 times a second, and
//   Plotly takes at most BUDGET of the main thread: the pause between updates grows with what they cost;
// - the two charts are updated in separate tasks, each posted from an animation frame so that it runs right
//   after that frame is drawn and the next frame has the most time left;
// - a chart out of view is updated every 2 s only while the run trains;
// - a trace holds about CAP points at most: every s-th epoch (s a power of two, doubled and the chart rebuilt
//   when the trace would pass CAP) plus the newest epoch of each update, so a run of 100 000 epochs costs
//   what a run of 1 000 does;
// - while the run streams and the page follows it (once Plotly has drawn the chart), or the page travels in
//   time (at once: the canvas builds the legend itself), the chart is drawn on a canvas laid over Plotly's
//   instead (livechart.js: the same traces, a millisecond or two, at most every LIVE_MS, and at once when the
//   shown epoch moves), and Plotly is brought up to date when the page shows the newest epoch of a run that
//   does not stream, or a pointer comes over the chart to hover it.

import { fmt, fmtPct, setText } from "../format.js";
import { Pacer } from "../pace.js";
import { gradientScope } from "../catalog.js";
import { isRunning, shownSnapshot } from "../state.js";
import { CAP, COST, NORMS, THEMES, pick, scrubShape, strideFor, thinIndices, tracesOf } from "./chart_specs.js";
import { drawLive } from "./livechart.js";

const PLOTLY_URL = "/static/vendor/plotly.min.js";
const MIN_INTERVAL = 100; // ms between updates of one chart (≤ 10 Hz)
const HIDDEN_INTERVAL = 2000; // ms between updates of a chart out of view
const BUDGET = 0.08; // share of the main thread the charts may take: the diagram comes first
const LIVE_MS = 100; // ms between live redraws of one chart (≤ 10 Hz)
const CONFIG = { displayModeBar: false, responsive: true };

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

/** The history index of an epoch (the epochs are in order), or −1. */
function indexOfEpoch(h, epoch) {
  if (!h) return -1;
  const e = h.column("epoch");
  let lo = 0;
  let hi = e.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (e[mid] === epoch) return mid;
    if (e[mid] < epoch) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** One chart's Plotly element and what it shows: {key, len (history points covered), stride, count, shapeKey}. */
function chartOf(root, spec) {
  const el = root.querySelector(spec.selector);
  const legend = el.previousElementSibling;
  const wrap = document.createElement("div");
  wrap.className = "chart-wrap";
  el.replaceWith(wrap);
  const canvas = document.createElement("canvas");
  canvas.className = "live-chart";
  canvas.hidden = true;
  canvas.setAttribute("aria-hidden", "true"); // the chart under it is the accessible one
  wrap.append(el, canvas);
  const chart = { spec, el, legend, canvas, wrap, drawn: null, at: -Infinity, visible: true, hover: false, width: 0,
    legendKey: null, live: { at: -Infinity, len: -1, key: "", lastX: null, points: 0, draws: 0 } };
  // the width from a ResizeObserver: reading it while drawing would make the browser lay the page out then
  new ResizeObserver((entries) => { chart.width = entries[entries.length - 1].contentRect.width; }).observe(wrap);
  return chart;
}


/** Draw `chart` on its live canvas from `s` (about a point per pixel column: more would not show); `travel`:
 * the snapshot shown while the page travels in time (a dotted line at its epoch), or false. */
function drawLiveChart(chart, s, travel) {
  const n = s.history ? s.history.length : 0;
  const { traces } = tracesOf(chart.spec, s, strideFor(n, Math.max(100, chart.width)));
  buildLegend(chart, chart.spec.key(s), traces);
  const layout = chart.spec.layout(s);
  const height = `${layout.height}px`;
  if (chart.canvas.style.height !== height) chart.canvas.style.height = height;
  const drawn = drawLive(chart.canvas, chart.width, traces, layout, THEMES[s.theme] || THEMES.light,
    travel ? travel.epoch : null);
  Object.assign(chart.live, { len: n, lastX: drawn.lastX, points: drawn.points, draws: chart.live.draws + 1,
    marker: travel ? travel.epoch : null });
}

/** Build `chart`'s legend when its traces (`key`) changed: whichever of Plotly and the canvas draws first. */
function buildLegend(chart, key, traces) {
  if (chart.legendKey === key) return;
  chart.legendKey = key;
  legendOf(chart.legend, traces, chart.spec.note);
}

/** The legend of a chart's traces, as HTML: a short line in each trace's colour and dash, and its name. */
function legendOf(el, traces, note) {
  const tail = document.createElement("span");
  tail.className = "legend-note";
  tail.textContent = note;
  tail.hidden = !note;
  el.replaceChildren(...traces.filter((t) => t.label !== null).map((t) => {
    const item = document.createElement("span");
    item.className = "legend-item";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.borderTopColor = t.line.color;
    swatch.style.borderTopStyle = t.line.dash === "dot" ? "dotted" : t.line.dash === "dash" ? "dashed" : "solid";
    const text = document.createElement("span");
    text.className = "legend-text";
    text.textContent = t.label ?? t.name; // a person's text, as text
    text.title = text.textContent;
    item.append(swatch, text);
    return item;
  }), tail);
}

/** Whether `chart` shows less than `s` holds (cheap: no arrays built). */
function stale(chart, s) {
  const d = chart.drawn;
  const n = s.history ? s.history.length : 0;
  return !d || d.key !== chart.spec.key(s) || d.len !== n || d.shapeKey !== JSON.stringify(scrubShape(s));
}

/** The Plotly call that brings `chart` up to date with `s`, or null when it is. */
function job(P, chart, s) {
  const { spec, el } = chart;
  const h = s.history;
  const n = h ? h.length : 0;
  const key = spec.key(s);
  const shapeKey = JSON.stringify(scrubShape(s));
  const d = chart.drawn;
  const columns = spec.columns(s);
  if (!d || d.key !== key || n < d.len) {
    return full(P, chart, s, key, shapeKey);
  }
  if (n > d.len) {
    const idx = thinIndices(d.len, n, d.stride);
    if (d.count + idx.length > CAP + CAP / 4) return full(P, chart, s, key, shapeKey);
    const x = pick(h, "epoch", idx);
    return () => P.extendTraces(el, { x: columns.map(() => x), y: columns.map((c) => pick(h, c, idx)) },
      columns.map((_, k) => k)).then(() => {
      d.len = n;
      d.count += idx.length;
    });
  }
  if (shapeKey !== d.shapeKey) {
    return () => P.relayout(el, { shapes: JSON.parse(shapeKey) }).then(() => { d.shapeKey = shapeKey; });
  }
  return null;
}

function full(P, chart, s, key, shapeKey) {
  const h = s.history;
  const n = h ? h.length : 0;
  const stride = strideFor(n);
  const { traces, count } = tracesOf(chart.spec, s, stride);
  return () => P.react(chart.el, traces, chart.spec.layout(s), CONFIG).then(() => {
    buildLegend(chart, key, traces);
    chart.drawn = { key, len: n, stride, count, shapeKey };
  });
}

export function mountCharts(root, actions) {
  const readout = root.querySelector(".cost-readout");
  const scope = root.querySelector(".norm-scope");
  let scopeRev = -1;
  const logBox = root.querySelector(".log-scale");
  logBox.addEventListener("change", () => actions.setView({ logScale: logBox.checked }));
  const charts = [chartOf(root, COST), chartOf(root, NORMS)];
  const pacer = new Pacer({ share: BUDGET, maxInterval: HIDDEN_INTERVAL });
  let P = null;
  let busy = false; // a Plotly call is posted or in flight
  let state = null;
  let timer = 0;
  const stats = { ms: 0, calls: 0, longest: 0 }; // Plotly's tasks, for the benchmarks

  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const c = charts.find((x) => x.el === e.target);
      if (c) c.visible = e.isIntersecting;
    }
    actions.requestFrame();
  });
  for (const c of charts) {
    io.observe(c.el);
    // a pointer over a chart hands it to Plotly (hover, zoom); the live canvas waits until it leaves
    c.wrap.addEventListener("pointerenter", () => { c.hover = true; actions.requestFrame(); });
    c.wrap.addEventListener("pointerleave", () => { c.hover = false; actions.requestFrame(); });
  }

  /** Whether `c` is drawn on its canvas rather than by Plotly (while the run streams or the page travels in
   * time), and draw it when due. */
  function live(c, s, now) {
    const drawn = c.drawn && c.drawn.key === c.spec.key(s);
    const onCanvas = P && !c.hover && (!s.following || (drawn && isRunning(s)));
    // the canvas stays until Plotly has caught up, so that the curve never steps back
    const shown = onCanvas || (!c.canvas.hidden && stale(c, s));
    if (c.canvas.hidden === shown) c.canvas.hidden = !shown;
    if (!shown) return false;
    const travel = !s.following && shownSnapshot(s);
    const key = [c.spec.key(s), s.view.logScale, c.width, travel ? travel.epoch : ""].join("|");
    const n = s.history ? s.history.length : 0;
    if (c.visible && c.width > 0 && (n !== c.live.len || key !== c.live.key)) {
      if (now - c.live.at >= LIVE_MS || key !== c.live.key) {
        c.live.at = now;
        c.live.key = key;
        drawLiveChart(c, s, travel);
      } else {
        later(c.live.at + LIVE_MS - now);
      }
    }
    return onCanvas;
  }

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

  /** Run the most overdue chart's update, in a task of its own; then look again. */
  function run(chart) {
    const t0 = performance.now();
    const call = job(P, chart, state);
    if (!call) {
      busy = false;
      return;
    }
    chart.at = t0;
    call().catch((err) => actions.message("error", `chart: ${err.message}`)).finally(() => {
      const ms = performance.now() - t0;
      pacer.spent(t0, ms);
      stats.ms += ms;
      stats.calls++;
      stats.longest = Math.max(stats.longest, ms);
      busy = false;
      actions.requestFrame();
    });
  }

  return {
    stats: () => ({ ...stats }),
    /** Per chart: whether its live canvas shows, the last epoch and number of points it drew, its draws, the
     * epoch of its time-travel line (or null). */
    live: () => charts.map((c) => ({ chart: c.spec.selector, shown: !c.canvas.hidden, lastEpoch: c.live.lastX,
      points: c.live.points, draws: c.live.draws, marker: c.live.marker ?? null })),
    update(s) {
      state = s;
      const h = s.history;
      const n = h ? h.length : 0;
      // the newest epoch, or while time-travelling the epoch shown
      const snap = !s.following && shownSnapshot(s);
      const k = snap ? indexOfEpoch(h, snap.epoch) : n - 1;
      const v = (name) => h.value(name, k);
      setText(readout, n && k >= 0
        ? `${snap ? "time travel: " : ""}epoch ${v("epoch")} · train cost ${fmt(v("train_cost"))} · test cost ${fmt(v("test_cost"))}` +
          (v("accuracy") != null ? ` · accuracy ${fmtPct(v("accuracy"))} test, ${fmtPct(v("train_accuracy"))} train` : "")
        : "no epochs yet");
      if (readout.classList.contains("travelling") !== !!snap) readout.classList.toggle("travelling", !!snap);
      if (scopeRev !== s.rev.data) {
        scopeRev = s.rev.data;
        setText(scope, gradientScope(s.catalog, s.data ? s.data.train.y.length : NaN));
      }
      if (logBox.checked !== s.view.logScale) logBox.checked = s.view.logScale;
      const now = performance.now();
      const onCanvas = charts.map((c) => live(c, s, now));
      if (!P || busy) return;
      if (!pacer.ready(now)) return pacer.wake(actions.requestFrame);
      // the chart whose turn it is: due (its own interval passed) and with something to do, oldest first
      let soonest = Infinity;
      for (const c of [...charts].sort((a, b) => a.at - b.at)) {
        if (onCanvas[charts.indexOf(c)]) continue; // on its canvas meanwhile
        const due = c.at + (c.visible || !isRunning(s) ? MIN_INTERVAL : HIDDEN_INTERVAL);
        if (!stale(c, s)) continue;
        if (due > now) {
          soonest = Math.min(soonest, due);
          continue;
        }
        busy = true;
        setTimeout(() => run(c), 0); // after this frame is drawn
        return;
      }
      if (soonest < Infinity) later(soonest - now);
    },
  };
}
