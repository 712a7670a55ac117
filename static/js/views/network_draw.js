// Draws one frame of the network diagram from a layout and a decoded snapshot.
//
// Weight matrices and wide layers are ImageData through a 256-entry lookup table, redone only when the
// snapshot or the colouring changes; edges are drawn by network_edges.js.
//
// Gradient colours (edges coloured by ∂C/∂w, and the δ rings) span [−max, max] where max is, by the view's
// `gradScale`: this frame's largest |value| ("frame"), the largest seen since the run was opened
// ("running": gradients that shrink over a run fade — vanishing gradients show), or epoch 0's ("epoch0",
// from `reference`); on a square-root or, with `gradLog`, a log curve. Activations are coloured on their
// σ's range when it is bounded (the catalog's), else on the layer's largest |a|.

import { GRAD_SCALE, VALUE_SCALE, curved, lutIndex, mapToPixels, maxAbs } from "../colors.js";
import { activationRange } from "../catalog.js";
import { supText } from "../format.js";
import { tensor } from "../state.js";
import { drawEdges, edgeWidth } from "./network_edges.js";

/** The largest |a| an activation takes when its range is bounded, else null. */
export function rangeMax(cat, name) {
  const [lo, hi] = activationRange(cat, name);
  return lo !== null && hi !== null ? Math.max(Math.abs(lo), Math.abs(hi)) : null;
}

/** Colours the theme gives the canvas (CSS custom properties, read when the theme changes). */
export function canvasTheme(el) {
  const css = getComputedStyle(el);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return { ink: v("--canvas-ink", "#555"), muted: v("--canvas-muted", "#666"), line: v("--canvas-line", "#b8bcbf"),
    skeleton: v("--canvas-skeleton", "#d5d8da"), empty: v("--canvas-empty", "#e8eaeb"), mark: v("--canvas-mark", "#111"),
    hover: v("--canvas-hover", "rgba(0,0,0,0.45)"), rim: v("--canvas-rim", "#fff"), off: v("--canvas-off", "rgba(0,0,0,0.12)") };
}

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
    this.legend = { edgeMax: 0, deltaMax: 0, edgeColor: null, deltaMode: null, gradScale: null, gradLog: false, since: 0 };
    this.running = { run: null, since: 0, max: {} }; // the largest |value| per tensor family since the run opened
    this.theme = null; // canvasTheme(), set by the view
  }

  /** Recompute what depends on the snapshot and colour modes (not on the layout). */
  prepare(snap, opts, force = false) {
    const p = this.prep;
    const mode = `${opts.edgeColor}|${opts.deltaMode}|${opts.gradScale}|${opts.gradLog}|${opts.runId}|${opts.reference ? 1 : 0}`;
    if (!force && p && p.snap === snap && p.mode === mode) return p;
    const L = opts.sizes.length - 1;
    const weight = opts.edgeColor === "weight";
    const colorName = weight ? "W" : "dW";
    const gradCurve = opts.gradLog ? "log" : "sqrt";
    const scale = weight ? VALUE_SCALE : curved(GRAD_SCALE, gradCurve);
    const deltaName = opts.deltaMode === "batch" ? "mean_abs_delta" : "delta";
    let edgeFrame = 0;
    let deltaFrame = 0;
    const layers = [];
    for (let l = 1; l <= L; l++) {
      const c = tensor(snap, `${colorName}${l}`);
      const d = tensor(snap, `${deltaName}${l}`);
      if (c) edgeFrame = Math.max(edgeFrame, maxAbs(c.data));
      if (d) deltaFrame = Math.max(deltaFrame, maxAbs(d.data));
    }
    const edgeMax = weight ? edgeFrame : this.scaleMax(`${colorName}`, edgeFrame, snap, opts);
    const deltaMax = this.scaleMax(deltaName, deltaFrame, snap, opts);
    for (let l = 0; l <= L; l++) {
      const a = tensor(snap, `a${l}`);
      const bound = l === 0 ? null : rangeMax(opts.catalog, opts.activations[l - 1]);
      const aMax = a ? bound ?? Math.max(1e-9, maxAbs(a.data)) : 1;
      const grid = l > 0 ? tensor(snap, `grid${l}`) : null;
      const gMax = grid ? bound ?? Math.max(1e-9, maxAbs(grid.data)) : 1;
      layers.push({ a, aMax, grid, gMax, delta: l > 0 ? tensor(snap, `${deltaName}${l}`) : null });
    }
    // canvases of the previous frame are reused (same sizes), never chained further back
    const reuse = p ? p.images : new Map();
    this.prep = { snap, mode, edgeColor: opts.edgeColor, deltaMode: opts.deltaMode, colorName, scale,
      deltaScale: curved(GRAD_SCALE, gradCurve), edgeMax, deltaMax, layers, images: new Map(), reuse };
    this.legend = { edgeMax, deltaMax, edgeColor: opts.edgeColor, deltaMode: opts.deltaMode, gradScale: opts.gradScale,
      gradLog: !!opts.gradLog, since: this.running.since, edgeFrame, deltaFrame };
    return this.prep;
  }

  /**
   * The max of a gradient colour scale for one family of tensors ("dW", "delta", "mean_abs_delta"): this
   * frame's, the running maximum since the run was opened, or epoch 0's (until that is known: running).
   */
  scaleMax(family, frameMax, snap, opts) {
    const r = this.running;
    if (r.run !== opts.runId) {
      this.running = { run: opts.runId, since: snap ? snap.epoch : 0, max: {} };
      return this.scaleMax(family, frameMax, snap, opts);
    }
    r.max[family] = Math.max(r.max[family] || 0, frameMax);
    if (opts.gradScale === "frame") return frameMax;
    if (opts.gradScale === "epoch0" && opts.reference && opts.reference[family] > 0) return opts.reference[family];
    return r.max[family];
  }

  /** A cached image (matrix, strip or thumbnail atlas) keyed by name. */
  image(key, make) {
    const images = this.prep.images;
    if (!images.has(key)) images.set(key, make(this.prep.reuse.get(key)));
    return images.get(key);
  }

  /**
   * Draw a frame (the captions are not part of it: drawCaptions() draws them on a canvas of their own).
   * opts: {sizes, activations, edgeColor, deltaMode, gradScale, gradLog, selection, hover, extent, gridSize,
   * coords (the inputs are the plane's coordinates), catalog, runId, reference}.
   */
  draw(ctx, layout, snap, opts) {
    const th = this.theme;
    ctx.clearRect(0, 0, layout.width, layout.height);
    this.drawOff(ctx, layout);
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
    this.drawMarks(ctx, layout, snap, prep, opts.selection, th.mark, 2.5);
    if (opts.hover) this.drawMarks(ctx, layout, snap, prep, opts.hover, th.hover, 1.5);
  }

  /** The inputs the network does not use (Playground's features not chosen): dimmed, dashed squares. */
  drawOff(ctx, layout) {
    const first = layout.layers[0];
    if (!first.off.length) return;
    const s = layout.s;
    ctx.fillStyle = this.theme.off;
    ctx.strokeStyle = this.theme.line;
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 3]);
    for (const o of first.off) {
      ctx.fillRect(first.x, o.y, s, s);
      ctx.strokeRect(first.x + 0.5, o.y + 0.5, s - 1, s - 1);
    }
    ctx.setLineDash([]);
  }

  drawSkeleton(ctx, layout) {
    ctx.strokeStyle = this.theme.skeleton;
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
    ctx.fillStyle = this.theme.empty;
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
    ctx.strokeStyle = this.theme.line;
    ctx.lineWidth = 1;
    ctx.strokeRect(gap.x0 - 0.5, gap.y0 - 0.5, w + 1, h + 1);
    ctx.fillStyle = this.theme.ink;
    ctx.textAlign = "center";
    const name = prep.colorName === "W" ? `W${supText(gap.l)}` : `∂C/∂W${supText(gap.l)}`;
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
      const img = this.image(`d${layer.l}`, (old) => imageOf(old, lp.delta.data, 1, layer.n, prep.deltaMax, prep.deltaScale));
      ctx.drawImage(img, layer.x + 18, layer.y0, 6, h);
    }
    ctx.imageSmoothingEnabled = true;
    ctx.strokeStyle = this.theme.line;
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
    } else if (layer.l === 0 && opts.extent && opts.coords && s >= 14) {
      G = opts.gridSize;
      atlas = this.inputAtlas(opts.extent, G);
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
        ctx.strokeStyle = this.theme.rim;
        ctx.lineWidth = 1;
        ctx.strokeRect(x + s - c + 0.5, y + s - c + 0.5, c - 1, c - 1);
      } else {
        ctx.fillStyle = aColor;
        ctx.fillRect(x, y, s, s);
      }
      if (lp.delta) {
        ctx.strokeStyle = prep.deltaScale.css[lutIndex(lp.delta.data[j], prep.deltaMax, prep.deltaScale.curve)];
        ctx.lineWidth = ring;
        ctx.strokeRect(x - ring / 2 - 1, y - ring / 2 - 1, s + ring + 2, s + ring + 2);
      } else {
        ctx.strokeStyle = this.theme.line;
        ctx.lineWidth = 1;
        ctx.strokeRect(x - 0.5, y - 0.5, s + 1, s + 1);
      }
    }
  }

  /** The plane's coordinates themselves over the input plane (G × G), for the two inputs of 2-D data. */
  inputAtlas(extent, G) {
    const key = `${extent.join(",")}|${G}`;
    if (this.inputThumb && this.inputThumb.key === key) return this.inputThumb.canvas;
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
    if (!sel || (sel.kind !== "neuron" && sel.kind !== "edge")) return;
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
      ctx.strokeStyle = prep.scale.css[lutIndex(c.data[e], prep.edgeMax, prep.scale.curve)];
      ctx.lineWidth = W ? edgeWidth(W.data[e]) : 1;
      ctx.stroke();
    }
  }
}
