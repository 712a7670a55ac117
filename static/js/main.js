// Wires the page: one store, the views (each with an idempotent update(state)), one frame loop that
// calls them at most once per animation frame, keyboard shortcuts, and the first run. Each frame first
// decodes the newest snapshot that arrived (if any) and lets the stream hand over what came since.

import { createActions } from "./actions.js";
import { api } from "./api.js";
import { readHash } from "./hash.js";
import { takeIncoming } from "./socket.js";
import { createStore, shownSnapshot } from "./state.js";
import { mountCharts } from "./views/charts.js";
import { mountControls } from "./views/controls.js";
import { mountData } from "./views/data.js";
import { mountInspector } from "./views/inspector.js";
import { mountLayers } from "./views/layers.js";
import { mountMessages } from "./views/messages.js";
import { mountNetwork } from "./views/network.js";
import { mountRuns } from "./views/runs.js";
import { mountTimeline } from "./views/timeline.js";
import { createWalkActions } from "./walkthrough_actions.js";
import { mountGradTools } from "./views/gradtools.js";
import { mountWalkthrough } from "./views/walkthrough.js";

const LABELS = {
  circle: "Circle", xor: "Exclusive or", gauss: "Gaussian", spiral: "Spiral", moons: "Moons",
  plane: "Plane", multi_gauss: "Multi-Gaussian", digits: "Digits 8×8",
};

const store = createStore();
let frame = 0;
let views = [];
// Main-thread time spent in each view's update (ms, calls, longest), for the benchmarks' attribution.
const viewTimes = Object.create(null);
const requestFrame = () => {
  if (!frame) frame = requestAnimationFrame(render);
};
function render() {
  frame = 0;
  takeIncoming(store);
  actions.frameDone();
  const s = store.state;
  for (const [name, view] of views) {
    const t0 = performance.now();
    view.update(s);
    const ms = performance.now() - t0;
    const a = viewTimes[name] || (viewTimes[name] = { ms: 0, calls: 0, longest: 0 });
    a.ms += ms;
    a.calls++;
    if (ms > a.longest) a.longest = ms;
  }
}
store.subscribe(requestFrame);

const actions = createActions(store, { requestFrame });
const byId = (id) => document.getElementById(id);
const network = mountNetwork(byId("network-panel"), actions);
const dataView = mountData(byId("data-panel"), actions);
const charts = mountCharts(byId("charts-panel"), actions);
// walkthrough and gradient check (walkthrough_actions.js, views/walkthrough.js, views/gradtools.js)
const walk = createWalkActions(store, actions);
const walkView = mountWalkthrough(byId("walkthrough"), { networkPanel: byId("network-panel"), button: byId("step-through") }, walk);
views = [
  ["controls", mountControls(document.body, actions)],
  ["layers", mountLayers(byId("layer-editor"), actions)],
  ["network", network],
  ["inspector", mountInspector(byId("inspector"), actions)],
  ["timeline", mountTimeline(byId("timeline"), actions)],
  ["data", dataView],
  ["charts", charts],
  ["runs", mountRuns(byId("runs-panel"), actions)],
  ["messages", mountMessages(byId("messages"), actions)],
  ["walkthrough", walkView],
  ["gradtools", mountGradTools(byId("grad-tools"), walk)],
];

// Follow-up work when the open run changes state (the runs list, the stored epochs), and a fresh list of
// stored epochs every few seconds while it trains, for the time-travel scrubber.
let seen = "";
let epochsAt = 0;
store.subscribe((s) => {
  const key = s.run ? `${s.run.id}:${s.run.state}` : "";
  if (key !== seen) {
    seen = key;
    if (s.run) {
      actions.refreshRuns();
      actions.refreshEpochs();
      epochsAt = performance.now();
    }
  } else if (s.run && s.run.state === "running" && performance.now() - epochsAt > 3000) {
    epochsAt = performance.now();
    actions.refreshEpochs();
  }
});

// Keyboard: space = play/pause, → = step an epoch (not while typing in a field).
document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  const typing = t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "SELECT", "TEXTAREA", "BUTTON"].includes(t.tagName));
  if (walk.handleKey(ev)) return; // the walkthrough's ← → and Escape while it is open
  if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
  if (ev.key === " " && !typing) {
    ev.preventDefault();
    actions.togglePlay();
  } else if (ev.key === "ArrowRight" && !typing) {
    ev.preventDefault();
    actions.step(ev.shiftKey ? "batch" : "epoch");
  } else if (ev.key === "Escape") {
    actions.select(null);
  }
});

// A read-only hook for the end-to-end tests and the render benchmark.
Object.defineProperty(window, "__bpv", {
  value: Object.freeze({
    network: () => network.debug(),
    shown: () => {
      const snap = shownSnapshot(store.state);
      return snap ? { epoch: snap.epoch, batch: snap.batch, probe_index: snap.probe_index } : null;
    },
    run: () => (store.state.run ? { ...store.state.run } : null),
    dataPoint: (k) => dataView.debugPoint(k),
    replaying: () => store.state.replaying,
    historyLength: () => (store.state.history ? store.state.history.length : 0),
    /** The epochs the page holds: their count, the first and last, and whether each is one after the other. */
    historyEpochs: () => {
      const h = store.state.history;
      const e = h ? h.column("epoch") : [];
      let consecutive = true;
      for (let k = 1; k < e.length; k++) if (e[k] !== e[k - 1] + 1) consecutive = false;
      return { length: e.length, first: e.length ? e[0] : null, last: e.length ? e[e.length - 1] : null, consecutive };
    },
    view: () => ({ ...store.state.view, following: store.state.following }),
    /** Sample the value of a tensor element of the shown snapshot. */
    value: (name, index) => {
      const snap = shownSnapshot(store.state);
      const t = snap && snap.tensors[name];
      return t ? t.data[index] : null;
    },
    /** One column of the history as a plain array (null where missing): "epoch", "train_cost", … */
    historyColumn: (name) => {
      const h = store.state.history;
      return h ? Array.from(h.column(name), (v) => (Number.isNaN(v) ? null : v)) : [];
    },
    counters: () => ({ snapshots: store.state.received, frames: network.debug() ? network.debug().frames : 0 }),
    /** Main-thread ms per view since the page opened (Plotly's own tasks under "charts (Plotly)"). */
    viewTimes: () => JSON.parse(JSON.stringify({ ...viewTimes, "charts (Plotly)": charts.stats() })),
    walk: () => walkView.debug(),
    benchFrame: () => network.benchFrame(),
    benchEmpty: () => network.benchEmpty(),
    benchReference: () => network.benchReference(),
  }),
});

window.addEventListener("hashchange", () => {
  const { config, run } = readHash();
  const s = store.state;
  if (run && (!s.run || s.run.id !== run)) actions.openRun(run);
  else if (JSON.stringify(config) !== JSON.stringify(s.config)) actions.setConfig(config);
});

async function start() {
  const { config, run } = readHash();
  store.set({ config });
  try {
    const { items } = await api.datasets();
    store.set({ datasets: items.map((d) => ({ ...d, label: LABELS[d.name] || (d.name.startsWith("csv:") ? d.description : d.name) })) });
  } catch (err) {
    actions.message("error", `could not list the datasets: ${err.message}`);
  }
  if (run) {
    try {
      await actions.openRun(run);
      if (store.state.run) return;
    } catch {
      /* reported; fall back to a fresh run */
    }
  }
  await actions.startFresh();
}

start();
