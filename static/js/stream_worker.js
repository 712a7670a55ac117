// The run stream's WebSocket (docs/protocol.md), in a worker so that the page's main thread never receives
// it: at full speed a run sends a metrics message per few epochs and up to hundreds of snapshot frames a
// second (0.9 MB each for a 784-128-64-10 net), and receiving one costs the receiving thread a copy and an
// event. Here, metrics are parsed into columns, only the newest snapshot frame is kept, and the page gets
// at most one batch per animation frame: a batch is posted when the page has acknowledged the last one.
//
// Page → worker: {type: "open", url} · {type: "send", text} · {type: "pace", text} (sent now and again on
// every reconnection: the snapshots a second the page can draw) · {type: "ack"} · {type: "close"}.
// Worker → page: {type: "batch", received, texts, hello?, helloHistory?, history?, snapshot?} ·
// {type: "connection", state, code, reason}. `hello` comes without its history: that, and the metrics since,
// travel as History.toMessage() columns; texts are the other JSON messages in order; snapshot an ArrayBuffer.

import { History } from "./history.js";

let url = "";
let ws = null;
let closed = false;
let retry = 0;
let timer = 0;
let inFlight = false;
let received = 0; // snapshot frames received since the worker started
let pending = empty();
let pace = ""; // the page's "frames" message, for every new connection

function empty() {
  return { hello: null, history: null, texts: [], snapshot: null };
}

function flush() {
  const p = pending;
  if (inFlight || (!p.hello && !p.history && !p.texts.length && !p.snapshot)) return;
  pending = empty();
  inFlight = true;
  const batch = { type: "batch", received, texts: p.texts };
  const transfer = [];
  if (p.hello) {
    const { history, ...hello } = p.hello;
    const [h, buffers] = History.from(history || []).toMessage();
    batch.hello = hello;
    batch.helloHistory = h;
    transfer.push(...buffers);
  }
  if (p.history) {
    const [h, buffers] = p.history.toMessage();
    batch.history = h;
    transfer.push(...buffers);
  }
  if (p.snapshot) {
    batch.snapshot = p.snapshot;
    transfer.push(p.snapshot);
  }
  postMessage(batch, transfer);
}

function onText(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return;
  }
  if (msg.type === "hello") {
    // a (re)connection: what came before it is superseded by its history and the snapshot that follows
    pending = empty();
    pending.hello = msg;
  } else if (msg.type === "metrics") {
    if (!pending.history) pending.history = new History();
    for (const p of msg.points) pending.history.push(p);
  } else {
    pending.texts.push(msg);
  }
  flush();
}

function status(state, code = 0, reason = "") {
  postMessage({ type: "connection", state, code, reason });
}

function open() {
  status("connecting");
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    retry = 0;
    if (pace) ws.send(pace);
    status("open");
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") {
      onText(ev.data);
    } else {
      received++;
      pending.snapshot = ev.data; // the newest wins
      flush();
    }
  };
  ws.onerror = () => {}; // the close event that follows says what happened
  ws.onclose = (ev) => {
    ws = null;
    if (closed) return;
    status("closed", ev.code, ev.reason);
    if (ev.code === 1008) return; // unknown run, origin, token, too slow: retrying will not help
    retry = Math.min(retry + 1, 10);
    timer = setTimeout(open, retry * 1000);
  };
}

onmessage = (ev) => {
  const m = ev.data;
  if (m.type === "open") {
    url = m.url;
    open();
  } else if (m.type === "send") {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(m.text);
  } else if (m.type === "pace") {
    pace = m.text;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(pace);
  } else if (m.type === "ack") {
    inFlight = false;
    flush();
  } else if (m.type === "close") {
    closed = true;
    clearTimeout(timer);
    if (ws) ws.close(1000);
    close();
  }
};
