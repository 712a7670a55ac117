// The run stream (docs/protocol.md): decodes hello / metrics / state / error messages and binary
// snapshots, and feeds the store. Views never import this module.

import { withMessage } from "./state.js";

const decoder = new TextDecoder();

/**
 * Decode a binary snapshot frame into Float32Array views over `buffer` (no copies):
 * [uint32 LE H][H bytes JSON header][padding to a multiple of 4][data].
 * Returns the header's scalars plus `tensors`: name → {data: Float32Array, shape}.
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
      tensors[spec.name] = { data: new Uint8Array(buffer, dataStart + spec.offset, count), shape: spec.shape };
    }
  }
  const { tensors: _specs, type: _type, ...scalars } = header;
  return { ...scalars, tensors, bytes: buffer.byteLength };
}

/** The WebSocket URL of a run, on this page's own host. */
function wsUrl(runId) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/runs/${encodeURIComponent(runId)}`;
}

/**
 * Open the stream of one run and feed `store` from it. Reconnects (1 s, 2 s, … 10 s) when the
 * connection drops, except for a policy close (1008: unknown run) or after close().
 * Returns {close(), send(obj)}.
 */
export function connectRun(store, runId, { onSnapshot } = {}) {
  let ws = null;
  let closed = false;
  let retry = 0;
  let timer = 0;

  const message = (level, text) => store.set({ messages: withMessage(store.state.messages, level, text) });

  const sameRun = () => store.state.run && store.state.run.id === runId;

  function onText(msg) {
    const s = store.state;
    switch (msg.type) {
      case "hello":
        store.set({
          run: msg.run,
          layerSizes: msg.layer_sizes,
          activations: msg.activations,
          grid: msg.grid,
          history: msg.history || [],
        });
        break;
      case "metrics": {
        if (!sameRun()) return;
        const last = s.history.length ? s.history[s.history.length - 1].epoch : -Infinity;
        for (const p of msg.points) if (p.epoch > last) s.history.push(p);
        const newest = msg.points[msg.points.length - 1];
        if (newest && s.run && newest.epoch > s.run.epoch) s.run = { ...s.run, epoch: newest.epoch };
        store.touch("history", "run");
        break;
      }
      case "state":
        if (!sameRun()) return;
        // stateAt: when the stream last said the state, so that an older REST answer cannot undo it
        store.set({ run: { ...s.run, state: msg.state, reason: msg.reason || "", epoch: Math.max(s.run.epoch, msg.epoch ?? 0), stateAt: performance.now() } });
        if (msg.state === "diverged" || msg.state === "failed") message("error", msg.reason || `the run ${msg.state}`);
        break;
      case "error":
        message("error", msg.message || "the server could not act on a message");
        break;
      default:
        break;
    }
  }

  function onBinary(buffer) {
    if (!sameRun()) return;
    let snap;
    try {
      snap = decodeSnapshot(buffer);
    } catch (err) {
      message("error", `could not read a snapshot from the server: ${err.message}`);
      return;
    }
    const s = store.state;
    const patch = { live: snap };
    if (s.run && snap.epoch > s.run.epoch) patch.run = { ...s.run, epoch: snap.epoch };
    store.set(patch);
    if (onSnapshot) onSnapshot(snap);
  }

  function open() {
    store.set({ connection: "connecting" });
    ws = new WebSocket(wsUrl(runId));
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      retry = 0;
      store.set({ connection: "open" });
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          return;
        }
        onText(msg);
      } else {
        onBinary(ev.data);
      }
    };
    ws.onerror = () => {}; // the close event that follows says what happened
    ws.onclose = (ev) => {
      ws = null;
      if (closed) return;
      store.set({ connection: "closed" });
      if (ev.code === 1008) {
        message("error", `the stream was closed: ${ev.reason || "policy violation"}`);
        return;
      }
      retry = Math.min(retry + 1, 10);
      timer = setTimeout(open, retry * 1000);
    };
  }

  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (ws) ws.close(1000);
      ws = null;
    },
    send(obj) {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
    },
  };
}
