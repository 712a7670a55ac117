// The run stream (docs/protocol.md): decodes hello / metrics / state / error messages and binary
// snapshots, and feeds the store. Views never import this module.
//
// The socket itself lives in a worker (stream_worker.js) that hands over at most one batch per animation
// frame. A snapshot costs nothing when it arrives: the newest frame waits in `state.incoming` and is decoded
// by takeIncoming() at the start of the next animation frame, so a server that sends more snapshots than
// the page draws never makes it decode one it will not show. Metrics are appended to the columnar history
// (every epoch is kept).

import { History } from "./history.js";
import { withMessage } from "./state.js";

// Snapshots a second the page asks for when it opens a stream (docs/protocol.md, "frames"): what the diagram
// draws of a streaming run (views/network.js, DIAGRAM_MS). main.js lowers it for what the page really draws.
export const SNAPSHOT_RATE = 30;

const decoder = new TextDecoder();
let serial = 0;

/** A compact tensor's values (docs/protocol.md): lo + q · (hi − lo) / 255. */
function expand(q, [lo, hi]) {
  const out = new Float32Array(q.length);
  const step = (hi - lo) / 255;
  for (let k = 0; k < q.length; k++) out[k] = lo + q[k] * step;
  return out;
}

/**
 * Decode a binary snapshot frame into Float32Array views over `buffer` (no copies, but for compact tensors):
 * [uint32 LE H][H bytes JSON header][padding to a multiple of 4][data]. A compact tensor (`u1` with a
 * `range`: the grids, which the page asks for compact) is expanded to float32.
 * Returns the header's scalars plus `tensors`: name → {data: Float32Array, shape}, and `serial`, a number
 * no other decoded snapshot has (views compare it to tell whether what they draw has changed).
 */
export function decodeSnapshot(buffer) {
  const view = new DataView(buffer);
  const H = view.getUint32(0, true);
  const header = JSON.parse(decoder.decode(new Uint8Array(buffer, 4, H)));
  const dataStart = 4 + H + ((4 - ((4 + H) % 4)) % 4);
  const tensors = Object.create(null);
  for (const spec of header.tensors) {
    const count = spec.shape.reduce((p, n) => p * n, 1);
    if (spec.dtype === "f4") {
      tensors[spec.name] = { data: new Float32Array(buffer, dataStart + spec.offset, count), shape: spec.shape };
    } else if (spec.dtype === "u1") {
      const q = new Uint8Array(buffer, dataStart + spec.offset, count);
      tensors[spec.name] = { data: spec.range ? expand(q, spec.range) : q, shape: spec.shape };
    }
  }
  const { tensors: _specs, type: _type, ...scalars } = header;
  return { ...scalars, tensors, bytes: buffer.byteLength, serial: ++serial };
}

/**
 * Decode the newest snapshot that arrived since the last frame into `state.live` (called by the frame loop,
 * before the views; the write does not ask for another frame).
 */
export function takeIncoming(store) {
  const s = store.state;
  const buffer = s.incoming;
  if (!buffer) return;
  s.incoming = null;
  let snap;
  try {
    snap = decodeSnapshot(buffer);
  } catch (err) {
    store.set({ messages: withMessage(s.messages, "error", `could not read a snapshot from the server: ${err.message}`) });
    return;
  }
  const patch = { live: snap };
  if (s.run && snap.epoch > s.run.epoch) patch.run = { ...s.run, epoch: snap.epoch };
  store.apply(patch);
}

// the grids compact (a quarter of the bytes: they are most of a 2-D net's snapshot, and drawn as colours)
const paceText = (rate) => JSON.stringify({ type: "frames", max_rate: rate, grids: "u1" });

/** The WebSocket URL of a run, on this page's own host; `since`: the last epoch the page has (or -1). */
function wsUrl(runId, since) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/runs/${encodeURIComponent(runId)}${since >= 0 ? `?since=${since}` : ""}`;
}

/**
 * Open the stream of one run and feed `store` from it. The WebSocket lives in a worker (stream_worker.js),
 * which reconnects (1 s, 2 s, … 10 s) when the connection drops, except for a policy close (1008: unknown
 * run) or after close(), and posts what arrived as one batch at a time; frameDone() (called by the frame
 * loop) asks for the next. `since` (an epoch): the page holds the run's history up to it already, and the
 * hello's history (the epochs after it) is added to it. Returns {close(), send(obj), pace(rate), frameDone()}.
 */
export function connectRun(store, runId, { since = -1 } = {}) {
  const worker = new Worker(new URL("./stream_worker.js", import.meta.url), { type: "module" });
  let closed = false;
  let unacknowledged = false;

  const message = (level, text) => store.set({ messages: withMessage(store.state.messages, level, text) });
  const sameRun = () => store.state.run && store.state.run.id === runId;

  function onText(msg, patch) {
    const s = store.state;
    switch (msg.type) {
      case "state": {
        const run = patch.run || s.run;
        // stateAt: when the stream last said the state, so that an older REST answer cannot undo it
        patch.run = { ...run, state: msg.state, reason: msg.reason || "", epoch: Math.max(run.epoch, msg.epoch ?? 0), stateAt: performance.now() };
        if (msg.state === "diverged" || msg.state === "failed") patch.messages = withMessage(patch.messages || s.messages, "error", msg.reason || `the run ${msg.state}`);
        break;
      }
      case "error":
        patch.messages = withMessage(patch.messages || s.messages, "error", msg.message || "the server could not act on a message");
        break;
      default:
        break;
    }
  }

  function onBatch(m) {
    unacknowledged = true;
    const s = store.state;
    s.received = m.received;
    if (!sameRun() && !m.hello) return;
    const patch = {};
    if (m.hello) {
      Object.assign(patch, { run: m.hello.run, layerSizes: m.hello.layer_sizes, activations: m.hello.activations,
        grid: m.hello.grid });
      if (since >= 0 && s.history) {
        s.history.append(m.helloHistory); // what came after `since`
        patch.history = s.history;
      } else {
        patch.history = History.fromMessage(m.helloHistory);
      }
    }
    const history = patch.history || s.history || (patch.history = new History());
    if (m.history && history.append(m.history)) {
      const newest = history.lastEpoch();
      const run = patch.run || s.run;
      if (run && newest > run.epoch) patch.run = { ...run, epoch: newest };
      if (!("history" in patch)) store.apply({ history }); // appended in place: a new revision
    }
    for (const msg of m.texts) onText(msg, patch);
    if (m.snapshot) patch.incoming = m.snapshot;
    store.set(patch);
  }

  worker.onmessage = (ev) => {
    if (closed) return;
    const m = ev.data;
    if (m.type === "batch") {
      onBatch(m);
    } else if (m.type === "connection") {
      store.set({ connection: m.state });
      if (m.state === "closed" && m.code === 1008) message("error", `the stream was closed: ${m.reason || "policy violation"}`);
    }
  };
  worker.onerror = (ev) => message("error", `the stream failed: ${ev.message || "the worker stopped"}`);
  worker.postMessage({ type: "pace", text: paceText(SNAPSHOT_RATE) }); // sent on every (re)connection
  worker.postMessage({ type: "open", url: wsUrl(runId, since) });

  return {
    close() {
      closed = true;
      worker.postMessage({ type: "close" });
    },
    send(obj) {
      worker.postMessage({ type: "send", text: JSON.stringify(obj) });
    },
    /** Ask the server for at most `rate` snapshots a second on this stream (what the page can draw). */
    pace(rate) {
      if (closed) return;
      worker.postMessage({ type: "pace", text: paceText(rate) });
    },
    frameDone() {
      if (!unacknowledged || closed) return;
      unacknowledged = false;
      worker.postMessage({ type: "ack" });
    },
  };
}
