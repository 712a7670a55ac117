// Drawing helpers for the data panel's non-planar views: sample images with predictions (digits), the
// confusion matrix, and prediction vs target for regression. All read test_outputs (aᴸ for the first
// m ≤ 1 000 test examples) from the shown snapshot and the run's own test data.

import { fmt } from "../format.js";
import { fitText } from "./network_captions.js";

/**
 * Predicted classes from aᴸ (m, n_L): argmax, or for one output neuron class 1 above `thr` (the output
 * activation's decision threshold from the catalog, the same the server's accuracy uses).
 */
export function predictedClasses(outputs, thr) {
  const [m, k] = outputs.shape;
  const d = outputs.data;
  const pred = new Int32Array(m);
  for (let r = 0; r < m; r++) {
    if (k === 1) {
      pred[r] = d[r] > thr ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (d[r * k + c] > d[r * k + best]) best = c;
    pred[r] = best;
  }
  return pred;
}

/** Size a canvas for HiDPI and return its 2-D context with the CSS-pixel transform. */
export function sizeCanvas(canvas, w, h) {
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return ctx;
}

const sampleImages = new WeakMap(); // data.test.X → the first test images as canvases (drawn once)

/** Test image k as a grey canvas (ink dark on white), cols × rows. */
function sampleImage(data, k) {
  let list = sampleImages.get(data.test.X);
  if (!list) sampleImages.set(data.test.X, (list = []));
  if (!list[k]) {
    const [rows, cols] = data.image_shape;
    const img = new ImageData(cols, rows);
    const px = new Uint32Array(img.data.buffer);
    const X = data.test.X[k];
    for (let p = 0; p < rows * cols; p++) {
      const v = 255 - Math.round(Math.max(0, Math.min(1, X[p])) * 255);
      px[p] = (0xff000000 | (v << 16) | (v << 8) | v) >>> 0;
    }
    const c = new OffscreenCanvas(cols, rows);
    c.getContext("2d").putImageData(img, 0, 0);
    list[k] = c;
  }
  return list[k];
}

/** A grid of the first test images with the predicted digit; wrong ones framed in red. */
export function drawSamples(canvas, width, data, pred, count = 40) {
  const n = Math.min(count, pred.length, data.test.X.length);
  const cell = 44;
  const per = Math.max(1, Math.floor(width / cell));
  const height = Math.ceil(n / per) * cell;
  const ctx = sizeCanvas(canvas, width, Math.max(height, 10));
  ctx.imageSmoothingEnabled = false;
  ctx.font = "bold 11px system-ui, sans-serif";
  ctx.textAlign = "right";
  let wrong = 0;
  for (let k = 0; k < n; k++) {
    const x = (k % per) * cell;
    const y = Math.floor(k / per) * cell;
    ctx.drawImage(sampleImage(data, k), x + 2, y + 2, 32, 32);
    const ok = pred[k] === Math.round(data.test.y[k]);
    if (!ok) wrong++;
    ctx.strokeStyle = ok ? "#cfd3d6" : "#d62728";
    ctx.lineWidth = ok ? 1 : 2;
    ctx.strokeRect(x + 1.5, y + 1.5, 33, 33);
    ctx.fillStyle = ok ? "#2a7d2a" : "#d62728";
    ctx.fillText(fitText(ctx, String(data.class_names[pred[k]] ?? pred[k]), cell - 4), x + cell - 2, y + 40);
  }
  return { shown: n, wrong };
}

/**
 * The confusion matrix (rows = true class, columns = predicted) with counts; class names cut with "…" to
 * their cell, the whole name in the canvas's tooltip under the pointer (labelAt). Returns the accuracy.
 */
export function drawConfusion(canvas, width, classNames, yTrue, pred) {
  const k = classNames.length;
  const m = Math.min(yTrue.length, pred.length);
  const counts = new Int32Array(k * k);
  let hit = 0;
  for (let r = 0; r < m; r++) {
    const t = Math.round(yTrue[r]);
    if (t < 0 || t >= k || pred[r] >= k) continue;
    counts[t * k + pred[r]]++;
    if (t === pred[r]) hit++;
  }
  const ctx0 = canvas.getContext("2d");
  ctx0.font = "11px system-ui, sans-serif";
  // room for the row names at the left: the longest name, up to a third of the width
  const pad = Math.round(Math.min(width / 3, Math.max(30, ...classNames.map((n) => ctx0.measureText(String(n)).width + 8))));
  const size = Math.min(width, 320 + pad - 30);
  const cell = (size - pad) / k;
  const ctx = sizeCanvas(canvas, size, size - pad + 44);
  const top = 44;
  canvas.labels = { pad, top, cell, k, names: classNames.map(String) };
  let max = 1;
  for (const c of counts) max = Math.max(max, c);
  ctx.font = `${Math.max(8, Math.min(12, cell * 0.45))}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let t = 0; t < k; t++) {
    for (let p = 0; p < k; p++) {
      const c = counts[t * k + p];
      const f = c / max;
      ctx.fillStyle = t === p ? `rgba(8,119,189,${0.08 + 0.92 * f})` : c ? `rgba(214,39,40,${0.15 + 0.85 * f})` : "rgba(128,128,128,0.12)";
      ctx.fillRect(pad + p * cell + 0.5, top + t * cell + 0.5, cell - 1, cell - 1);
      if (c && cell >= 14) {
        ctx.fillStyle = f > 0.5 ? "#fff" : "#222";
        ctx.fillText(String(c), pad + (p + 0.5) * cell, top + (t + 0.5) * cell);
      }
    }
  }
  ctx.fillStyle = getComputedStyle(canvas).color || "#555";
  ctx.font = "11px system-ui, sans-serif";
  for (let t = 0; t < k; t++) {
    const name = String(classNames[t]);
    ctx.textAlign = "right";
    ctx.fillText(fitText(ctx, name, pad - 6), pad - 4, top + (t + 0.5) * cell);
    // column names upright above their column, cut to the column's width
    ctx.textAlign = "center";
    ctx.fillText(fitText(ctx, name, cell - 2), pad + (t + 0.5) * cell, top - 8);
  }
  ctx.textAlign = "left";
  ctx.fillText("true ↓  predicted →", 2, 10);
  ctx.fillText(`${m} test examples`, pad, top + k * cell + 12);
  return m ? hit / m : null;
}

/** The class name under a point of a drawn confusion matrix (its row or column label, or cell), or "". */
export function labelAt(canvas, x, y) {
  const g = canvas.labels;
  if (!g) return "";
  const col = Math.floor((x - g.pad) / g.cell);
  const row = Math.floor((y - g.top) / g.cell);
  if (y < g.top && col >= 0 && col < g.k) return `predicted: ${g.names[col]}`;
  if (x < g.pad && row >= 0 && row < g.k) return `true: ${g.names[row]}`;
  if (row >= 0 && row < g.k && col >= 0 && col < g.k) return `true: ${g.names[row]} · predicted: ${g.names[col]}`;
  return "";
}

/** Prediction vs target for regression (test examples), with the diagonal of a perfect fit. */
export function drawRegression(canvas, width, yTrue, outputs) {
  const m = Math.min(yTrue.length, outputs.shape[0]);
  const size = Math.min(width, 300);
  const ctx = sizeCanvas(canvas, size, size);
  let lo = Infinity;
  let hi = -Infinity;
  for (let r = 0; r < m; r++) {
    for (const v of [yTrue[r], outputs.data[r]]) {
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  if (!(hi > lo)) {
    lo -= 1;
    hi += 1;
  }
  const pad = 34;
  const span = size - pad - 8;
  const X = (v) => pad + ((v - lo) / (hi - lo)) * span;
  const Y = (v) => 8 + span - ((v - lo) / (hi - lo)) * span;
  ctx.strokeStyle = "#ccc";
  ctx.strokeRect(pad + 0.5, 8.5, span, span);
  ctx.beginPath();
  ctx.moveTo(X(lo), Y(lo));
  ctx.lineTo(X(hi), Y(hi));
  ctx.strokeStyle = "#999";
  ctx.setLineDash([4, 3]);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = "rgba(8,119,189,0.55)";
  let se = 0;
  for (let r = 0; r < m; r++) {
    const p = outputs.data[r];
    se += (p - yTrue[r]) ** 2;
    ctx.beginPath();
    ctx.arc(X(yTrue[r]), Y(p), 2.2, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.fillStyle = "#555";
  ctx.font = "10px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.fillText(`target (${fmt(lo)} … ${fmt(hi)})`, pad + span / 2, size - 2);
  ctx.save();
  ctx.translate(10, 8 + span / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText("prediction", 0, 0);
  ctx.restore();
  return m ? Math.sqrt(se / m) : null;
}
