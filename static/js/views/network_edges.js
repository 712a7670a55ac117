// The edges of the diagram. Costs measured on this machine's software canvas decide the technique (see
// the page issue): one stroke per edge for a few dozen edges; for hundreds, one path per (colour bucket,
// width class); for thousands, 1-device-pixel lines with one path per colour bucket.

import { lutIndex, shape } from "../colors.js";
import { tensor } from "../state.js";

const PER_EDGE_LIMIT = 64; // one stroke per edge up to here
const GROUPED_LIMIT = 1500; // grouped wide strokes up to here, thin bucketed lines beyond
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
    // a few dozen edges: one stroke each, exact colour and width
    for (let e = 0; e < n; e++) {
      const k = e * 4;
      ctx.strokeStyle = css[lutIndex(cd[e], max, prep.scale.curve)];
      ctx.lineWidth = edgeWidth(W.data[e]);
      ctx.beginPath();
      ctx.moveTo(E[k], E[k + 1]);
      ctx.lineTo(E[k + 2], E[k + 3]);
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
        ctx.lineWidth = widths[w];
        ctx.globalAlpha = thin ? 0.35 + (0.65 * m) / BUCKETS : 1;
        ctx.beginPath();
        for (const e of list) {
          const k = e * 4;
          ctx.moveTo(E[k], E[k + 1]);
          ctx.lineTo(E[k + 2], E[k + 3]);
        }
        ctx.stroke();
      }
    }
  }
  ctx.globalAlpha = 1;
}
