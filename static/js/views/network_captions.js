// The diagram's captions, on a canvas of their own (drawn when the layout changes): the layer names under
// the columns and the input names beside the inputs, cut with "…" to the room there is.

/**
 * The layer names under the columns and the input names beside the inputs (cut with "…" to the room
 * there is; the hover box has the whole name). opts: {inputNames, offNames}.
 */
export function drawCaptions(ctx, layout, opts, th) {
  const L = layout.layers.length - 1;
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = th.muted;
  ctx.textAlign = "center";
  ctx.textBaseline = "alphabetic";
  for (const layer of layout.layers) {
    const name = layer.l === 0 ? "input" : layer.l === L ? "output" : `hidden ${layer.l}`;
    const cx = layer.x + layer.w / 2;
    ctx.fillText(layer.wide ? `${name} (${layer.n})` : name, cx, layout.height - 6);
  }
  const first = layout.layers[0];
  const room = first.x - 6;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const put = (text, y) => ctx.fillText(fitText(ctx, String(text), room), first.x - 5, y);
  if (first.wide) {
    const step = Math.max(1, Math.ceil(10 / first.cellH)); // a label every row that has 10 px
    ctx.font = `${Math.min(11, Math.max(8, first.cellH - 1))}px system-ui, sans-serif`;
    for (let j = 0; j < first.n; j += step) put(opts.inputNames?.[j] ?? `x${j + 1}`, first.y0 + (j + 0.5) * first.cellH);
  } else if (layout.s >= 8) {
    for (let j = 0; j < first.n; j++) put(opts.inputNames?.[j] ?? `x${j + 1}`, first.ys[j] + layout.s / 2);
    ctx.fillStyle = th.skeleton;
    for (const o of first.off) put(opts.offNames?.[o.name] ?? o.name, o.y + layout.s / 2);
  }
  ctx.textBaseline = "alphabetic";
}

/** `text` cut with "…" to at most `width` px in the context's font. */
export function fitText(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ctx.measureText(`${text.slice(0, mid)}…`).width <= width) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}
