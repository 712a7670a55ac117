// The data panel. 2-D data: the points (train filled, test outlined, coloured by label) over the output
// decision heatmap, as Playground; click a point to make it the probe. Images (digits): sample images with
// predictions and a confusion matrix. Regression: prediction vs target. Other classification: confusion.
//
// While a run streams, the heatmap follows new snapshots as its cost allows (Pacer, SHARE of the main
// thread); the predictions, confusion matrix and caption at most every PREDICTIONS_MS (numbers and
// frames changing faster cannot be read).

import { activationRange, threshold } from "../catalog.js";
import { CLASS_COLORS, VALUE_SCALE, classColor, lutIndex, mapToPixels, maxAbs } from "../colors.js";
import { fmt, fmtPct, setHidden, setText } from "../format.js";
import { Pacer } from "../pace.js";
import { shownSnapshot, tensor } from "../state.js";
import { drawConfusion, drawRegression, drawSamples, labelAt, predictedClasses, sizeCanvas } from "./predictions.js";

const HEAT_ALPHA = 160; // Playground's heatmap alpha (of 255)
const SHARE = 0.1; // of the main thread, at most, for following new snapshots
const PREDICTIONS_MS = 200;

function hexToRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/**
 * The output heatmap as an image: for several outputs class colours (argmax); for one, the value scale
 * centred on the decision threshold of a classifier (grey where it decides neither way) over the σ's range
 * when that is bounded, else over the largest distance from it; for regression centred on 0.
 */
function heatImage(cat, grid, outAct, task, prev) {
  const [k, G] = grid.shape;
  const c = prev && prev.width === G ? prev : new OffscreenCanvas(G, G);
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(G, G);
  const px = new Uint32Array(img.data.buffer);
  if (k === 1) {
    const centre = task === "regression" ? 0 : threshold(cat, outAct);
    const [lo, hi] = activationRange(cat, outAct);
    const data = centre === 0 ? grid.data : grid.data.map((v) => v - centre);
    const max = task !== "regression" && lo !== null && hi !== null ? Math.max(hi - centre, centre - lo) : Math.max(1e-9, maxAbs(data));
    mapToPixels(data, max, VALUE_SCALE, px, HEAT_ALPHA);
  } else {
    const rgb = CLASS_COLORS.map(hexToRgb);
    for (let p = 0; p < G * G; p++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (grid.data[j * G * G + p] > grid.data[best * G * G + p]) best = j;
      const [r, g, b] = rgb[best % rgb.length];
      px[p] = ((HEAT_ALPHA << 24) | (b << 16) | (g << 8) | r) >>> 0;
    }
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

/** The data points (train filled with a white rim, test with a dark rim) and the probe's ring, on a canvas. */
function drawDots(d, size, dpr, toX, toY, showTest, probe) {
  const c = new OffscreenCanvas(Math.round(size * dpr), Math.round(size * dpr));
  const ctx = c.getContext("2d");
  ctx.scale(dpr, dpr);
  const reg = d.task === "regression";
  const yMax = reg ? Math.max(1e-9, ...d.train.y.map(Math.abs)) : 1;
  const color = (y) => (reg ? VALUE_SCALE.css[lutIndex(y, yMax)] : classColor(Math.round(y), d.n_classes));
  const dot = (p, y, stroke) => {
    ctx.beginPath();
    ctx.arc(toX(p[0]), toY(p[1]), 3, 0, 2 * Math.PI);
    ctx.fillStyle = color(y);
    ctx.fill();
    ctx.strokeStyle = stroke;
    ctx.stroke();
  };
  ctx.lineWidth = 1;
  d.train.X.forEach((p, k) => dot(p, d.train.y[k], "#fff"));
  if (showTest) d.test.X.forEach((p, k) => dot(p, d.test.y[k], "#222"));
  const pp = d.train.X[probe];
  if (pp) {
    ctx.lineWidth = 2.5;
    ctx.strokeStyle = "#111";
    ctx.beginPath();
    ctx.arc(toX(pp[0]), toY(pp[1]), 8, 0, 2 * Math.PI);
    ctx.stroke();
  }
  return c;
}

export function mountData(root, actions) {
  const plane = root.querySelector("canvas.plane");
  const caption = root.querySelector(".data-caption");
  const samples = root.querySelector("canvas.samples");
  const confusion = root.querySelector("canvas.confusion");
  const regression = root.querySelector("canvas.regression");
  const showTest = root.querySelector(".show-test");
  // the whole class name under the pointer (the drawn ones are cut to their cell)
  confusion.addEventListener("mousemove", (ev) => {
    const r = confusion.getBoundingClientRect();
    const t = labelAt(confusion, ev.clientX - r.left, ev.clientY - r.top);
    if (confusion.title !== t) confusion.title = t;
  });
  showTest.addEventListener("change", () => actions.setView({ showTest: showTest.checked }));
  let drawnKey = "";
  let drawnSnap = -1;
  const pacer = new Pacer({ share: SHARE });
  const slow = new Pacer({ share: SHARE, minInterval: PREDICTIONS_MS });
  let heat = null;
  let geom = null; // {size, extent}
  let current = null;
  let width = 0;
  let dots = { key: "", canvas: null }; // the points, drawn once per data/size/probe and reused per frame
  new ResizeObserver(() => {
    width = Math.max(200, root.clientWidth - 24);
    actions.requestFrame();
  }).observe(root);

  plane.addEventListener("click", (ev) => {
    if (!geom || !current || !current.data) return;
    const r = plane.getBoundingClientRect();
    const px = ev.clientX - r.left;
    const py = ev.clientY - r.top;
    const { toX, toY } = geom;
    let best = -1;
    let bestD = 100; // within 10 px
    current.data.train.X.forEach((p, k) => {
      const d = (toX(p[0]) - px) ** 2 + (toY(p[1]) - py) ** 2;
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    });
    if (best >= 0) actions.setProbe(best);
  });

  function drawPlane(s, snap, width) {
    // at most 320 px, and less on a short screen, so the charts below stay in view
    const size = Math.min(width, 320, Math.max(220, Math.round(window.innerHeight * 0.28)));
    const ctx = sizeCanvas(plane, size, size);
    const [x0, x1, y0, y1] = s.grid.extent;
    const toX = (x) => ((x - x0) / (x1 - x0)) * size;
    const toY = (y) => ((y1 - y) / (y1 - y0)) * size;
    geom = { toX, toY };
    const L = s.layerSizes.length - 1;
    const grid = tensor(snap, `grid${L}`);
    if (grid) {
      heat = heatImage(s.catalog, grid, s.activations[L - 1], s.run.task, heat);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(heat, 0, 0, size, size);
    }
    const d = s.data;
    if (!d) return;
    const probe = snap ? snap.probe_index : s.run.config.probe_index;
    const dpr = window.devicePixelRatio || 1;
    const key = [s.rev.data, size, dpr, s.view.showTest, probe].join("|");
    if (dots.key !== key) dots = { key, canvas: drawDots(d, size, dpr, toX, toY, s.view.showTest, probe) };
    ctx.drawImage(dots.canvas, 0, 0, size, size);
    ctx.fillStyle = "rgba(0,0,0,0.55)";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.fillText(fmt(x0), 3, size - 4);
    ctx.textAlign = "right";
    ctx.fillText(`${fmt(x1)}  x₁ →`, size - 3, size - 4);
    ctx.textAlign = "left";
    ctx.fillText(`↑ x₂  ${fmt(y1)}`, 3, 11);
  }

  /** Draw the panel for a snapshot (2-D: the plane; else the predictions) and its caption. */
  function draw(s, snap, twoD) {
    const d = s.data;
    const images = !!d && !!d.image_shape;
    const outputs = tensor(snap, "test_outputs");
    const reg = s.run && s.run.task === "regression";
    setHidden(plane, !twoD);
    setHidden(root.querySelector(".show-test-label"), !twoD);
    if (twoD) drawPlane(s, snap, width);
    setHidden(samples, !(images && outputs));
    setHidden(confusion, !(d && outputs && !reg && !twoD));
    setHidden(regression, !(d && outputs && reg));
    const notes = [];
    if (!s.run) notes.push("No run yet.");
    else if (!d && s.run.kind === "external") notes.push("This run's data stays with the program that trains it: the page has what it streams.");
    else if (!d) notes.push("Loading the run's data…");
    if (d && outputs) {
      const outAct = s.activations[s.activations.length - 1];
      if (reg) {
        const rmse = drawRegression(regression, width, d.test.y, outputs);
        notes.push(`Prediction vs target on ${outputs.shape[0]} test examples; RMSE ${fmt(rmse)}.`);
      } else {
        const pred = predictedClasses(outputs, threshold(s.catalog, outAct));
        if (images) {
          const r = drawSamples(samples, width, d, pred);
          notes.push(`First ${r.shown} test images with the predicted class (${r.wrong} wrong, framed red).`);
        }
        if (!twoD) {
          const acc = drawConfusion(confusion, width, d.class_names, d.test.y, pred);
          notes.push(`Confusion matrix: accuracy ${fmtPct(acc)}.`);
        }
      }
    }
    if (twoD && d) notes.push(`${d.train.y.length} training points (white rim)${s.view.showTest ? `, ${d.test.y.length} test (dark rim)` : ""}; the ring marks the probe — click a point to probe it.`);
    setText(caption, notes.join(" "));
  }

  return {
    /** The page's test accuracy from the shown snapshot's outputs (its threshold or argmax), for tests. */
    debugAccuracy() {
      const snap = current && shownSnapshot(current);
      const outputs = tensor(snap, "test_outputs");
      if (!outputs || !current.data) return null;
      const act = current.activations[current.activations.length - 1];
      const pred = predictedClasses(outputs, threshold(current.catalog, act));
      let hit = 0;
      for (let r = 0; r < pred.length; r++) if (pred[r] === Math.round(current.data.test.y[r])) hit++;
      return { epoch: snap.epoch, accuracy: hit / pred.length, count: pred.length };
    },
    /** Where training point k is drawn, in page coordinates (tests). */
    debugPoint(k) {
      if (!geom || !current || !current.data || !current.data.train.X[k]) return null;
      const r = plane.getBoundingClientRect();
      const p = current.data.train.X[k];
      return { x: r.left + geom.toX(p[0]), y: r.top + geom.toY(p[1]) };
    },
    update(s) {
      current = s;
      const snap = shownSnapshot(s);
      if (!width) width = Math.max(200, root.clientWidth - 24);
      const key = [s.rev.data, s.rev.grid, s.view.showTest, width, s.run && s.run.id, s.run && s.run.config.probe_index].join("|");
      if (showTest.checked !== s.view.showTest) showTest.checked = s.view.showTest;
      const serial = snap ? snap.serial : -1;
      if (key === drawnKey && serial === drawnSnap) return;
      const twoD = !!s.grid && !!s.run;
      const paced = twoD ? pacer : slow;
      if (key === drawnKey && !paced.ready()) {
        paced.wake(actions.requestFrame);
        return;
      }
      drawnKey = key;
      drawnSnap = serial;
      paced.measure(() => draw(s, snap, twoD));
    },
  };

}
