// The network diagram's drawing, in a worker, on the page's canvas handed over by transferControlToOffscreen
// (views/network.js): a frame of a net with hundreds of wide edges costs the software rasteriser 5–10 ms,
// and here that time is never a task of the page's main thread, so clicks, the scrubber and the curves are
// not held up by it.
//
// Page → worker: {type: "canvas", canvas} · {type: "size", width, height} (device pixels) ·
// {type: "draw", dpr, opts, layout?, theme?, catalog?, snap?} (what did not change since the last draw is
// left out; snap: null for none) · {type: "pixels", id, x, y, width, height} (device pixels, for tests).
// Worker → page: {type: "drawn", ms, legend, error} after each draw (ms includes the rasterisation;
// error: null, or why the draw failed) ·
// {type: "pixels", id, data}.

import { NetworkRenderer } from "./views/network_draw.js";

const renderer = new NetworkRenderer();
let canvas = null;
let ctx = null;
let layout = null;
let catalog = null;
let snap = null;

onmessage = (ev) => {
  const m = ev.data;
  if (m.type === "canvas") {
    canvas = m.canvas;
    ctx = canvas.getContext("2d");
  } else if (m.type === "size") {
    canvas.width = m.width;
    canvas.height = m.height;
  } else if (m.type === "draw") {
    const t0 = performance.now();
    if (m.layout) layout = m.layout;
    if (m.theme) renderer.theme = m.theme;
    if (m.catalog) catalog = m.catalog;
    if ("snap" in m) snap = m.snap;
    let error = null;
    try {
      ctx.setTransform(m.dpr, 0, 0, m.dpr, 0, 0);
      renderer.draw(ctx, layout, snap, { ...m.opts, catalog });
      ctx.getImageData(0, 0, 1, 1); // rasterise now, so that the cost measured is the whole cost
    } catch (err) {
      error = String(err && err.message ? err.message : err); // the page shows it; the next draw may do better
    }
    postMessage({ type: "drawn", ms: performance.now() - t0, legend: renderer.legend, error });
  } else if (m.type === "pixels") {
    const data = canvas ? ctx.getImageData(m.x, m.y, m.width, m.height).data : new Uint8ClampedArray(0);
    postMessage({ type: "pixels", id: m.id, data });
  }
};
