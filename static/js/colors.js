// Colour scales as 256-entry lookup tables: one RGBA table for ImageData and one CSS string per entry for
// strokes, both built once, so drawing never builds a colour string per edge.
//
// Values (activations, weights): Playground's orange #f59322 (−) → grey #e8eaeb (0) → blue #0877bd (+).
// Gradients (∂C/∂w, δ): purple #7b3294 (−) → the same grey → green #008837 (+), so the two never mix up.

const GREY = [232, 234, 235];

function makeScale(neg, pos) {
  const rgba = new Uint8ClampedArray(256 * 4);
  const css = new Array(256);
  for (let k = 0; k < 256; k++) {
    const t = (k - 127.5) / 127.5; // −1 … +1
    const end = t < 0 ? neg : pos;
    const f = Math.abs(t);
    const c = GREY.map((g, i) => Math.round(g + (end[i] - g) * f));
    rgba.set([c[0], c[1], c[2], 255], k * 4);
    css[k] = `rgb(${c[0]},${c[1]},${c[2]})`;
  }
  // a 32-bit little-endian view (ABGR) for writing one pixel per store
  const u32 = new Uint32Array(rgba.buffer.slice(0));
  return { rgba, css, u32, neg: `rgb(${neg})`, pos: `rgb(${pos})` };
}

export const VALUE_SCALE = { ...makeScale([245, 147, 34], [8, 119, 189]), curve: "lin" };
export const GRAD_SCALE = { ...makeScale([123, 50, 148], [0, 136, 55]), curve: "sqrt" };

export const LOG_DECADES = 4; // a log scale shows |v| from max · 10⁻⁴ (grey) to max (full colour)

/**
 * t = v / max bent by a curve, keeping its sign: "lin" (proportional); "sqrt" (gradients span orders of magnitude
 * between layers, and on a linear scale all but the largest would look grey); "log" (LOG_DECADES decades).
 */
export function shape(t, curve) {
  if (curve === "sqrt") return t < 0 ? -Math.sqrt(-t) : Math.sqrt(t);
  if (curve === "log") {
    const a = Math.abs(t);
    const u = a > 0 ? 1 + Math.log10(a) / LOG_DECADES : 0;
    return u <= 0 ? 0 : t < 0 ? -u : u;
  }
  return t;
}

const variants = new Map();
/** The same colours on another curve (one object per scale and curve, with its own pixel table). */
export function curved(scale, curve) {
  if (scale.curve === curve) return scale;
  const key = `${scale.css[0]}|${curve}`;
  if (!variants.has(key)) variants.set(key, { ...scale, curve, fine: undefined });
  return variants.get(key);
}

/**
 * The table index of v on a symmetric scale [−max, max] bent by `curve` (shape()), clamped. The sign is
 * never changed, so hue always tells the sign.
 */
export function lutIndex(v, max, curve = "lin") {
  if (!(max > 0) || !Number.isFinite(v)) return 128;
  const t = shape(v / max, curve);
  const k = Math.round(t * 127.5 + 127.5);
  return k < 0 ? 0 : k > 255 ? 255 : k;
}

/** max |x| over a typed array (0 for an empty one; NaN ignored). */
export function maxAbs(data) {
  let m = 0;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]);
    if (a > m) m = a;
  }
  return m;
}

const FINE = 32768; // steps per sign of the pixel table: sqrt(1/FINE) is well below one colour step

/** The scale's colour for every t = q / FINE − 1, q = 0 … 2·FINE (built once per scale, 256 KB). */
function pixelTable(scale) {
  if (!scale.fine) {
    const table = new Uint32Array(2 * FINE + 1);
    for (let q = 0; q <= 2 * FINE; q++) table[q] = scale.u32[lutIndex(q / FINE - 1, 1, scale.curve)];
    scale.fine = table;
  }
  return scale.fine;
}

/**
 * Fill `out` (Uint32Array of pixels) with the scale's colours of `data` on [−max, max]: one table look-up
 * per value (no square root, no rounding call), NaN grey.
 */
export function mapToPixels(data, max, scale, out, alpha = 255) {
  const lut = pixelTable(scale);
  const top = 2 * FINE;
  const s = max > 0 ? FINE / max : 0;
  const grey = scale.u32[128];
  const a = (alpha & 255) << 24;
  const keepAlpha = alpha === 255;
  for (let i = 0; i < data.length; i++) {
    const q = data[i] * s + (FINE + 0.5);
    const c = q >= 0 ? (q < top ? lut[q | 0] : lut[top]) : q < 0 ? lut[0] : grey;
    out[i] = keepAlpha ? c : (c & 0x00ffffff) | a;
  }
  return out;
}

/** Ten categorical colours for classes (Tableau 10), class 0 and 1 of a binary set use the value scale. */
export const CLASS_COLORS = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];

/** The colour of class k of n (binary sets: negative orange, positive blue, as Playground). */
export function classColor(k, n) {
  if (n === 2) return k === 1 ? VALUE_SCALE.css[255] : VALUE_SCALE.css[0];
  return CLASS_COLORS[k % CLASS_COLORS.length];
}

/** Draw a horizontal legend bar of a scale into a canvas (CSS size w × h). */
export function drawLegendBar(canvas, scale, { positiveOnly = false } = {}) {
  const w = canvas.width;
  const h = canvas.height;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const px = new Uint32Array(img.data.buffer);
  for (let x = 0; x < w; x++) {
    const t = positiveOnly ? x / (w - 1) : (x / (w - 1)) * 2 - 1;
    const c = scale.u32[lutIndex(t, 1)];
    for (let y = 0; y < h; y++) px[y * w + x] = c;
  }
  ctx.putImageData(img, 0, 0);
}
