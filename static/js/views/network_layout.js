// Geometry of the network diagram, in CSS pixels: where each layer, neuron, edge and weight matrix goes.
// Pure: no DOM. Layers wider than `wide` (the server's grid limit) are strips of cells, and so is an input
// layer whose neurons would be too small to read; a weight matrix touching a strip is drawn as an image
// (rows = source neuron i, columns = target neuron j, the same row-major order as Wˡ). The input column may
// hold inputs the network does not use (`off`: Playground's features not chosen), drawn dimmed.

const MARGIN = { left: 34, right: 28, top: 26, bottom: 22 };
const STRIP = 16; // activation strip width of a wide layer (a δ strip of 6 px sits beside it)
const DELTA_STRIP = 6;
const MIN_INPUT = 12; // px: input neurons smaller than this collapse into a strip with a label per row

/**
 * @param {number[]} sizes n0 … nL
 * @param {number} width CSS px
 * @param {number} height CSS px
 * @param {object} opts {wide: widest layer drawn neuron by neuron, left: px for the input labels,
 *   inputs: [{j} | {off: name}] the input column top to bottom (j: the network's input j), or null}
 * @returns layout {width, height, s, layers: [...], gaps: [...]}; gaps[l - 1] joins layer l−1 to l.
 */
export function computeLayout(sizes, width, height, { wide: maxNarrow, left = MARGIN.left, inputs = null }) {
  const L = sizes.length - 1;
  const top = MARGIN.top;
  const bottom = height - MARGIN.bottom;
  const plotH = Math.max(40, bottom - top);
  const slots = inputs ? inputs.length : sizes[0];
  const rows = sizes.map((n, l) => (l === 0 ? slots : n));
  const wide = rows.map((n, l) => n > maxNarrow || (l === 0 && L > 0 && plotH / (n * 1.4) < MIN_INPUT));
  const narrowMax = Math.max(1, ...rows.filter((n, l) => !wide[l]));
  const columns = sizes.length;
  // neuron square size: Playground's 30 px when there is room, smaller for tall layers or many layers
  let s = Math.floor(plotH / (narrowMax * 1.4));
  s = Math.min(s, 36, Math.floor((width - left - MARGIN.right) / Math.max(1, columns * 2.4)));
  s = Math.max(s, 5);
  const gapY = narrowMax > 1 ? Math.min(s * 0.6, (plotH - narrowMax * s) / (narrowMax - 1)) : 0;

  const colW = sizes.map((n, l) => (wide[l] ? STRIP + DELTA_STRIP + 2 : s));
  const isMatrix = sizes.slice(1).map((n, k) => wide[k] || wide[k + 1]);
  const weights = isMatrix.map((m) => (m ? 2 : 1));
  const free = width - left - MARGIN.right - colW.reduce((a, b) => a + b, 0);
  const unit = Math.max(8, free / Math.max(1, weights.reduce((a, b) => a + b, 0)));

  const layers = [];
  let x = left;
  for (let l = 0; l <= L; l++) {
    const n = sizes[l];
    const layer = { l, n, wide: wide[l], x, w: colW[l], y0: top, y1: bottom, off: [] };
    if (wide[l]) {
      layer.cellH = plotH / n;
    } else {
      const m = rows[l];
      const total = m * s + (m - 1) * gapY;
      const y0 = top + (plotH - total) / 2;
      const at = (k) => y0 + k * (s + gapY);
      layer.ys = new Float32Array(n);
      if (l === 0 && inputs) {
        inputs.forEach((slot, k) => {
          if (slot.off) layer.off.push({ name: slot.off, y: at(k) });
          else layer.ys[slot.j] = at(k);
        });
      } else {
        for (let j = 0; j < n; j++) layer.ys[j] = at(j);
      }
      layer.y0 = y0;
      layer.y1 = y0 + total;
    }
    layers.push(layer);
    if (l < L) x += colW[l] + unit * weights[l];
  }

  const gaps = [];
  for (let l = 1; l <= L; l++) {
    const a = layers[l - 1];
    const b = layers[l];
    const gap = { l, matrix: isMatrix[l - 1], rows: a.n, cols: b.n, edges: null };
    if (gap.matrix) {
      const pad = Math.min(14, (b.x - a.x - a.w) * 0.12);
      gap.x0 = a.x + a.w + pad;
      gap.x1 = b.x - pad;
      gap.y0 = top;
      gap.y1 = bottom;
    } else {
      // one straight edge per weight, index e = i·n_l + j as in the row-major Wˡ
      const edges = new Float32Array(a.n * b.n * 4);
      for (let i = 0; i < a.n; i++) {
        for (let j = 0; j < b.n; j++) {
          const e = (i * b.n + j) * 4;
          edges[e] = a.x + a.w;
          edges[e + 1] = a.ys[i] + s / 2;
          edges[e + 2] = b.x;
          edges[e + 3] = b.ys[j] + s / 2;
        }
      }
      gap.edges = edges;
    }
    gaps.push(gap);
  }
  return { width, height, s, top, bottom, left, layers, gaps, sizes: [...sizes], strip: STRIP, deltaStrip: DELTA_STRIP };
}

function distToSegment(px, py, x1, y1, x2, y2) {
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len2 = dx * dx + dy * dy;
  let t = len2 > 0 ? ((px - x1) * dx + (py - y1) * dy) / len2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const qx = x1 + t * dx - px;
  const qy = y1 + t * dy - py;
  return Math.sqrt(qx * qx + qy * qy);
}

/**
 * What is under (px, py): {kind: "neuron", l, j} | {kind: "edge", l, i, j} | {kind: "off", name} (an input
 * the network does not use) | null.
 * `widthOf(l, e)` gives an edge's stroke width, for a generous hit area.
 */
export function hitTest(layout, px, py, widthOf = () => 1) {
  const s = layout.s;
  for (const layer of layout.layers) {
    if (layer.wide) {
      if (px >= layer.x - 2 && px <= layer.x + layer.w + 2 && py >= layer.y0 && py < layer.y1) {
        return { kind: "neuron", l: layer.l, j: Math.min(layer.n - 1, Math.floor((py - layer.y0) / layer.cellH)) };
      }
    } else if (px >= layer.x - 3 && px <= layer.x + s + 3) {
      for (let j = 0; j < layer.n; j++) {
        if (py >= layer.ys[j] - 3 && py <= layer.ys[j] + s + 3) return { kind: "neuron", l: layer.l, j };
      }
      for (const o of layer.off) if (py >= o.y - 3 && py <= o.y + s + 3) return { kind: "off", name: o.name };
    }
  }
  let best = null;
  let bestD = Infinity;
  for (const gap of layout.gaps) {
    if (gap.matrix) {
      if (px >= gap.x0 && px < gap.x1 && py >= gap.y0 && py < gap.y1) {
        const i = Math.min(gap.rows - 1, Math.floor(((py - gap.y0) / (gap.y1 - gap.y0)) * gap.rows));
        const j = Math.min(gap.cols - 1, Math.floor(((px - gap.x0) / (gap.x1 - gap.x0)) * gap.cols));
        return { kind: "edge", l: gap.l, i, j };
      }
      continue;
    }
    const E = gap.edges;
    if (px < E[0] - 2 || px > E[2] + 2) continue;
    for (let e = 0; e < E.length; e += 4) {
      const d = distToSegment(px, py, E[e], E[e + 1], E[e + 2], E[e + 3]);
      const idx = e / 4;
      const tol = Math.max(4, widthOf(gap.l, idx) / 2 + 2);
      if (d <= tol && d < bestD) {
        bestD = d;
        best = { kind: "edge", l: gap.l, i: Math.floor(idx / gap.cols), j: idx % gap.cols };
      }
    }
  }
  return best;
}
