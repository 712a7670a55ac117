// The charts while a run streams: the same traces as the Plotly chart (colours, dashes, axes, margins; on a
// DPR-1 screen thinner lines, see drawLive), drawn on a canvas laid over it. A Plotly update redraws its whole
// chart and costs 20 ms on an idle machine, two to four times that while training takes a core — a long task
// each time; this costs a millisecond or two.
// It also shows while the page travels in time, with the shown epoch's dotted line (a Plotly relayout for the
// line cost 50-150 ms at each step of a scrubber drag). Plotly takes over again (brought up to date) when
// the run stops streaming and the page shows the newest epoch, or a pointer comes over the chart to hover it.

import { supText } from "../format.js";

const FONT = "11px system-ui, sans-serif";

/** About `count` round tick values over [lo, hi] (1, 2 or 5 × a power of ten apart). */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || 10 * p;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function tickText(v) {
  const a = Math.abs(v);
  if (a >= 10000) return `${+(v / 1000).toPrecision(3)}k`;
  if (a >= 1 || a === 0) return String(+v.toPrecision(4));
  return String(+v.toPrecision(2));
}

function powerText(k) {
  return `10${k < 0 ? "⁻" : ""}${supText(Math.abs(k))}`;
}

/** [lo, hi] of the finite values (positive only for a log axis) of the traces on one axis, or null. */
function extent(traces, log) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of traces) {
    for (const v of t.y) {
      if (v === null || !Number.isFinite(v) || (log && v <= 0)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

/**
 * Draw `traces` (Plotly trace objects: x, y, line {color, width, dash}, yaxis "y2" for the right axis) on
 * `canvas`, `cssW` CSS pixels wide, with Plotly's layout's height, margins and y-axis type; `theme`: {ink,
 * plot, grid, zero, mark}; `marker`: the epoch the page shows while it travels in time (a dotted line, as
 * the Plotly chart's), or null.
 * Returns what was drawn: {points, lastX}.
 */
export function drawLive(canvas, cssW, traces, layout, theme, marker = null) {
  const dpr = window.devicePixelRatio || 1;
  const cssH = layout.height;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  const m = layout.margin;
  const x0 = m.l;
  const y0 = m.t;
  const w = Math.max(1, cssW - m.l - m.r);
  const h = Math.max(1, cssH - m.t - m.b);
  ctx.fillStyle = theme.plot;
  ctx.fillRect(x0, y0, w, h);
  let xMax = 0;
  for (const t of traces) if (t.x.length) xMax = Math.max(xMax, t.x[t.x.length - 1]);
  const xHi = xMax > 0 ? xMax : 1;
  const left = traces.filter((t) => t.yaxis !== "y2");
  const right = traces.filter((t) => t.yaxis === "y2");
  const log = layout.yaxis && layout.yaxis.type === "log";
  let [lo, hi] = extent(left, log) || (log ? [0.1, 1] : [0, 1]);
  if (log) {
    lo = Math.log10(lo);
    hi = Math.log10(hi);
  }
  if (hi - lo < 1e-12) {
    lo -= 0.5;
    hi += 0.5;
  } else {
    const pad = (hi - lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
  const px = (v) => x0 + (v / xHi) * w;
  const py = (v) => y0 + h - ((v - lo) / (hi - lo)) * h;
  const py2 = (v) => y0 + h - (v / 1.02) * h;
  ctx.font = FONT;
  ctx.lineWidth = 1;
  // grid and tick labels
  ctx.strokeStyle = theme.grid;
  ctx.fillStyle = theme.ink;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const yTicks = log ? niceTicks(Math.ceil(lo), Math.floor(hi), Math.max(1, Math.floor(hi) - Math.ceil(lo)))
    .filter((k) => Number.isInteger(k)) : niceTicks(lo, hi, 4);
  ctx.beginPath();
  for (const v of yTicks) {
    const y = Math.round(py(v)) + 0.5;
    ctx.moveTo(x0, y);
    ctx.lineTo(x0 + w, y);
  }
  const xTicks = niceTicks(0, xHi, 5);
  for (const v of xTicks) {
    const x = Math.round(px(v)) + 0.5;
    ctx.moveTo(x, y0);
    ctx.lineTo(x, y0 + h);
  }
  ctx.stroke();
  for (const v of yTicks) ctx.fillText(log ? powerText(v) : tickText(v), x0 - 4, py(v));
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const v of xTicks) ctx.fillText(tickText(v), px(v), y0 + h + 4);
  if (right.length && layout.yaxis2 && layout.yaxis2.visible !== false) {
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    for (const v of [0, 0.5, 1]) ctx.fillText(`${v * 100}%`, x0 + w + 4, py2(v));
  }
  // the traces, clipped to the plot area
  ctx.save();
  ctx.beginPath();
  ctx.rect(x0, y0, w, h);
  ctx.clip();
  let points = 0;
  // At one device pixel per CSS pixel the lines are 1 px wide (Plotly's are 1.5–2): a software rasteriser
  // (a machine without GPU raster) strokes a 1-px path about four times faster, and a chart of 700 points a
  // trace cost 3 ms a redraw at 1.5 px, in the commit of the page's frame (benchmarks/bench_watch.py).
  const thin = dpr === 1;
  for (const t of traces) {
    const onRight = t.yaxis === "y2";
    const line = t.line || {};
    ctx.strokeStyle = line.color || theme.ink;
    ctx.lineWidth = thin ? 1 : line.width || 1.5;
    ctx.setLineDash(line.dash === "dot" ? [2, 3] : line.dash === "dash" ? [6, 4] : []);
    ctx.beginPath();
    let pen = false;
    for (let k = 0; k < t.x.length; k++) {
      let v = t.y[k];
      if (v === null || !Number.isFinite(v) || (log && !onRight && v <= 0)) {
        pen = false; // a gap in the line, as Plotly leaves it
        continue;
      }
      if (log && !onRight) v = Math.log10(v);
      const X = px(t.x[k]);
      const Y = onRight ? py2(v) : py(v);
      if (pen) ctx.lineTo(X, Y);
      else ctx.moveTo(X, Y);
      pen = true;
      points++;
    }
    ctx.stroke();
  }
  if (marker !== null) {
    const x = Math.round(px(marker)) + 0.5;
    ctx.strokeStyle = theme.mark;
    ctx.lineWidth = 1;
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(x, y0);
    ctx.lineTo(x, y0 + h);
    ctx.stroke();
  }
  ctx.restore();
  ctx.setLineDash([]);
  ctx.strokeStyle = theme.zero;
  ctx.strokeRect(x0 + 0.5, y0 + 0.5, w - 1, h - 1);
  return { points, lastX: xMax };
}
