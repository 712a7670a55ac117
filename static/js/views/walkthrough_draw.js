// The diagram of one walkthrough frame, drawn over the live diagram (same layout, network_layout.js): the
// edges the frame is about lit and coloured by its quantity — the weights Wˡ going forward (arrows →) and
// carrying δ back (arrows ←), the gradients a·δ, the weights before and after the update — every other edge
// faint; neurons filled by the probe's activation once the forward pass has reached them, ringed by δ once
// the backward pass has; the frame's numbers beside its neurons. Every value is the walkthrough answer's.

import { GRAD_SCALE, VALUE_SCALE, lutIndex, maxAbs } from "../colors.js";
import { fmt, supText as sup } from "../format.js";
import { drawEdges } from "./network_edges.js";
import { NetworkRenderer, imageOf, rangeMax } from "./network_draw.js";

const MAX_LABELLED = 12; // neurons per layer that get their numbers drawn beside them
const flat = (m) => Float32Array.from(m.flat(), (v) => (v === null ? NaN : v));
const vec = (v) => Float32Array.from(v, (x) => (x === null ? NaN : x));

/** What a frame lights up: the gap and its colouring, what is known of a and δ, the labelled neurons. */
export function frameScene(answer, frame) {
  const L = answer.layer_sizes.length - 1;
  const Ls = answer.layers;
  const scene = { gaps: [], aKnown: L, deltaFrom: L + 1, labels: [], active: [], caption: "" };
  const W = (l) => ({ l, name: "W", values: Ls[l - 1].W, scale: "value" });
  switch (frame.step) {
    case "forward":
      scene.aKnown = frame.l;
      scene.gaps.push({ ...W(frame.l), direction: 1 });
      scene.active.push(frame.l);
      scene.labels.push({ l: frame.l, side: 1, parts: [["z", Ls[frame.l - 1].z], ["a", Ls[frame.l - 1].a]] });
      scene.caption = `→ forward: the edges into layer ${frame.l}, coloured by their weight W${sup(frame.l)}; width ∝ |w|`;
      break;
    case "cost":
      scene.active.push(L);
      scene.labels.push({ l: L, side: -1, parts: [["a", Ls[L - 1].a], ["y", answer.probe.y]] });
      scene.caption = `the output aᴸ against the target y: Cₓ = ${fmt(answer.probe.cost)} for the probe, C = ${fmt(answer.batch_cost_before)} for the batch`;
      break;
    case "output_delta":
      scene.deltaFrom = L;
      scene.active.push(L);
      scene.labels.push({ l: L, side: -1, parts: [["δ", Ls[L - 1].delta]] });
      scene.caption = "δᴸ at the output: the ring's colour (green +, purple −)";
      break;
    case "hidden_delta":
      scene.deltaFrom = frame.l;
      scene.gaps.push({ ...W(frame.l + 1), direction: -1 });
      scene.active.push(frame.l);
      scene.labels.push({ l: frame.l, side: -1, parts: [["δ", Ls[frame.l - 1].delta], ["σ′", Ls[frame.l - 1].sigma_prime]] });
      scene.caption = `← backward: δ${sup(frame.l + 1)} flows back along W${sup(frame.l + 1)} (coloured by weight) to layer ${frame.l}`;
      break;
    case "gradient": {
      const probe = frame.part === "probe";
      scene.deltaFrom = 1;
      scene.gaps.push({ l: frame.l, name: probe ? "dWp" : "dW", values: probe ? Ls[frame.l - 1].dW_probe : Ls[frame.l - 1].dW, scale: "grad", direction: 0 });
      scene.active.push(frame.l - 1, frame.l);
      const prevA = frame.l === 1 ? answer.probe.x : Ls[frame.l - 2].a;
      if (probe) scene.labels.push({ l: frame.l - 1, side: -1, parts: [["a", prevA]] }, { l: frame.l, side: 1, parts: [["δ", Ls[frame.l - 1].delta]] });
      scene.caption = probe ? `∂Cₓ/∂W${sup(frame.l)} = a·δ of the probe, on each edge (green +, purple −)`
        : `∂C/∂W${sup(frame.l)}: the batch's average, on each edge (green +, purple −)`;
      break;
    }
    default: {
      const after = frame.part === "after";
      scene.deltaFrom = 1;
      for (const layer of Ls) {
        scene.gaps.push({ l: layer.layer, name: after ? "Wafter" : "W", values: after ? layer.W_after : layer.W, scale: "value", direction: 0 });
      }
      // one scale for before and after, so that the colours compare
      scene.valueMax = Math.max(...Ls.map((x) => Math.max(maxAbs(flat(x.W)), maxAbs(flat(x.W_after)))));
      scene.caption = after
        ? `after the update: every edge coloured by its new weight; C of the batch ${fmt(answer.batch_cost_before)} → ${fmt(answer.batch_cost_after)}`
        : `before the update: every edge coloured by its weight (one step of η = ${answer.learning_rate} moves each only a little)`;
    }
  }
  return scene;
}

export class WalkRenderer {
  constructor() {
    this.skeleton = new NetworkRenderer();
    this.last = null; // what the last frame drew, for the tests
  }

  /**
   * Draw a frame. colors: {bg, ink, faint, label}; theme: the live diagram's canvas colours (canvasTheme);
   * selection: the page's selection (outlined); catalog: the activations' ranges.
   */
  draw(ctx, layout, answer, frame, { colors, theme, selection, dpr, catalog }) {
    const scene = frameScene(answer, frame);
    const Ls = answer.layers;
    const L = Ls.length;
    ctx.fillStyle = colors.bg;
    ctx.fillRect(0, 0, layout.width, layout.height);
    ctx.font = "11px system-ui, sans-serif";
    this.skeleton.theme = theme;
    this.skeleton.drawOff(ctx, layout); // the inputs the network does not use, as the live diagram has them
    this.skeleton.drawSkeleton(ctx, layout); // every edge faint, as the live diagram before its first snapshot
    const lit = new Map(scene.gaps.map((g) => [g.l, g]));
    const maxOf = (g) => (g.scale === "value" && scene.valueMax ? scene.valueMax : maxAbs(flat(g.values)));
    for (const gap of layout.gaps) {
      const g = lit.get(gap.l);
      if (g) this.litGap(ctx, gap, g, maxOf(g), Ls, colors, dpr);
    }
    // neurons: a where the forward pass has been, δ where the backward pass has been
    let deltaMax = 0;
    for (let l = scene.deltaFrom; l <= L; l++) deltaMax = Math.max(deltaMax, maxAbs(vec(Ls[l - 1].delta)));
    for (const layer of layout.layers) {
      const l = layer.l;
      const a = l <= scene.aKnown ? (l === 0 ? answer.probe.x : Ls[l - 1].a) : null;
      const bound = l === 0 ? null : rangeMax(catalog, Ls[l - 1].activation);
      const aMax = a ? bound ?? Math.max(1e-9, maxAbs(vec(a))) : 1;
      const delta = l >= scene.deltaFrom && l >= 1 ? Ls[l - 1].delta : null;
      this.neurons(ctx, layout, layer, { a, aMax, delta, deltaMax, active: scene.active.includes(l), colors });
    }
    if (selection) this.mark(ctx, layout, selection, colors);
    const labels = [];
    for (const lab of scene.labels) labels.push(...this.labels(ctx, layout, lab, colors));
    if (scene.caption) {
      ctx.fillStyle = colors.ink;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      ctx.fillText(scene.caption, 6, 11, layout.width - 12);
    }
    this.last = {
      step: frame.step, l: frame.l, part: frame.part || null,
      gaps: scene.gaps.map((g) => ({ l: g.l, name: g.name, direction: g.direction })), labels,
      // where the input column went (the live diagram's, unused inputs included)
      inputs: layout.layers[0].wide ? [] : Array.from(layout.layers[0].ys), off: layout.layers[0].off.map((o) => o.y),
    };
  }

  litGap(ctx, gap, g, max, Ls, colors, dpr) {
    const scale = g.scale === "grad" ? GRAD_SCALE : VALUE_SCALE;
    const data = flat(g.values);
    if (gap.matrix) {
      const w = gap.x1 - gap.x0;
      const hgt = gap.y1 - gap.y0;
      ctx.imageSmoothingEnabled = gap.rows > hgt || gap.cols > w;
      ctx.drawImage(imageOf(null, data, gap.cols, gap.rows, max, scale), gap.x0, gap.y0, w, hgt);
      ctx.imageSmoothingEnabled = true;
      ctx.strokeStyle = colors.ink;
      ctx.lineWidth = 2;
      ctx.strokeRect(gap.x0 - 1, gap.y0 - 1, w + 2, hgt + 2);
      return;
    }
    // widths by |w| (the weights after the update in its "after" frame), colours by the frame's quantity
    const widths = g.name === "Wafter" ? flat(Ls[g.l - 1].W_after) : flat(Ls[g.l - 1].W);
    const snap = { tensors: { [`Q${g.l}`]: { data }, [`W${g.l}`]: { data: widths } } };
    drawEdges(ctx, gap, snap, { colorName: "Q", scale, edgeMax: max }, dpr);
    if (g.direction && gap.edges.length / 4 <= 64) this.arrows(ctx, gap, g.direction, colors);
  }

  /** A small chevron in the middle of each edge, pointing the way the frame's numbers travel. */
  arrows(ctx, gap, direction, colors) {
    const E = gap.edges;
    ctx.fillStyle = colors.ink;
    for (let e = 0; e < E.length; e += 4) {
      const [x1, y1, x2, y2] = [E[e], E[e + 1], E[e + 2], E[e + 3]];
      const len = Math.hypot(x2 - x1, y2 - y1) || 1;
      const ux = ((x2 - x1) / len) * direction;
      const uy = ((y2 - y1) / len) * direction;
      const t = direction > 0 ? 0.6 : 0.4;
      const cx = x1 + (x2 - x1) * t;
      const cy = y1 + (y2 - y1) * t;
      ctx.beginPath();
      ctx.moveTo(cx + ux * 5, cy + uy * 5);
      ctx.lineTo(cx - ux * 4 - uy * 4, cy - uy * 4 + ux * 4);
      ctx.lineTo(cx - ux * 4 + uy * 4, cy - uy * 4 - ux * 4);
      ctx.closePath();
      ctx.fill();
    }
  }

  neurons(ctx, layout, layer, { a, aMax, delta, deltaMax, active, colors }) {
    const s = layout.s;
    if (layer.wide) {
      const hgt = layer.y1 - layer.y0;
      ctx.imageSmoothingEnabled = false;
      if (a) ctx.drawImage(imageOf(null, vec(a), 1, layer.n, aMax, VALUE_SCALE), layer.x, layer.y0, 16, hgt);
      if (delta) ctx.drawImage(imageOf(null, vec(delta), 1, layer.n, deltaMax, GRAD_SCALE), layer.x + 18, layer.y0, 6, hgt);
      ctx.imageSmoothingEnabled = true;
      ctx.strokeStyle = active ? colors.ink : colors.faint;
      ctx.lineWidth = active ? 2 : 1;
      ctx.strokeRect(layer.x - 1, layer.y0 - 1, 26, hgt + 2);
      return;
    }
    const ring = Math.max(2, Math.round(s * 0.12));
    for (let j = 0; j < layer.n; j++) {
      const x = layer.x;
      const y = layer.ys[j];
      ctx.fillStyle = a ? VALUE_SCALE.css[lutIndex(a[j] ?? NaN, aMax)] : colors.bg;
      ctx.fillRect(x, y, s, s);
      if (delta) {
        ctx.strokeStyle = GRAD_SCALE.css[lutIndex(delta[j] ?? NaN, deltaMax, GRAD_SCALE.curve)];
        ctx.lineWidth = ring;
        ctx.strokeRect(x - ring / 2 - 1, y - ring / 2 - 1, s + ring + 2, s + ring + 2);
      }
      ctx.strokeStyle = active ? colors.ink : colors.faint;
      ctx.lineWidth = active ? 2 : 1;
      const pad = delta ? ring + 2 : 0;
      ctx.strokeRect(x - pad - 0.5, y - pad - 0.5, s + 2 * pad + 1, s + 2 * pad + 1);
    }
  }

  /**
   * The numbers of a labelled layer, one small box beside each neuron: on the `side` away from the lit edges
   * (1: right, −1: left) between it and the next column; the first number alone, for the whole layer, where
   * all of them do not fit there (the table under the diagram has them all); above it where not even that
   * fits. Returns what was written.
   */
  labels(ctx, layout, { l, side, parts }, colors) {
    const layer = layout.layers[l];
    if (!layer || layer.wide || layer.n > MAX_LABELLED || layout.s < 10) return [];
    const out = [];
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const ring = Math.max(2, Math.round(layout.s * 0.12)) + 3;
    const beside = layout.layers[l + side];
    const lo = side < 0 && beside ? beside.x + beside.w + ring : 2; // the room between the two columns
    const hi = side > 0 && beside ? beside.x - ring : layout.width - 2;
    const at = (w) => (side > 0 ? layer.x + layout.s + ring : layer.x - ring - w);
    const fits = (w) => at(w) >= lo && at(w) + w <= hi;
    // one choice for the whole layer: every neuron's numbers, else every neuron's first, beside it
    const texts = (used) => Array.from({ length: layer.n },
      (_, j) => used.map(([name, values]) => `${name} ${fmt(values ? values[j] : null, 3)}`).join("  "));
    const allFit = (list) => list.every((t) => fits(ctx.measureText(t).width + 8));
    let list = texts(parts);
    if (!allFit(list) && parts.length > 1 && allFit(texts(parts.slice(0, 1)))) list = texts(parts.slice(0, 1));
    for (let j = 0; j < layer.n; j++) {
      const text = list[j];
      const w = ctx.measureText(text).width + 8;
      let x = at(w);
      let y = layer.ys[j] + layout.s / 2;
      if (!fits(w)) { // no room beside it: above it
        x = Math.max(2, Math.min(layout.width - w - 2, layer.x + layout.s / 2 - w / 2));
        y = layer.ys[j] - 7 - ring;
      }
      ctx.fillStyle = colors.label;
      ctx.fillRect(x, y - 7, w, 14);
      ctx.fillStyle = colors.ink;
      ctx.fillText(text, x + 4, y);
      out.push({ l, k: j, text });
    }
    return out;
  }

  /** The page's selection, outlined (it is where "check this gradient" points). */
  mark(ctx, layout, sel, colors) {
    ctx.strokeStyle = colors.ink;
    ctx.lineWidth = 2;
    ctx.setLineDash([4, 3]);
    if (sel.kind === "neuron") {
      const layer = layout.layers[sel.l];
      if (layer && !layer.wide && sel.j < layer.n) {
        const pad = Math.max(2, Math.round(layout.s * 0.12)) + 5;
        ctx.strokeRect(layer.x - pad, layer.ys[sel.j] - pad, layout.s + 2 * pad, layout.s + 2 * pad);
      }
    } else {
      const gap = layout.gaps[sel.l - 1];
      if (gap && !gap.matrix && sel.i < gap.rows && sel.j < gap.cols) {
        const E = gap.edges;
        const e = (sel.i * gap.cols + sel.j) * 4;
        ctx.beginPath();
        ctx.moveTo(E[e], E[e + 1] - 4);
        ctx.lineTo(E[e + 2], E[e + 3] - 4);
        ctx.stroke();
      }
    }
    ctx.setLineDash([]);
  }
}
