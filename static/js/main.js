// Wires the page: one store, the views (each with an idempotent update(state)), one frame loop that
// calls them at most once per animation frame, keyboard shortcuts, and the first run. Each frame first
// decodes the newest snapshot that arrived (if any) and lets the stream hand over what came since.

import { createActions } from "./actions.js";
import { api } from "./api.js";
import { indexCatalog } from "./catalog.js";
import { readHash } from "./hash.js";
import { SNAPSHOT_RATE, takeIncoming } from "./socket.js";
import { createStore, shownSnapshot } from "./state.js";
import { mountCharts } from "./views/charts.js";
import { mountControls } from "./views/controls.js";
import { mountData } from "./views/data.js";
import { mountInputs } from "./views/inputs.js";
import { mountInspector } from "./views/inspector.js";
import { mountLayers } from "./views/layers.js";
import { mountMessages } from "./views/messages.js";
import { mountNetwork } from "./views/network.js";
import { mountNotation } from "./views/notation.js";
import { mountRuns } from "./views/runs.js";
import { mountThumbs } from "./views/thumbs.js";
import { mountTimeline } from "./views/timeline.js";
import { watchTheme } from "./theme.js";
import { createWalkActions } from "./walkthrough_actions.js";
import { mountGradTools } from "./views/gradtools.js";
import { mountWalkthrough } from "./views/walkthrough.js";

const store = createStore();
let frame = 0;
let views = [];
// Main-thread time spent in each view's update (ms, calls, longest), for the benchmarks' attribution.
const viewTimes = Object.create(null);
const requestFrame = () => {
  if (!frame) frame = requestAnimationFrame(render);
};
// While the page follows a training run, a frame that brings only the stream's news (a snapshot, epochs of
// history) redraws the diagram, and the other views at most every READ_MS: numbers at a speed a person
// reads them, the diagram at the display's. Any other change (a click, a setting, a pause, the scrubber)
// updates every view in the same frame, and a timer brings them up to date when the stream goes quiet.
// Every view at every frame laid out, painted and committed the page ~50 times a second: this limit took the
// renderer from ~0.6 to ~0.4 of a core and the long tasks from 5 to 1 per 10 s (benchmarks/bench_watch.py).
const READ_MS = 66;
const STREAM_KEYS = new Set(["live", "history", "run", "incoming"]);
const EVERY_FRAME = new Set(["network"]);
const reading = { at: -Infinity, key: "", timer: 0 };
/** What the views show besides the stream's news: the revision of every other key, and the run's state. */
function nonStreamKey(s) {
  let key = `${s.run.id}:${s.run.state}`;
  for (const k in s.rev) if (!STREAM_KEYS.has(k)) key += `|${k}:${s.rev[k]}`;
  return key;
}
/** Whether this frame updates every view (else only EVERY_FRAME's). */
function readingFrame(s, now) {
  if (!(s.following && s.run && s.run.state === "running")) {
    reading.key = "";
    return true;
  }
  const key = nonStreamKey(s);
  if (key !== reading.key || now - reading.at >= READ_MS) {
    Object.assign(reading, { at: now, key });
    return true;
  }
  if (!reading.timer) {
    reading.timer = setTimeout(() => {
      reading.timer = 0;
      requestFrame();
    }, reading.at + READ_MS - now);
  }
  return false;
}

function render() {
  frame = 0;
  const s = store.state;
  if (!s.catalog) return; // nothing is drawn before the vocabulary arrives
  takeIncoming(store);
  actions.frameDone();
  const all = readingFrame(s, performance.now());
  for (const [name, view] of views) {
    if (!all && !EVERY_FRAME.has(name)) continue;
    const t0 = performance.now();
    view.update(s);
    const ms = performance.now() - t0;
    const a = viewTimes[name] || (viewTimes[name] = { ms: 0, calls: 0, longest: 0 });
    a.ms += ms;
    a.calls++;
    if (ms > a.longest) a.longest = ms;
  }
  pace(s);
}

// Snapshots no faster than the diagram draws them: every PACE_MS while a run streams, a page that received
// clearly more than it drew asks the server for about what it drew (docs/protocol.md, "frames"); one that
// keeps up lifts its limit again step by step. Each snapshot not sent is one the server need not build or
// send, and this page need not receive. Big nets' snapshots are also held to SNAPSHOT_BYTES a second: a
// 784-128-64-10 net's 0.9 MB snapshot costs the browser a copy per process it crosses and the diagram a
// colour lookup per weight, and its weight matrices (100 000 cells on 250 × 100 pixels) change little
// from one tenth of a second to the next, while that CPU is the training's on a small machine.
const PACE_MS = 2000;
const MIN_RATE = 10;
const MAX_RATE = SNAPSHOT_RATE; // what the diagram draws of a streaming run, at most (the stream opens with it)
const SNAPSHOT_BYTES = 6e6; // a second, at most (a few big snapshots, any number of small ones)
const MIN_BYTES_RATE = 4; // however big the net
const pacing = { at: 0, drawn: 0, received: 0, run: null, rate: MAX_RATE };
function pace(s) {
  const now = performance.now();
  if (now - pacing.at < PACE_MS) return;
  const drawn = network.drawn(); // (not debug(): that lays the page out and lists every edge)
  const received = s.received || 0;
  const runId = s.run ? s.run.id : null;
  const dt = (now - pacing.at) / 1000;
  const measured = pacing.at && runId && runId === pacing.run && received >= pacing.received && s.following
    && s.run.state === "running";
  const drew = (drawn - pacing.drawn) / dt;
  const got = (received - pacing.received) / dt;
  if (runId !== pacing.run) pacing.rate = MAX_RATE; // a new stream starts with this limit
  Object.assign(pacing, { at: now, drawn, received, run: runId });
  if (!measured) return;
  const bytes = s.live ? s.live.bytes : 0;
  const most = bytes ? Math.min(MAX_RATE, Math.max(MIN_BYTES_RATE, Math.floor(SNAPSHOT_BYTES / bytes))) : MAX_RATE;
  let rate = pacing.rate;
  if (got > drew * 1.25 + 2) rate = Math.max(MIN_RATE, Math.round(drew * 1.25 + 2));
  else if (rate < most) rate = Math.round(rate * 1.5);
  rate = Math.min(rate, most);
  if (rate !== pacing.rate) {
    pacing.rate = rate;
    actions.paceSnapshots(rate);
  }
}
store.subscribe(requestFrame);
watchTheme(store, document.getElementById("theme-toggle"));

// The top bar stays on screen (play is always in reach); what sticks under it needs its height. On a phone
// the top bar's settings fold away behind a button.
const topbar = document.querySelector(".topbar");
new ResizeObserver(() => document.documentElement.style.setProperty("--topbar-h", `${topbar.offsetHeight}px`)).observe(topbar);
// (buttons, not links: the URL's hash holds the setup)
for (const b of topbar.querySelectorAll(".jump [data-target]")) {
  b.addEventListener("click", () => document.getElementById(b.dataset.target).scrollIntoView({ block: "start" }));
}
const settingsToggle = topbar.querySelector(".settings-toggle");
settingsToggle.addEventListener("click", () => {
  const open = topbar.querySelector(".top-controls").classList.toggle("open");
  settingsToggle.setAttribute("aria-expanded", String(open));
});

const actions = createActions(store, { requestFrame });
const byId = (id) => document.getElementById(id);
const network = mountNetwork(byId("network-panel"), actions);
const dataView = mountData(byId("data-panel"), actions);
const charts = mountCharts(byId("charts-panel"), actions);
// walkthrough and gradient check (walkthrough_actions.js, views/walkthrough.js, views/gradtools.js)
const walk = createWalkActions(store, actions);
const walkView = mountWalkthrough(byId("walkthrough"),
  { networkPanel: byId("network-panel"), button: byId("step-through"), layoutOf: () => network.layout() }, walk);
views = [
  ["controls", mountControls(document.body, actions)],
  ["layers", mountLayers(byId("layer-editor"), actions)],
  ["inputs", mountInputs(byId("inputs"), actions)],
  ["thumbs", mountThumbs(document.querySelector(".thumbs"), actions)],
  ["notation", mountNotation(document.querySelector(".footer"))],
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
      actions.refreshEpochs(true); // (a pause: the newest stored epoch is where it paused)
      epochsAt = performance.now();
    }
  } else if (s.run && s.run.state === "running" && performance.now() - epochsAt > 3000) {
    epochsAt = performance.now();
    actions.refreshEpochs();
  }
});

// Keyboard: space = play/pause wherever the focus is (a button that was clicked keeps the focus, and space
// would press it again), except in a field that takes a space; → = step an epoch (not in a field).
const TAKES_SPACE = new Set(["text", "number", "search", "checkbox", "file", "email", "url", "password"]);
const takesSpace = (t) => t instanceof HTMLElement && (t.isContentEditable || t.tagName === "TEXTAREA"
  || t.tagName === "SELECT" || (t.tagName === "INPUT" && TAKES_SPACE.has(t.type)));
const inField = (t) => t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName));
document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  if (walk.handleKey(ev)) return; // the walkthrough's ← → and Escape while it is open
  if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
  if (ev.key === " " && !takesSpace(t)) {
    ev.preventDefault();
    if (!ev.repeat) actions.togglePlay();
  } else if (ev.key === "ArrowRight" && !inField(t)) {
    ev.preventDefault();
    actions.step(ev.shiftKey ? "batch" : "epoch");
  } else if (ev.key === "Escape") {
    actions.select(null);
  }
});
// a focused button is pressed by space on its way up: not that, space was play/pause
document.addEventListener("keyup", (ev) => {
  if (ev.key === " " && !takesSpace(ev.target)) ev.preventDefault();
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
    accuracy: () => dataView.debugAccuracy(),
    config: () => (store.state.config ? structuredClone(store.state.config) : null),
    runsShown: () => [...document.querySelectorAll(".runs-list .run-row")].map((li) => li.dataset.runId),
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
    selection: () => store.state.selection,
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
    counters: () => ({ snapshots: store.state.received, frames: network.drawn(),
      snapshotRate: pacing.rate, snapshotBytes: store.state.live ? store.state.live.bytes : 0 }),
    /** Main-thread ms per view since the page opened (Plotly's own tasks under "charts (Plotly)"). */
    liveCharts: () => charts.live(),
    viewTimes: () => JSON.parse(JSON.stringify({ ...viewTimes, "charts (Plotly)": charts.stats() })),
    walk: () => walkView.debug(),
    /** The diagram's pixels (device px): a Promise of RGBA values row by row (it is drawn by a worker). */
    networkPixels: (x, y, width, height) => network.pixels(x, y, width, height),
    benchFrame: () => network.benchFrame(),
    benchEmpty: () => network.benchEmpty(),
    benchReference: () => network.benchReference(),
  }),
});

window.addEventListener("hashchange", () => {
  const s = store.state;
  if (!s.catalog) return;
  const { config, run, errors } = readHash(s.catalog);
  for (const e of errors) actions.message("error", e);
  if (run && (!s.run || s.run.id !== run)) actions.openRun(run);
  else if (JSON.stringify(config) !== JSON.stringify(s.config)) actions.setConfig(config);
});

async function start() {
  let catalog;
  try {
    catalog = indexCatalog(await api.catalog());
  } catch (err) {
    actions.message("error", `could not read the server's catalog: ${err.message}`);
    const text = document.createElement("p");
    text.className = "fatal";
    text.textContent = `The page needs the server's catalog (GET /api/catalog): ${err.message}. Reload to try again.`;
    document.querySelector("main").prepend(text);
    return;
  }
  const { config, run, errors } = readHash(catalog);
  store.set({ catalog, config, datasets: catalog.datasets });
  for (const e of errors) actions.message("error", e);
  actions.watchHealth();
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
