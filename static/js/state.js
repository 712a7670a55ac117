// The page's state: plain data that every view reads, and nothing else. No imports, no DOM.
//
// Playground keeps its state in one table of properties (src/state.ts); ours is one store. The socket and
// the actions write it with set()/touch(); every write bumps a revision number per key (rev[key]) so that
// a view's update(state) can tell cheaply whether what it draws has changed.

/** TensorFlow Playground's defaults (ANCHORS.md); training as fast as it goes. */
export const DEFAULT_CONFIG = Object.freeze({
  dataset: "circle",
  noise: 0,
  train_fraction: 0.5,
  n_samples: null,
  hidden_layers: [4, 2],
  activation: "tanh", // one name, or one per hidden layer
  output_activation: null, // null: the server's auto choice
  cost: null,
  init: "uniform",
  optimizer: "sgd",
  momentum: 0.9,
  learning_rate: 0.03,
  batch_size: 10,
  regularization: null,
  regularization_rate: 0,
  seed: 0,
  epochs: 1000,
  target_cost: null,
  speed: null, // epochs per second; null = as fast as the server goes (the page draws the newest frame)
});

/** Config keys that change a run without resetting it (Playground: only the learning rate). */
export const LIVE_KEYS = Object.freeze(["learning_rate", "speed"]);

export const MAX_HIDDEN_LAYERS = 10;
export const MAX_WIDTH = 1024;
/** Layers wider than this are drawn as a strip, and their weights as a matrix (the server's grid limit). */
export const WIDE = 32;

function initialState() {
  return {
    config: { ...DEFAULT_CONFIG, hidden_layers: [...DEFAULT_CONFIG.hidden_layers] },
    runName: "",
    datasets: [], // GET /api/datasets items
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
    timeline: { epochs: [], index: -1, loading: false },
    data: null, // GET /api/runs/{id}/data for the open run
    view: { edgeColor: "gradient", deltaMode: "probe", logScale: false, showTest: true },
    selection: null, // {kind: "neuron", l, j} | {kind: "edge", l, i, j}
    runs: { items: [], total: 0 },
    overlays: {}, // run id → {name, points}
    messages: [], // {id, level: "error" | "info", text}
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

/** A run that can never train again. */
export function isTerminal(runState) {
  return ["done", "stopped", "diverged", "failed", "interrupted"].includes(runState);
}

/** The hidden-layer activation names, one per hidden layer, from a config. */
export function hiddenActivations(config) {
  const n = config.hidden_layers.length;
  if (Array.isArray(config.activation)) {
    const list = config.activation.slice(0, n);
    while (list.length < n) list.push(list[list.length - 1] || "tanh");
    return list;
  }
  return new Array(n).fill(config.activation);
}

/** The config's activation in its shortest form: one name when every layer agrees. */
export function compactActivation(list) {
  if (list.length === 0) return "tanh";
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
