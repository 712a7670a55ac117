// The edges of the diagram. Costs measured on this machine's software canvas decide the technique (see
// the page issue): one path per edge for a few dozen edges (exact colour and width); for hundreds, one path
// per (colour bucket, width class); for thousands, 1-device-pixel lines with one path per colour bucket.
// A line wider than a device pixel is drawn as a stack of 1-pixel lines (stackedLines), not a wide stroke.

import { lutIndex, shape } from "../colors.js";
import { tensor } from "../state.js";

const PER_EDGE_LIMIT = 64; // one path per edge up to here
const GROUPED_LIMIT = 1500; // grouped wide lines up to here, thin bucketed lines beyond
const BUCKETS = 16; // colour buckets per sign
const WIDTH_CLASSES = [1, 2.5, 5, 8]; // px, for |w| < 0.75, < 2, < 4, ≥ 4 (Playground: 1 + 1.8|w|)

/** Playground's edge width: |w| ∈ [0, 5] → 1 … 10 px. */
export function edgeWidth(w) {
  const a = Math.min(5, Math.abs(w));
  return 1 + (9 * a) / 5;
}

function widthClass(w) {
  const a = Math.abs(w);
  return a < 0.75 ? 0 : a < 2 ? 1 : a < 4 ? 2 : 3;
}

/**
 * A line `width` px wide as 1-device-pixel lines stacked half a device pixel apart across its minor axis
 * (rows for a line that runs more across than down, columns else), as many as keep the width measured square
 * to the line. Each is drawn by the rasteriser's hairline path; a wide antialiased stroke costs the worker's
 * software canvas several times as much (bench: a frame of the digits net 10-12 ms stroked, 5 ms stacked;
 * the 6 x 8 spiral net 12-18 ms, 8-10 ms). A whole pixel apart, the lines' soft edges showed as hatching;
 * half a pixel apart, they overlap into a solid line.
 */
function stackedLines(ctx, E, k, width, dpr) {
  const x1 = E[k];
  const y1 = E[k + 1];
  const x2 = E[k + 2];
  const y2 = E[k + 3];
  const dx = Math.abs(x2 - x1);
  const dy = Math.abs(y2 - y1);
  const across = dx >= dy; // stacked in rows, else in columns
  const major = across ? dx : dy;
  if (!major) return; // a point
  // as many rows (columns) as keep the width measured square to the line
  const n = Math.max(1, Math.round((2 * width * dpr * Math.hypot(dx, dy)) / major) - 1);
  for (let q = 0; q < n; q++) {
    const o = (q - (n - 1) / 2) / (2 * dpr);
    if (across) {
      ctx.moveTo(x1, y1 + o);
      ctx.lineTo(x2, y2 + o);
    } else {
      ctx.moveTo(x1 + o, y1);
      ctx.lineTo(x2 + o, y2);
    }
  }
}

/** Draw the edges of one gap (layer l−1 → l), coloured by prep.colorName (dW or W), width by |w|. */
export function drawEdges(ctx, gap, snap, prep, dpr) {
  const color = tensor(snap, `${prep.colorName}${gap.l}`);
  const W = tensor(snap, `W${gap.l}`);
  if (!color || !W) return;
  const E = gap.edges;
  const n = E.length / 4;
  const css = prep.scale.css;
  const max = prep.edgeMax;
  const cd = color.data;
  if (n <= PER_EDGE_LIMIT) {
    // a few dozen edges: one path each, exact colour and width
    ctx.lineWidth = 1 / dpr;
    for (let e = 0; e < n; e++) {
      ctx.strokeStyle = css[lutIndex(cd[e], max, prep.scale.curve)];
      ctx.beginPath();
      stackedLines(ctx, E, e * 4, edgeWidth(W.data[e]), dpr);
      ctx.stroke();
    }
    return;
  }
  // hundreds of edges: one path per (colour bucket, width class); thousands: 1-device-pixel lines,
  // one path per colour bucket. Weakest colours first, so strong gradients stay on top.
  const thin = n > GROUPED_LIMIT;
  const widths = thin ? [1 / dpr] : WIDTH_CLASSES;
  const groups = Array.from({ length: (2 * BUCKETS + 1) * widths.length }, () => []);
  const s = max > 0 ? 1 / max : 0;
  const curve = prep.scale.curve;
  for (let e = 0; e < n; e++) {
    const t = curve === "lin" ? cd[e] * s : shape(cd[e] * s, curve);
    let b = Math.round(t * BUCKETS);
    b = b < -BUCKETS ? -BUCKETS : b > BUCKETS ? BUCKETS : b || 0;
    const w = thin ? 0 : widthClass(W.data[e]);
    groups[(b + BUCKETS) * widths.length + w].push(e);
  }
  for (let m = 0; m <= BUCKETS; m++) {
    for (const b of m === 0 ? [0] : [-m, m]) {
      for (let w = 0; w < widths.length; w++) {
        const list = groups[(b + BUCKETS) * widths.length + w];
        if (!list.length) continue;
        ctx.strokeStyle = css[lutIndex(b / BUCKETS, 1)];
        ctx.globalAlpha = thin ? 0.35 + (0.65 * m) / BUCKETS : 1;
        ctx.beginPath();
        ctx.lineWidth = 1 / dpr;
        if (thin) {
          for (const e of list) {
            const k = e * 4;
            ctx.moveTo(E[k], E[k + 1]);
            ctx.lineTo(E[k + 2], E[k + 3]);
          }
        } else {
          for (const e of list) stackedLines(ctx, E, e * 4, widths[w], dpr);
        }
        ctx.stroke();
      }
    }
  }
  ctx.globalAlpha = 1;
}
