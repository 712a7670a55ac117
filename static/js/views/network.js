// The network diagram view: a HiDPI canvas redrawn at most once per animation frame (update() is called
// from main's frame loop and draws only when something it shows has changed), hover numbers, click to
// inspect, and the legends of its three colour scales.
//
// The frames are drawn by a worker (network_drawer.js, network_worker.js) on the canvas handed to it: the
// page's main thread decides what to draw and when, the worker spends the milliseconds of rasterising it.
// While a run streams, a new snapshot is drawn when the last draw's cost allows (Pacer: the diagram takes at
// most SHARE of a core; a small net is drawn every other frame, a big one every few); a click, a hover or a
// change of colouring is drawn as soon as the draw in progress is done. The captions sit on a canvas of
// their own, drawn when the layout changes. The legends' numbers and the hover box change at most every
// LABELS_MS: faster than that they cannot be read, and each change costs the page a layout.
//
// Every other frame (DIAGRAM_MS), not every frame: a new snapshot on the diagram costs the machine ~6 ms of
// CPU however small the net — receiving it in three processes, posting it to the drawing worker, committing
// and compositing a canvas of ~700 × 400 pixels in software — against ~0.6 ms for drawing a 2-4-2-1 net.
// At 60 redraws a second that was ~0.3 of a core, taken from a training run on the same machine (beside the
// page that drew every frame, on Playground's defaults: the browser 0.71 → 0.61 of a core, the training
// 0.82 → 0.87); the colours that change from one thirtieth of a second to the next are the same to the eye.

import { GRAD_SCALE, LOG_DECADES, VALUE_SCALE, drawLegendBar } from "../colors.js";
import { fmt, selectTitle, setHidden, setText } from "../format.js";
import { Pacer } from "../pace.js";
import { isRunning, shownSnapshot, tensor } from "../state.js";
import { drawCaptions } from "./network_captions.js";
import { describe, inputColumn } from "./network_tip.js";
import { NetworkRenderer, canvasTheme } from "./network_draw.js";
import { createDrawer } from "./network_drawer.js";
import { edgeWidth } from "./network_edges.js";
import { computeLayout, hitTest } from "./network_layout.js";

const $ = (root, sel) => root.querySelector(sel);
const SHARE = 0.35; // of a core, at most, for redrawing the diagram with new snapshots
const DIAGRAM_MS = 30; // between redraws of a streaming run, at least: every other frame at 60 Hz (30 a second)
const LABELS_MS = 250; // legends and the hover box: at most 4 changes a second
const ROW_PX = 12; // px per input row when the inputs are many
const MAX_HEIGHT = 640; // px: the diagram grows for many inputs up to here
const SCALE_NOTES = { running: "running max", epoch0: "fixed at epoch 0", frame: "this frame's max" };

export function mountNetwork(root, actions) {
  const wrap = $(root, ".net-wrap");
  const canvas = $(root, "canvas.net");
  const captions = $(root, "canvas.net-static");
  const tip = $(root, ".tip");
  const pacer = new Pacer({ share: SHARE });
  const renderer = new NetworkRenderer(); // its theme is the worker's; it draws the benchmarks' frames here
  let legend = renderer.legend; // the last drawn frame's colour scales (the worker's)
  const drawer = createDrawer(canvas, {
    onDrawn({ ms, legend: drawn, t0 }) {
      pacer.spent(t0, ms);
      frames++;
      legend = drawn;
      legends();
    },
    requestFrame: () => actions.requestFrame(),
  });
  let bench = null; // an OffscreenCanvas of the diagram's size, for the benchmarks
  let layout = null;
  let hover = null;
  let pointer = { x: 0, y: 0 };
  let cssW = 0;
  let cssH = 0;
  let dpr = 1;
  let drawnScene = "";
  let drawnSnap = -1;
  let captionsKey = "";
  let state = null;
  let frames = 0;
  let labelsAt = -Infinity;
  let labelsTimer = 0;
  let tipKey = "";
  let tipAt = -Infinity;
  let tipTimer = 0;

  drawLegendBar($(root, ".legend-edge canvas"), GRAD_SCALE);
  drawLegendBar($(root, ".legend-value canvas"), VALUE_SCALE);
  drawLegendBar($(root, ".legend-delta canvas"), GRAD_SCALE);

  $(root, ".edge-color").addEventListener("change", (ev) => actions.setView({ edgeColor: ev.target.value }));
  $(root, ".delta-mode").addEventListener("change", (ev) => actions.setView({ deltaMode: ev.target.value }));
  $(root, ".grad-scale").addEventListener("change", (ev) => actions.setView({ gradScale: ev.target.value }));
  $(root, ".grad-log").addEventListener("change", (ev) => actions.setView({ gradLog: ev.target.checked }));
  let column = null; // inputColumn() of the drawn state
  let drawnModes = "";
  let drawnColumn = {};

  let inputRows = 0; // a net with many inputs gets the height for a readable row each (ROW_PX)
  const resize = () => {
    const w = Math.floor(wrap.clientWidth);
    const h = Math.round(Math.max(260, Math.min(480, w * 0.55), Math.min(MAX_HEIGHT, inputRows * ROW_PX + 48)));
    const d = window.devicePixelRatio || 1;
    if (w === cssW && h === cssH && d === dpr) return;
    cssW = w;
    cssH = h;
    dpr = d;
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    drawer.size(Math.round(w * d), Math.round(h * d));
    captions.style.width = `${w}px`;
    captions.style.height = `${h}px`;
    captions.width = Math.round(w * d);
    captions.height = Math.round(h * d);
    bench = null;
    layout = null;
    drawnScene = "";
    captionsKey = "";
    actions.requestFrame();
  };
  new ResizeObserver(resize).observe(wrap);
  window.matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`).addEventListener?.("change", resize);

  const local = (ev) => {
    const r = canvas.getBoundingClientRect();
    return { x: ev.clientX - r.left, y: ev.clientY - r.top };
  };
  const widthOf = (l, e) => {
    const W = tensor(state && shownSnapshot(state), `W${l}`);
    return W ? edgeWidth(W.data[e]) : 1;
  };
  canvas.addEventListener("pointermove", (ev) => {
    if (!layout) return;
    pointer = local(ev);
    const hit = hitTest(layout, pointer.x, pointer.y, widthOf);
    if (JSON.stringify(hit) !== JSON.stringify(hover)) {
      hover = hit;
      canvas.style.cursor = hit ? "pointer" : "default";
    }
    actions.requestFrame();
  });
  canvas.addEventListener("pointerleave", () => {
    hover = null;
    actions.requestFrame();
  });
  canvas.addEventListener("click", (ev) => {
    if (!layout) return;
    const p = local(ev);
    const hit = hitTest(layout, p.x, p.y, widthOf);
    // Playground: a click on an input adds it to the network or takes it out
    if (hit && hit.kind === "off") return actions.toggleFeature(hit.name, true);
    if (hit && hit.kind === "neuron" && hit.l === 0 && column && column.features) {
      return actions.toggleFeature(column.features[hit.j], false);
    }
    actions.select(hit);
  });

  function tooltip(snap) {
    if (!hover || (!snap && hover.kind !== "off")) {
      setHidden(tip, true);
      tipKey = "";
      return;
    }
    const key = `${JSON.stringify(hover)}|${pointer.x},${pointer.y}`;
    const now = performance.now();
    if (key === tipKey && now - tipAt < LABELS_MS) { // the same box: its new numbers a little later
      if (!tipTimer) tipTimer = setTimeout(() => { tipTimer = 0; actions.requestFrame(); }, LABELS_MS - (now - tipAt));
      return;
    }
    tipKey = key;
    tipAt = now;
    const lines = describe(hover, snap, state, column);
    tip.replaceChildren(...lines.map((t, k) => {
      const div = document.createElement("div");
      div.textContent = t;
      if (k === 0) div.className = "tip-title";
      return div;
    }));
    setHidden(tip, false);
    const x = Math.min(pointer.x + 14, cssW - tip.offsetWidth - 4);
    const y = pointer.y + 14 + tip.offsetHeight > cssH ? pointer.y - tip.offsetHeight - 8 : pointer.y + 14;
    tip.style.left = `${Math.max(0, x)}px`;
    tip.style.top = `${Math.max(0, y)}px`;
  }

  /** The legends' numbers: at once when the colouring changed, else at most every LABELS_MS. */
  function legends() {
    const g = legend;
    const bar = $(root, ".legend-edge canvas");
    const mode = [g.edgeColor, g.deltaMode, g.gradScale, g.gradLog].join("|");
    const modeChanged = root.dataset.legendMode !== mode;
    const now = performance.now();
    if (!modeChanged && now - labelsAt < LABELS_MS) {
      if (!labelsTimer) labelsTimer = setTimeout(() => { labelsTimer = 0; legends(); }, LABELS_MS - (now - labelsAt));
      return;
    }
    labelsAt = now;
    root.dataset.legendMode = mode;
    root.dataset.deltaMode = g.deltaMode;
    const weight = g.edgeColor === "weight";
    const curve = g.gradLog ? `log, ${LOG_DECADES} decades` : "√ scale";
    setText($(root, ".legend-edge .lo"), fmt(-g.edgeMax));
    setText($(root, ".legend-edge .hi"), fmt(g.edgeMax));
    setText($(root, ".legend-edge .scale-note"), weight ? "this frame's max, proportional" : `${curve}, ${SCALE_NOTES[g.gradScale]}`);
    if (bar.dataset.scale !== g.edgeColor) {
      drawLegendBar(bar, weight ? VALUE_SCALE : GRAD_SCALE);
      bar.dataset.scale = g.edgeColor;
    }
    const batch = g.deltaMode === "batch";
    setText($(root, ".legend-delta .lo"), batch ? "0" : fmt(-g.deltaMax));
    setText($(root, ".legend-delta .hi"), fmt(g.deltaMax));
    const since = g.gradScale === "running" ? ` since epoch ${g.since}` : "";
    setText($(root, ".legend-scale .scale-mode"), `${SCALE_NOTES[g.gradScale]}${since} (${curve}); this frame's largest |∂C/∂w| `
      + `${fmt(g.edgeColor === "weight" ? NaN : g.edgeFrame)}, |δ| ${fmt(g.deltaFrame)}`);
  }

  return {
    update(s) {
      state = s;
      const rows = s.layerSizes.length ? s.layerSizes[0] : 0;
      if (!cssW || rows !== inputRows) {
        inputRows = rows;
        resize();
      }
      if (!cssW || !s.layerSizes.length) return;
      if (renderer.themeKey !== s.theme) {
        renderer.theme = canvasTheme(root);
        renderer.themeKey = s.theme;
        drawnScene = "";
        captionsKey = "";
      }
      // the input column changes with the run and its data, not with its snapshots
      const config = s.run ? s.run.config : null; // a new object only when the run's setup changed
      if (!column || config !== drawnColumn.config || s.rev.data !== drawnColumn.data || s.rev.datasets !== drawnColumn.sets) {
        drawnColumn = { config, data: s.rev.data, sets: s.rev.datasets };
        column = inputColumn(s);
        column.key = JSON.stringify([column.slots, column.names]);
      }
      const sizesKey = s.layerSizes.join(",");
      const layoutKey = [sizesKey, cssW, cssH, column.key].join("|");
      if (!layout || layout.key !== layoutKey) {
        const c = captions.getContext("2d");
        c.font = "11px system-ui, sans-serif";
        const widest = Math.max(0, ...(column.names || []).map((n) => c.measureText(String(n)).width),
          ...Object.values(column.offNames || {}).map((n) => c.measureText(String(n)).width));
        const left = Math.round(Math.max(34, Math.min(widest + 12, cssW * 0.2)));
        layout = computeLayout(s.layerSizes, cssW, cssH, { wide: s.catalog.max_grid_neurons, left, inputs: column.slots });
        layout.key = layoutKey;
        hover = null;
      }
      const snap = shownSnapshot(s);
      const usable = snap && snapMatches(snap, s.layerSizes) ? snap : null;
      const view = s.view;
      const opts = {
        sizes: s.layerSizes, activations: s.activations, edgeColor: view.edgeColor, deltaMode: view.deltaMode,
        gradScale: view.gradScale, gradLog: view.gradLog, selection: s.selection, hover, dpr,
        extent: s.grid ? s.grid.extent : null, gridSize: s.grid ? s.grid.size : 0, coords: column.coords,
        catalog: s.catalog, runId: s.run ? s.run.id : null,
        reference: s.scaleRef && s.run && s.scaleRef.runId === s.run.id ? s.scaleRef : null,
      };
      if (view.gradScale === "epoch0" && !opts.reference && s.run) actions.loadScaleReference();
      const capKey = [layoutKey, dpr, s.theme].join("|");
      if (capKey !== captionsKey) {
        captionsKey = capKey;
        const c = captions.getContext("2d");
        c.setTransform(dpr, 0, 0, dpr, 0, 0);
        c.clearRect(0, 0, cssW, cssH);
        drawCaptions(c, layout, { inputNames: column.names, offNames: column.offNames }, renderer.theme);
      }
      tooltip(usable);
      // what the diagram shows besides the snapshot: drawn at once when it changes
      const scene = [layoutKey, dpr, s.theme, s.rev.data, view.edgeColor, view.deltaMode, view.gradScale, view.gradLog,
        !!opts.reference, JSON.stringify(s.selection), JSON.stringify(hover)].join("|");
      const serial = usable ? usable.serial : -1;
      if (scene === drawnScene && serial === drawnSnap) return drawer.settled();
      if (drawer.busy()) return; // one draw at a time: the newest state is drawn when this one is done
      pacer.minInterval = s.following && isRunning(s) ? DIAGRAM_MS : 0; // a step or the scrubber: at once
      if (scene === drawnScene && !pacer.ready()) {
        pacer.wake(actions.requestFrame);
        return;
      }
      drawnScene = scene;
      drawnSnap = serial;
      drawer.draw({ dpr, layout, theme: renderer.theme, snap: usable, opts });
      const modes = [view.edgeColor, view.deltaMode, view.gradScale, view.gradLog].join("|");
      if (modes !== drawnModes) { // the colouring controls show what is drawn (a link or another tab may set it)
        drawnModes = modes;
        const sync = (sel, prop, v) => {
          const el = $(root, sel);
          if (el[prop] !== v) el[prop] = v;
          if (el.tagName === "SELECT") selectTitle(el);
        };
        sync(".edge-color", "value", view.edgeColor);
        sync(".delta-mode", "value", view.deltaMode);
        sync(".grad-scale", "value", view.gradScale);
        sync(".grad-log", "checked", view.gradLog);
      }
      legends();
    },
    /** The layout drawn (network_layout.js), or null before the first: the walkthrough draws on it. */
    layout: () => layout,
    /** Geometry for tests and benchmarks (CSS px relative to the canvas). */
    /** Frames drawn since the page opened (cheap: for the frame loop's pacing). */
    drawn: () => frames,
    debug() {
      if (!layout) return null;
      const r = canvas.getBoundingClientRect();
      const edges = [];
      for (const gap of layout.gaps) {
        if (!gap.edges) continue;
        for (let e = 0; e < gap.edges.length / 4; e++) {
          const [x1, y1, x2, y2] = gap.edges.subarray(e * 4, e * 4 + 4);
          edges.push({ l: gap.l, i: Math.floor(e / gap.cols), j: e % gap.cols, x1, y1, x2, y2 });
        }
      }
      const neurons = layout.layers.flatMap((L) => (L.wide
        ? [{ l: L.l, wide: true, x: L.x, y0: L.y0, y1: L.y1, n: L.n, cellH: L.cellH }]
        : Array.from(L.ys, (y, j) => ({ l: L.l, j, x: L.x, y, size: layout.s }))));
      const off = layout.layers[0].off.map((o) => ({ name: o.name, x: layout.layers[0].x, y: o.y, size: layout.s }));
      const matrices = layout.gaps.filter((g) => g.matrix).map((g) => ({ l: g.l, x0: g.x0, y0: g.y0, x1: g.x1, y1: g.y1, rows: g.rows, cols: g.cols }));
      return { canvas: { left: r.left, top: r.top, width: cssW, height: cssH, dpr }, edges, neurons, off, matrices, frames,
        legend: { ...legend }, left: layout.left };
    },
    /**
     * The diagram's pixels (device px), RGBA row by row, once what the page shows is drawn: a Promise of an
     * Array (tests).
     */
    pixels: (x, y, width, height) => drawer.pixels(x, y, width, height),
    /** A canvas of the diagram's size on this thread, for the benchmarks: what a frame costs to draw. */
    benchContext() {
      const w = Math.round(cssW * dpr);
      const h = Math.round(cssH * dpr);
      if (!bench || bench.width !== w || bench.height !== h) bench = new OffscreenCanvas(w, h);
      const c = bench.getContext("2d");
      c.setTransform(dpr, 0, 0, dpr, 0, 0);
      return c;
    },
    /** Draw one full frame as a new snapshot is drawn, every colour recomputed (benchmark). */
    benchFrame() {
      const ctx = this.benchContext();
      const snap = shownSnapshot(state);
      const opts = { sizes: state.layerSizes, activations: state.activations, edgeColor: state.view.edgeColor,
        deltaMode: state.view.deltaMode, gradScale: state.view.gradScale, gradLog: state.view.gradLog, selection: null,
        hover: null, dpr, extent: state.grid ? state.grid.extent : null, gridSize: state.grid ? state.grid.size : 0,
        coords: column ? column.coords : false, catalog: state.catalog, runId: state.run ? state.run.id : null, reference: null };
      renderer.prepare(snap, opts, true);
      renderer.draw(ctx, layout, snap, opts);
      return ctx.getImageData(0, 0, 1, 1).data[3];
    },
    benchEmpty() {
      const ctx = this.benchContext();
      ctx.clearRect(0, 0, cssW, cssH);
      return ctx.getImageData(0, 0, 1, 1).data[3];
    },
    /** A fixed reference scene (the benchmark's yardstick): 1 000 thin lines in one path, 100 squares. */
    benchReference() {
      const ctx = this.benchContext();
      ctx.clearRect(0, 0, cssW, cssH);
      ctx.strokeStyle = "#0877bd";
      ctx.lineWidth = 1 / dpr;
      ctx.beginPath();
      for (let k = 0; k < 1000; k++) {
        ctx.moveTo(10, (k * 7) % cssH);
        ctx.lineTo(cssW - 10, (k * 13) % cssH);
      }
      ctx.stroke();
      ctx.fillStyle = "#f59322";
      for (let k = 0; k < 100; k++) ctx.fillRect((k * 37) % cssW, (k * 53) % cssH, 20, 20);
      return ctx.getImageData(0, 0, 1, 1).data[3];
    },
  };
}

/** Whether a snapshot's W tensors fit the layer sizes (a stale frame from another run does not). */
function snapMatches(snap, sizes) {
  for (let l = 1; l < sizes.length; l++) {
    const W = snap.tensors[`W${l}`];
    if (!W || W.shape[0] !== sizes[l - 1] || W.shape[1] !== sizes[l]) return false;
  }
  return true;
}
