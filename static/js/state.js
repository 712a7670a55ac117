// The page's state: plain data that every view reads, and nothing else. No imports, no DOM.
//
// Playground keeps its state in one table of properties (src/state.ts); ours is one store. The socket and
// the actions write it with set()/touch(); every write bumps a revision number per key (rev[key]) so that
// a view's update(state) can tell cheaply whether what it draws has changed.

/**
 * Config keys that change a run without resetting it (Playground: only the learning rate), sent with PATCH.
 * The epoch limit too: raising it lets the same run go on.
 */
export const LIVE_KEYS = Object.freeze(["learning_rate", "speed", "epochs"]);

function initialState() {
  return {
    catalog: null, // GET /api/catalog (catalog.js); the page draws nothing before it arrives
    config: null, // the setup in the forms and the URL: RunConfig's fields (catalog.js defaultConfig)
    runName: "",
    datasets: [], // GET /api/datasets items
    previews: {}, // dataset name → a few of its points (GET /api/datasets/{name}), for the thumbnails
    run: null, // the open run (REST Run object, kept current by the stream)
    layerSizes: [], // n0 … nL
    activations: [], // σ of layers 1 … L
    grid: null, // {size, extent} for 2-D data, else null
    history: null, // History (history.js): the metrics points, in epoch order
    incoming: null, // the newest snapshot frame not decoded yet (ArrayBuffer); the frame loop decodes it
    received: 0, // snapshot frames received (benchmarks)
    live: null, // newest decoded snapshot from the stream
    scrub: null, // snapshot fetched for time travel
    following: true, // show the live snapshot (false: time travel)
    timeline: { epochs: [], epoch: -1, index: -1, loading: false }, // epoch: the run's newest when listed
    data: null, // GET /api/runs/{id}/data for the open run
    view: { edgeColor: "gradient", deltaMode: "probe", logScale: false, showTest: true, gradScale: "running", gradLog: false },
    selection: null, // {kind: "neuron", l, j} | {kind: "edge", l, i, j}
    scaleRef: null, // {runId, dW, delta, mean_abs_delta}: epoch 0's largest |value| per family (timetravel.js)
    theme: "light", // the theme in effect (light | dark): the canvases read its colours
    runs: { items: [], total: 0, complete: false }, // runs_list.js: the newest runs the server stores
    runsView: { query: "", page: 0 }, // the runs list's search and page
    overlays: {}, // run id → {name, points}
    messages: [], // {id, level: "error" | "info", text}
    health: null, // GET /healthz when it is not ok: {status: "degraded", reason}
    connection: "idle", // idle | connecting | open | closed
    busy: false, // a run is being created
    replaying: false, // the timeline is playing stored epochs back
  };
}

/**
 * A store: `state` is read by views; `set(patch)` replaces keys, `touch(key)` marks an in-place change
 * (history appends). `subscribe(fn)` is called after every change, at most once per call. `apply(patch)`
 * is set() without telling the subscribers: for the frame loop, which is about to draw anyway.
 */
export function createStore() {
  const state = initialState();
  const rev = Object.create(null);
  state.rev = rev;
  const listeners = new Set();
  const emit = () => {
    for (const fn of listeners) fn(state);
  };
  const apply = (patch) => {
    for (const key of Object.keys(patch)) {
      state[key] = patch[key];
      rev[key] = (rev[key] || 0) + 1;
    }
  };
  return {
    state,
    set(patch) {
      apply(patch);
      emit();
    },
    apply,
    touch(...keys) {
      for (const key of keys) rev[key] = (rev[key] || 0) + 1;
      emit();
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

/** The revision of a key (0 when never set). */
export function revOf(state, key) {
  return state.rev[key] || 0;
}

/** The snapshot the views draw: the scrubbed one while time-travelling, else the live one. */
export function shownSnapshot(state) {
  return (!state.following && state.scrub) || state.live;
}

/** A tensor of a decoded snapshot: {data: Float32Array, shape}, or null. */
export function tensor(snap, name) {
  return (snap && snap.tensors[name]) || null;
}

/** Whether the open run is training right now. */
export function isRunning(state) {
  return !!state.run && (state.run.state === "running" || state.run.state === "queued");
}

/** A run that has ended (it trains again only when continued: continuable()). */
export function isTerminal(runState) {
  return ["done", "stopped", "diverged", "failed", "interrupted"].includes(runState);
}

/** A run that ended and can go on with a new epoch limit (PATCH epochs, docs/protocol.md). */
export function continuable(runState) {
  return runState === "done" || runState === "stopped";
}

/** The epoch limit a finished run goes on to: the form's limit when it is further, else as many epochs again. */
export function nextLimit(s) {
  const want = s.config.epochs;
  const limit = want > s.run.epoch ? want : s.run.epoch + want;
  return Math.min(limit, s.catalog.limits.max_epochs);
}

/** The hidden-layer activation names, one per hidden layer, from a config. */
export function hiddenActivations(config) {
  const n = config.hidden_layers.length;
  if (Array.isArray(config.activation)) {
    const list = config.activation.slice(0, n);
    while (list.length < n) list.push(list[list.length - 1] || config.activation[0]);
    return list;
  }
  return new Array(n).fill(config.activation);
}

/** The config's activation in its shortest form: one name when every layer agrees (`fallback` for none). */
export function compactActivation(list, fallback) {
  if (list.length === 0) return fallback;
  return list.every((a) => a === list[0]) ? list[0] : list;
}

/** The dataset info of a name from GET /api/datasets (null for unknown or CSV without info). */
export function datasetInfo(state, name) {
  return state.datasets.find((d) => d.name === name) || null;
}

let nextMessageId = 1;

/** A new message list with `text` appended (the newest five are kept). */
export function withMessage(messages, level, text) {
  const msg = { id: nextMessageId++, level, text };
  return [...messages.filter((m) => m.text !== text), msg].slice(-5);
}
