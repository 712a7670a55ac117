// Draws one frame of the network diagram from a layout and a decoded snapshot.
//
// Weight matrices and wide layers are ImageData through a 256-entry lookup table, redone only when the
// snapshot or the colouring changes; edges are drawn by network_edges.js.

import { GRAD_SCALE, VALUE_SCALE, lutIndex, mapToPixels, maxAbs } from "../colors.js";
import { tensor } from "../state.js";
import { drawEdges, edgeWidth } from "./network_edges.js";

const BOUNDED = new Set(["tanh", "sigmoid", "softmax"]);

function makeCanvas(w, h) {
  const c = typeof OffscreenCanvas === "function" ? new OffscreenCanvas(w, h) : document.createElement("canvas");
  c.width = w;
  c.height = h;
  return c;
}

/** An image of `data` (row-major, width × height) on a scale; reuses `prev` when the size matches. */
export function imageOf(prev, data, width, height, max, scale) {
  const c = prev && prev.width === width && prev.height === height ? prev : makeCanvas(width, height);
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(width, height);
  mapToPixels(data, max, scale, new Uint32Array(img.data.buffer));
  ctx.putImageData(img, 0, 0);
  return c;
}

export class NetworkRenderer {
  constructor() {
    this.prep = null; // colour data derived from one snapshot + colouring
    this.inputThumb = null;
    this.legend = { edgeMax: 0, deltaMax: 0, edgeColor: "gradient", deltaMode: "probe" };
  }

  /** Recompute what depends on the snapshot and colour modes (not on the layout). */
  prepare(snap, opts, force = false) {
    const p = this.prep;
    if (!force && p && p.snap === snap && p.edgeColor === opts.edgeColor && p.deltaMode === opts.deltaMode) return p;
    const L = opts.sizes.length - 1;
    const colorName = opts.edgeColor === "weight" ? "W" : "dW";
    const scale = opts.edgeColor === "weight" ? VALUE_SCALE : GRAD_SCALE;
    let edgeMax = 0;
    let deltaMax = 0;
    const layers = [];
    for (let l = 1; l <= L; l++) {
      const c = tensor(snap, `${colorName}${l}`);
      const d = tensor(snap, opts.deltaMode === "batch" ? `mean_abs_delta${l}` : `delta${l}`);
      if (c) edgeMax = Math.max(edgeMax, maxAbs(c.data));
      if (d) deltaMax = Math.max(deltaMax, maxAbs(d.data));
    }
    for (let l = 0; l <= L; l++) {
      const a = tensor(snap, `a${l}`);
      const act = l === 0 ? "linear" : opts.activations[l - 1];
      const aMax = a ? (BOUNDED.has(act) ? 1 : Math.max(1e-9, maxAbs(a.data))) : 1;
      const grid = l > 0 ? tensor(snap, `grid${l}`) : null;
      const gMax = grid ? (BOUNDED.has(act) ? 1 : Math.max(1e-9, maxAbs(grid.data))) : 1;
      layers.push({ a, aMax, grid, gMax, delta: l > 0 ? tensor(snap, opts.deltaMode === "batch" ? `mean_abs_delta${l}` : `delta${l}`) : null });
    }
    // canvases of the previous frame are reused (same sizes), never chained further back
    const reuse = p ? p.images : new Map();
    this.prep = { snap, edgeColor: opts.edgeColor, deltaMode: opts.deltaMode, colorName, scale, edgeMax, deltaMax, layers, images: new Map(), reuse };
    this.legend = { edgeMax, deltaMax, edgeColor: opts.edgeColor, deltaMode: opts.deltaMode };
    return this.prep;
  }

  /** A cached image (matrix, strip or thumbnail atlas) keyed by name. */
  image(key, make) {
    const images = this.prep.images;
    if (!images.has(key)) images.set(key, make(this.prep.reuse.get(key)));
    return images.get(key);
  }

  /**
   * Draw a frame (the captions are not part of it: drawCaptions() draws them on a canvas of their own).
   * opts: {sizes, activations, edgeColor, deltaMode, selection, hover, extent}.
   */
  draw(ctx, layout, snap, opts) {
    ctx.clearRect(0, 0, layout.width, layout.height);
    if (!snap) return this.drawSkeleton(ctx, layout);
    const prep = this.prepare(snap, opts);
    ctx.font = "11px system-ui, sans-serif";
    for (const gap of layout.gaps) {
      if (gap.matrix) this.drawMatrix(ctx, gap, snap, prep);
      else drawEdges(ctx, gap, snap, prep, opts.dpr);
    }
    for (const layer of layout.layers) {
      if (layer.wide) this.drawStrip(ctx, layer, prep);
      else this.drawNeurons(ctx, layout, layer, prep, opts);
    }
    this.drawMarks(ctx, layout, snap, prep, opts.selection, "#111", 2.5);
    if (opts.hover) this.drawMarks(ctx, layout, snap, prep, opts.hover, "rgba(0,0,0,0.45)", 1.5);
  }

  drawSkeleton(ctx, layout) {
    ctx.strokeStyle = "#d5d8da";
    ctx.lineWidth = 1;
    for (const gap of layout.gaps) {
      if (gap.matrix) {
        ctx.strokeRect(gap.x0 + 0.5, gap.y0 + 0.5, gap.x1 - gap.x0, gap.y1 - gap.y0);
        continue;
      }
      const E = gap.edges;
      ctx.beginPath();
      for (let e = 0; e < E.length; e += 4) {
        ctx.moveTo(E[e], E[e + 1]);
        ctx.lineTo(E[e + 2], E[e + 3]);
      }
      ctx.stroke();
    }
    ctx.fillStyle = "#e8eaeb";
    for (const layer of layout.layers) {
      if (layer.wide) ctx.fillRect(layer.x, layer.y0, layout.strip, layer.y1 - layer.y0);
      else for (let j = 0; j < layer.n; j++) ctx.fillRect(layer.x, layer.ys[j], layout.s, layout.s);
    }
  }

  drawMatrix(ctx, gap, snap, prep) {
    const t = tensor(snap, `${prep.colorName}${gap.l}`);
    if (!t) return;
    const img = this.image(`m${gap.l}`, (old) => imageOf(old, t.data, gap.cols, gap.rows, prep.edgeMax, prep.scale));
    const w = gap.x1 - gap.x0;
    const h = gap.y1 - gap.y0;
    ctx.imageSmoothingEnabled = gap.rows > h || gap.cols > w;
    ctx.drawImage(img, gap.x0, gap.y0, w, h);
    ctx.imageSmoothingEnabled = true;
    ctx.strokeStyle = "#b8bcbf";
    ctx.lineWidth = 1;
    ctx.strokeRect(gap.x0 - 0.5, gap.y0 - 0.5, w + 1, h + 1);
    ctx.fillStyle = "#555";
    ctx.textAlign = "center";
    const name = prep.colorName === "W" ? `W${sup(gap.l)}` : `∂C/∂W${sup(gap.l)}`;
    ctx.fillText(`${name} ${gap.rows}×${gap.cols}`, (gap.x0 + gap.x1) / 2, gap.y0 - 8, w + 40);
  }

  drawStrip(ctx, layer, prep) {
    const lp = prep.layers[layer.l];
    const h = layer.y1 - layer.y0;
    ctx.imageSmoothingEnabled = false;
    if (lp.a) {
      const img = this.image(`a${layer.l}`, (old) => imageOf(old, lp.a.data, 1, layer.n, lp.aMax, VALUE_SCALE));
      ctx.drawImage(img, layer.x, layer.y0, 16, h);
    }
    if (lp.delta) {
      const img = this.image(`d${layer.l}`, (old) => imageOf(old, lp.delta.data, 1, layer.n, prep.deltaMax, GRAD_SCALE));
      ctx.drawImage(img, layer.x + 18, layer.y0, 6, h);
    }
    ctx.imageSmoothingEnabled = true;
    ctx.strokeStyle = "#b8bcbf";
    ctx.lineWidth = 1;
    ctx.strokeRect(layer.x - 0.5, layer.y0 - 0.5, 17, h + 1);
  }

  drawNeurons(ctx, layout, layer, prep, opts) {
    const s = layout.s;
    const lp = prep.layers[layer.l];
    let atlas = null;
    let G = 0;
    if (lp.grid) {
      G = lp.grid.shape[1];
      atlas = this.image(`g${layer.l}`, (old) => imageOf(old, lp.grid.data, G, layer.n * G, lp.gMax, VALUE_SCALE));
    } else if (layer.l === 0 && opts.extent && layer.n === 2 && s >= 14) {
      atlas = this.inputAtlas(opts.extent);
      G = 40;
    }
    const ring = Math.max(2, Math.round(s * 0.12));
    for (let j = 0; j < layer.n; j++) {
      const x = layer.x;
      const y = layer.ys[j];
      const a = lp.a ? lp.a.data[j] : 0;
      const aColor = VALUE_SCALE.css[lutIndex(a, lp.aMax)];
      if (atlas && s >= 14) {
        ctx.drawImage(atlas, 0, j * G, G, G, x, y, s, s);
        const c = Math.max(6, Math.round(s * 0.32));
        ctx.fillStyle = aColor;
        ctx.fillRect(x + s - c, y + s - c, c, c);
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = 1;
        ctx.strokeRect(x + s - c + 0.5, y + s - c + 0.5, c - 1, c - 1);
      } else {
        ctx.fillStyle = aColor;
        ctx.fillRect(x, y, s, s);
      }
      if (lp.delta) {
        ctx.strokeStyle = GRAD_SCALE.css[lutIndex(lp.delta.data[j], prep.deltaMax, true)];
        ctx.lineWidth = ring;
        ctx.strokeRect(x - ring / 2 - 1, y - ring / 2 - 1, s + ring + 2, s + ring + 2);
      } else {
        ctx.strokeStyle = "rgba(0,0,0,0.3)";
        ctx.lineWidth = 1;
        ctx.strokeRect(x - 0.5, y - 0.5, s + 1, s + 1);
      }
    }
  }

  /** x₁ and x₂ themselves over the input plane, for the two input neurons of 2-D data. */
  inputAtlas(extent) {
    const key = extent.join(",");
    if (this.inputThumb && this.inputThumb.key === key) return this.inputThumb.canvas;
    const G = 40;
    const [x0, x1, y0, y1] = extent;
    const m = Math.max(Math.abs(x0), Math.abs(x1), Math.abs(y0), Math.abs(y1)) || 1;
    const data = new Float32Array(2 * G * G);
    for (let r = 0; r < G; r++) {
      for (let c = 0; c < G; c++) {
        data[r * G + c] = x0 + ((c + 0.5) * (x1 - x0)) / G;
        data[G * G + r * G + c] = y1 - ((r + 0.5) * (y1 - y0)) / G;
      }
    }
    const canvas = imageOf(null, data, G, 2 * G, m, VALUE_SCALE);
    this.inputThumb = { key, canvas };
    return canvas;
  }

  /** Outline a selected (or hovered) neuron or edge. */
  drawMarks(ctx, layout, snap, prep, sel, color, width) {
    if (!sel) return;
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    if (sel.kind === "neuron") {
      const layer = layout.layers[sel.l];
      if (!layer || sel.j >= layer.n) return;
      if (layer.wide) {
        const y = layer.y0 + sel.j * layer.cellH;
        ctx.strokeRect(layer.x - 4, y - 1, 32, Math.max(2, layer.cellH) + 2);
      } else {
        const pad = Math.max(2, Math.round(layout.s * 0.12)) + 4;
        ctx.strokeRect(layer.x - pad, layer.ys[sel.j] - pad, layout.s + 2 * pad, layout.s + 2 * pad);
      }
      return;
    }
    const gap = layout.gaps[sel.l - 1];
    if (!gap || sel.i >= gap.rows || sel.j >= gap.cols) return;
    if (gap.matrix) {
      const cw = (gap.x1 - gap.x0) / gap.cols;
      const ch = (gap.y1 - gap.y0) / gap.rows;
      ctx.strokeRect(gap.x0 + sel.j * cw - 1, gap.y0 + sel.i * ch - 1, Math.max(3, cw) + 2, Math.max(3, ch) + 2);
      return;
    }
    const e = sel.i * gap.cols + sel.j;
    const E = gap.edges;
    const W = tensor(snap, `W${sel.l}`);
    const c = tensor(snap, `${prep.colorName}${sel.l}`);
    ctx.beginPath();
    ctx.moveTo(E[e * 4], E[e * 4 + 1]);
    ctx.lineTo(E[e * 4 + 2], E[e * 4 + 3]);
    ctx.lineWidth = (W ? edgeWidth(W.data[e]) : 1) + width * 2;
    ctx.stroke();
    if (c) {
      ctx.strokeStyle = prep.scale.css[lutIndex(c.data[e], prep.edgeMax, prep.scale.sqrt)];
      ctx.lineWidth = W ? edgeWidth(W.data[e]) : 1;
      ctx.stroke();
    }
  }

  /** The layer names under the columns and the input names beside the inputs. opts: {inputNames}. */
  drawCaptions(ctx, layout, opts) {
    const L = layout.layers.length - 1;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#666";
    ctx.textAlign = "center";
    ctx.textBaseline = "alphabetic";
    for (const layer of layout.layers) {
      const name = layer.l === 0 ? "input" : layer.l === L ? "output" : `hidden ${layer.l}`;
      const cx = layer.x + layer.w / 2;
      ctx.fillText(layer.wide ? `${name} (${layer.n})` : name, cx, layout.height - 6);
    }
    const first = layout.layers[0];
    if (!first.wide && opts.inputNames && first.n <= 12 && layout.s >= 10) {
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      for (let j = 0; j < first.n; j++) {
        ctx.fillText(String(opts.inputNames[j] ?? `x${j + 1}`).slice(0, 5), first.x - 5, first.ys[j] + layout.s / 2);
      }
      ctx.textBaseline = "alphabetic";
    }
  }
}

/** Superscript digits for canvas labels. */
export function sup(n) {
  const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹";
  return String(n).replace(/\d/g, (d) => digits[d]);
}
