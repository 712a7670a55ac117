// The numbers of one walkthrough frame, as tables laid out like the equation they fill in: for zˡ = aˡ⁻¹Wˡ + bˡ
// the rows are the neurons j of layer l−1 (headed by their aⱼ), the columns the neurons k of layer l; for
// ∂Cₓ/∂Wˡ = aˡ⁻¹ᵀδˡ the rows are headed by aⱼ and the columns by δₖ, and each cell is their product.
//
// Every number is the server's (the walkthrough answer), shown with 4 significant digits; its exact value
// and what it is are kept in data- attributes (data-q: the quantity, data-l: its layer, data-j/data-k: its
// row and column, or data-k alone for a neuron), which the end-to-end tests read back.

import { fmt, subText as sub, supText as sup } from "../format.js";

const MAX_ROWS = 10; // rows and columns of a matrix shown; the rest is counted, not listed
const MAX_COLS = 10;

/** An element with attributes and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** A number of the answer: 4 digits shown, the exact value and its name in data- attributes. */
export function num(value, q, { l = null, j = null, k = null, cls = "" } = {}) {
  return h("span", { class: `num${cls ? ` ${cls}` : ""}`, "data-q": q, "data-l": l, "data-j": j, "data-k": k,
    "data-value": value === null ? "null" : String(value), title: value === null ? "overflowed" : String(value) }, fmt(value));
}

const p = (text, cls = "") => h("p", { class: cls }, text);
const layerName = (l, L) => (l === 0 ? "the input" : l === L ? "the output layer" : `hidden layer ${l}`);
const a = (l, k) => `a${sup(l)}${sub(k + 1)}`;

/** Rows and columns shown of an n × m matrix, and a note naming what is left out. */
function cropped(n, m, what) {
  const rows = Math.min(n, MAX_ROWS);
  const cols = Math.min(m, MAX_COLS);
  const note = rows < n || cols < m ? p(`Showing ${rows} of ${n} rows and ${cols} of ${m} columns of ${what}; `
    + "the diagram shows them all.", "walk-note") : null;
  return { rows, cols, note };
}

/**
 * A matrix table. head(k): the column header of column k; rowHead(j): the header of row j; cell(j, k): the
 * cell's content; extra: rows below ({label, cell(k)}); right: columns at the right ({label, cell(j)}).
 */
function matrix({ n, m, what, corner = "", head, rowHead, cell, extra = [], right = [] }) {
  const { rows, cols, note } = cropped(n, m, what);
  const heads = [h("th", { scope: "col" }, corner)];
  for (let k = 0; k < cols; k++) heads.push(h("th", { scope: "col" }, head(k)));
  for (const r of right) heads.push(h("th", { scope: "col", class: "walk-right" }, r.label));
  const body = [];
  for (let j = 0; j < rows; j++) {
    const tds = [h("th", { scope: "row" }, rowHead(j))];
    for (let k = 0; k < cols; k++) tds.push(h("td", {}, cell(j, k)));
    for (const r of right) tds.push(h("td", { class: "walk-right" }, r.cell(j)));
    body.push(h("tr", {}, tds));
  }
  for (const x of extra) {
    const tds = [h("th", { scope: "row" }, x.label)];
    for (let k = 0; k < cols; k++) tds.push(h("td", {}, x.cell(k)));
    for (let r = 0; r < right.length; r++) tds.push(h("td", { class: "walk-right" }));
    body.push(h("tr", { class: "walk-extra" }, tds));
  }
  return [h("div", { class: "walk-table-wrap" }, h("table", { class: "walk-table" }, h("thead", {}, h("tr", {}, heads)), h("tbody", {}, body))), note];
}

function forward(ans, l) {
  const L = ans.layer_sizes.length - 1;
  const layer = ans.layers[l - 1];
  const prevA = l === 1 ? ans.probe.x : ans.layers[l - 2].a;
  const intro = l === 1
    ? `a⁰ is the probe's input: example #${ans.probe.index}'s features, as the network sees them.`
    : `aˡ⁻¹ is what ${layerName(l - 1, L)} computed for the probe in the frame before.`;
  return [
    p(`${intro} Down each column: every row's a times the weight in the cell, summed, plus the bias, is z; `
      + `then σ = ${layer.activation} gives a.`, "walk-how"),
    ...matrix({
      n: ans.layer_sizes[l - 1], m: ans.layer_sizes[l], what: `W${sup(l)}`, corner: `W${sup(l)}ⱼₖ`,
      head: (k) => `k = ${k + 1}`,
      rowHead: (j) => [`${a(l - 1, j)} = `, num(prevA[j], "a", { l: l - 1, k: j })],
      cell: (j, k) => num(layer.W[j][k], "W", { l, j, k }),
      extra: [
        { label: `+ b${sup(l)}ₖ`, cell: (k) => num(layer.b[k], "b", { l, k }) },
        { label: `= z${sup(l)}ₖ`, cell: (k) => num(layer.z[k], "z", { l, k, cls: "strong" }) },
        { label: `a${sup(l)}ₖ = σ(z)`, cell: (k) => num(layer.a[k], "a", { l, k, cls: "strong" }) },
      ],
    }),
  ];
}

function vectorTable(rows, n, label) {
  const heads = [h("th", { scope: "col" }, label), ...rows.map((r) => h("th", { scope: "col" }, r.label))];
  const body = [];
  for (let k = 0; k < Math.min(n, MAX_ROWS); k++) {
    body.push(h("tr", {}, h("th", { scope: "row" }, `k = ${k + 1}`), ...rows.map((r) => h("td", {}, r.cell(k)))));
  }
  const note = n > MAX_ROWS ? p(`Showing ${MAX_ROWS} of ${n} output neurons.`, "walk-note") : null;
  return [h("div", { class: "walk-table-wrap" }, h("table", { class: "walk-table" }, h("thead", {}, h("tr", {}, heads)), h("tbody", {}, body))), note];
}

function cost(ans) {
  const L = ans.layer_sizes.length - 1;
  const out = ans.layers[L - 1];
  const n = ans.batch_indices.length;
  const reg = ans.regularization;
  return [
    p("The probe's answer aᴸ against its target y (the equation above, for one example, is its Cₓ):", "walk-how"),
    ...vectorTable([
      { label: "aᴸₖ", cell: (k) => num(out.a[k], "a", { l: L, k }) },
      { label: "yₖ", cell: (k) => num(ans.probe.y[k], "y", { l: L, k }) },
    ], ans.layer_sizes[L], "output"),
    h("p", { class: "walk-result" }, `Cₓ of the probe (example #${ans.probe.index}) = `, num(ans.probe.cost, "cost_probe", { cls: "strong" })),
    h("p", { class: "walk-result" }, `C of the batch (its ${n} examples, averaged) = `,
      num(ans.batch_cost_before, "cost_before", { cls: "strong" }),
      reg ? [`, of which the ${reg.name.toUpperCase()} penalty ${reg.formula.replace(/^C \+ /, "")} = `, num(ans.penalty_before, "penalty_before")] : null),
  ];
}

function outputDelta(ans) {
  const L = ans.layer_sizes.length - 1;
  const out = ans.layers[L - 1];
  const rows = [
    { label: "aᴸₖ", cell: (k) => num(out.a[k], "a", { l: L, k }) },
    { label: "yₖ", cell: (k) => num(ans.probe.y[k], "y", { l: L, k }) },
  ];
  if (out.sigma_prime) rows.push({ label: "σ′(zᴸₖ)", cell: (k) => num(out.sigma_prime[k], "sp", { l: L, k }) });
  rows.push({ label: "δᴸₖ", cell: (k) => num(out.delta[k], "delta", { l: L, k, cls: "strong" }) });
  return [p("The equation above filled in for the probe, one row per output neuron.", "walk-how"), ...vectorTable(rows, ans.layer_sizes[L], "output")];
}

function hiddenDelta(ans, l) {
  const layer = ans.layers[l - 1];
  const next = ans.layers[l];
  return [
    p(`Along each row: every weight of W${sup(l + 1)} times the δ${sup(l + 1)} heading its column, summed, then times `
      + "the row's own σ′(z) gives its δ. The errors travel the edges backward, from layer "
      + `${l + 1} to layer ${l}.`, "walk-how"),
    ...matrix({
      n: ans.layer_sizes[l], m: ans.layer_sizes[l + 1], what: `W${sup(l + 1)}`, corner: `W${sup(l + 1)}ⱼₖ`,
      head: (k) => [`δ${sup(l + 1)}${sub(k + 1)} = `, num(next.delta[k], "delta", { l: l + 1, k })],
      rowHead: (j) => `j = ${j + 1}`,
      cell: (j, k) => num(next.W[j][k], "W", { l: l + 1, j, k }),
      right: [
        { label: `σ′(z${sup(l)}ⱼ)`, cell: (j) => num(layer.sigma_prime[j], "sp", { l, k: j }) },
        { label: `δ${sup(l)}ⱼ`, cell: (j) => num(layer.delta[j], "delta", { l, k: j, cls: "strong" }) },
      ],
    }),
  ];
}

function gradient(ans, l, part) {
  const layer = ans.layers[l - 1];
  const prevA = l === 1 ? ans.probe.x : ans.layers[l - 2].a;
  const n = ans.batch_indices.length;
  const dims = { n: ans.layer_sizes[l - 1], m: ans.layer_sizes[l], what: `∂C/∂W${sup(l)}`, corner: `∂/∂W${sup(l)}ⱼₖ` };
  if (part === "probe") {
    return [
      p("Each cell is its row's a times its column's δ, both the probe's: the outer product aˡ⁻¹ᵀ δˡ. The bias "
        + "row is δ itself (a bias is an edge from a constant 1).", "walk-how"),
      ...matrix({
        ...dims,
        head: (k) => [`δ${sup(l)}${sub(k + 1)} = `, num(layer.delta[k], "delta", { l, k })],
        rowHead: (j) => [`${a(l - 1, j)} = `, num(prevA[j], "a", { l: l - 1, k: j })],
        cell: (j, k) => num(layer.dW_probe[j][k], "dWp", { l, j, k, cls: "strong" }),
        extra: [{ label: `∂Cₓ/∂b${sup(l)}ₖ`, cell: (k) => num(layer.db_probe[k], "dbp", { l, k, cls: "strong" }) }],
      }),
    ];
  }
  const reg = ans.regularization;
  const cell = (j, k) => {
    const main = num(layer.dW[j][k], "dW", { l, j, k, cls: "strong" });
    const probe = h("span", { class: "walk-sub" }, "probe ", num(layer.dW_probe[j][k], "dWp", { l, j, k }));
    if (!reg) return [main, probe];
    return [main, h("span", { class: "walk-sub" }, "avg ", num(layer.dW_data[j][k], "dWdata", { l, j, k }), " + pen. ",
      num(layer.dW_penalty[j][k], "dWpen", { l, j, k })), probe];
  };
  const inBatch = ans.probe.in_batch ? "the probe is one of them" : "the probe is not one of them";
  return [
    p(`The batch's gradient: the average of the ${n} examples' a·δ (${inBatch}; its own value is the small one in `
      + `each cell)${reg ? `, plus the ${reg.name.toUpperCase()} penalty's ${reg.gradient.replace(/^\+ /, "")}` : ""}. `
      + "This, not the probe's, is what the update uses.", "walk-how"),
    ...matrix({
      ...dims, head: (k) => `k = ${k + 1}`, rowHead: (j) => `j = ${j + 1}`, cell,
      extra: [{ label: `∂C/∂b${sup(l)}ₖ`, cell: (k) => [num(layer.db[k], "db", { l, k, cls: "strong" }),
        h("span", { class: "walk-sub" }, "probe ", num(layer.db_probe[k], "dbp", { l, k }))] }],
    }),
  ];
}

/** "before → after" in a cell: on one line when the table fits, else "→ after" under "before". */
const change = (before, after) => h("span", { class: "walk-change" }, before, " ", h("span", { class: "walk-after" }, "→ ", after));

function update(ans, part) {
  const out = [];
  const momentum = ans.optimizer.momentum !== null;
  if (part === "before") {
    out.push(h("p", { class: "walk-how" }, `${ans.optimizer.formula}, with η = `, num(ans.learning_rate, "eta"),
      momentum ? ` and the velocity's factor μ = ${ans.optimizer.momentum}` : "", ". Each cell: the weight now, and below it its ∂C/∂w."));
  } else {
    out.push(p(momentum ? "Each cell: the weight before → after; it moved by the velocity v (μ times the previous step, minus η ∂C/∂w)."
      : "Each cell: the weight before → after, w − η ∂C/∂w.", "walk-how"));
  }
  for (const layer of ans.layers) {
    const l = layer.layer;
    out.push(h("h4", {}, `W${sup(l)} and b${sup(l)} (${ans.layer_sizes[l - 1]} × ${ans.layer_sizes[l]})`));
    const before = part === "before";
    out.push(...matrix({
      n: ans.layer_sizes[l - 1], m: ans.layer_sizes[l], what: `W${sup(l)}`, corner: "",
      head: (k) => `k = ${k + 1}`, rowHead: (j) => `j = ${j + 1}`,
      cell: (j, k) => (before
        ? [num(layer.W[j][k], "W", { l, j, k, cls: "strong" }), h("span", { class: "walk-sub" }, "∂C/∂w ", num(layer.dW[j][k], "dW", { l, j, k }))]
        : change(num(layer.W[j][k], "W", { l, j, k }), num(layer.W_after[j][k], "Wafter", { l, j, k, cls: "strong" }))),
      extra: [{ label: `b${sup(l)}ₖ`, cell: (k) => (before
        ? [num(layer.b[k], "b", { l, k, cls: "strong" }), h("span", { class: "walk-sub" }, "∂C/∂b ", num(layer.db[k], "db", { l, k }))]
        : change(num(layer.b[k], "b", { l, k }), num(layer.b_after[k], "bafter", { l, k, cls: "strong" }))) }],
    }));
  }
  const n = ans.batch_indices.length;
  if (part === "after") {
    const lower = ans.batch_cost_after !== null && ans.batch_cost_after < ans.batch_cost_before;
    out.push(h("p", { class: "walk-result" }, `C of the same ${n} examples: before `, num(ans.batch_cost_before, "cost_before", { cls: "strong" }),
      ", after ", num(ans.batch_cost_after, "cost_after", { cls: "strong" }),
      ans.regularization ? [" (penalty ", num(ans.penalty_before, "penalty_before"), " → ", num(ans.penalty_after, "penalty_after"), ")"] : null,
      ans.finite ? (lower ? ": lower — the step went downhill." : ": higher — the step overshot; a smaller η would go downhill.")
        : ": the update overflowed (applied, the run would diverge)."));
  } else {
    out.push(h("p", { class: "walk-result" }, `C of the batch (${n} examples) before the update: `, num(ans.batch_cost_before, "cost_before", { cls: "strong" })));
  }
  return out;
}

/** The numbers of a frame of the walk of `answer`. */
export function frameNumbers(answer, frame) {
  switch (frame.step) {
    case "forward": return forward(answer, frame.l);
    case "cost": return cost(answer);
    case "output_delta": return outputDelta(answer);
    case "hidden_delta": return hiddenDelta(answer, frame.l);
    case "gradient": return gradient(answer, frame.l, frame.part);
    default: return update(answer, frame.part);
  }
}

/** A frame's title: its step's label and where it is. */
export function frameTitle(answer, frame, label) {
  const L = answer.layer_sizes.length - 1;
  switch (frame.step) {
    case "forward": return `${label} · layer ${frame.l} of ${L} (${layerName(frame.l, L)})`;
    case "hidden_delta": return `${label} · δ${sup(frame.l)} of ${layerName(frame.l, L)}`;
    case "gradient": return `${label} · ∂C/∂W${sup(frame.l)} and ∂C/∂b${sup(frame.l)}, ${frame.part === "probe" ? "the probe's a·δ" : "averaged over the batch"}`;
    case "update": return `${label} · ${frame.part === "before" ? "the weights and their gradients" : "after the step"}`;
    default: return label;
  }
}
