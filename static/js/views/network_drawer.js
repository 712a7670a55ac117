// The diagram's drawing worker (network_worker.js) as the view sees it: the canvas is handed over, frames
// are drawn one at a time, what the worker holds already (layout, theme, catalog, snapshot) is not posted
// again, and pixels are read back once what the page shows has been drawn.
//
// onDrawn({ms, legend, t0}) after each frame (t0: performance.now() when it was posted); requestFrame() when
// the view should look again (a draw it asked for while another was in progress, a pixel read).

export function createDrawer(canvas, { onDrawn, requestFrame }) {
  const worker = new Worker(new URL("../network_worker.js", import.meta.url), { type: "module" });
  const offscreen = canvas.transferControlToOffscreen();
  worker.postMessage({ type: "canvas", canvas: offscreen }, [offscreen]);
  const sent = { layout: null, theme: null, catalog: null, serial: NaN };
  let t0 = NaN; // when the draw in progress was posted; NaN when none is
  let wanted = false; // another draw was asked for while one was in progress
  let drawError = "";
  const pixelReads = new Map();
  let pixelId = 0;
  let idleWaiters = []; // called once what the page shows has been drawn

  const drawing = () => !Number.isNaN(t0);
  function idle() {
    if (drawing() || wanted || !idleWaiters.length) return;
    const waiting = idleWaiters;
    idleWaiters = [];
    for (const fn of waiting) fn();
  }

  worker.onmessage = (ev) => {
    const m = ev.data;
    if (m.type === "pixels") {
      const resolve = pixelReads.get(m.id);
      pixelReads.delete(m.id);
      if (resolve) resolve(Array.from(m.data));
      return;
    }
    if (m.type !== "drawn") return;
    const started = drawing() ? t0 : performance.now();
    t0 = NaN;
    if ((m.error || "") !== drawError) {
      drawError = m.error || "";
      if (drawError) console.error(`the network diagram could not be drawn: ${drawError}`);
    }
    onDrawn({ ms: m.ms, legend: m.legend, t0: started });
    if (wanted) {
      wanted = false;
      requestFrame();
    } else {
      idle();
    }
  };

  return {
    /** The canvas's size in device pixels. */
    size(width, height) {
      worker.postMessage({ type: "size", width, height });
    },
    /** Whether a draw is in progress; if so, requestFrame() is called when it is done. */
    busy() {
      if (drawing()) wanted = true;
      return drawing();
    },
    /** The view has nothing new to draw: pixel reads waiting for that are answered. */
    settled: idle,
    /** Draw one frame: opts as NetworkRenderer.draw's; snap with its `serial`, or null. */
    draw({ dpr, layout, theme, snap, opts }) {
      const { catalog, ...rest } = opts;
      const msg = { type: "draw", dpr, opts: rest };
      if (layout !== sent.layout) msg.layout = sent.layout = layout;
      if (theme !== sent.theme) msg.theme = sent.theme = theme;
      if (catalog !== sent.catalog) msg.catalog = sent.catalog = catalog;
      const serial = snap ? snap.serial : -1;
      if (serial !== sent.serial) {
        msg.snap = snap; // a copy of its buffer: the page keeps the snapshot for its other views
        sent.serial = serial;
      }
      try {
        worker.postMessage(msg);
      } catch (err) { // a value that cannot be copied to the worker: post everything again next time
        Object.assign(sent, { layout: null, theme: null, catalog: null, serial: NaN });
        console.error(`the network diagram could not be drawn: ${err.message}`);
        return;
      }
      t0 = performance.now();
    },
    /** The drawn pixels (device px), RGBA row by row, once what the page shows is drawn: a Promise of an Array. */
    pixels(x, y, width, height) {
      const id = ++pixelId;
      return new Promise((resolve) => {
        pixelReads.set(id, resolve);
        idleWaiters.push(() => worker.postMessage({ type: "pixels", id, x, y, width, height }));
        requestFrame(); // a frame that finds nothing to draw is idle at its end
      });
    },
  };
}
