// The equation inspector: the seed's backpropagation equations, as MathML, with the live numbers of the
// selected neuron or edge plugged in. Every equation is written in the catalog's one convention
// (catalog.notation: row vectors, Wˡ of shape (n_{l−1}, n_l)); a line under the title gives the shapes and
// how the text's column form maps to it. Formulas of σ, σ′, costs and penalties are the catalog's text.
// Two slips of the seed are corrected: the hidden-layer formula uses σ'(zˡ) of the layer itself (the seed
// prints σ'(zᴸ)), and the update subtracts: w ← w − η ∂C/∂w. Neurons are numbered from 1 on the page; the
// arrays behind them from 0. One name per quantity: ∂C/∂W is the average over the training set (or the
// fixed sample the core takes of a big one: gradientScope), ∂Cₓ/∂W the probe example's own.

import { elementwise, entry, gradientScope, label } from "../catalog.js";
import { subText, supText } from "../format.js";
import { shownSnapshot } from "../state.js";
import { inputColumn } from "./network_tip.js";
import { el, line, mi, mn, mo, msub, mtext, pair, para, paren, partial, sum, sym } from "./inspector_math.js";

const MAX_TERMS = 4;
const MIN_INTERVAL = 200; // ms between redraws of the same selection

const lname = (l, L) => (l === L ? "L" : String(l));

function val(snap, name, k) {
  const t = snap.tensors[name];
  return t && k < t.data.length ? t.data[k] : NaN;
}

/** How many examples the snapshots' averages run over, in words (gradientScope). */
const scopeOf = (s) => gradientScope(s.catalog, s.data ? s.data.train.y.length : NaN);

/** The shapes of the selection's layer and the text's column form, in one line (the catalog's convention). */
function convention(s, l) {
  const n = s.layerSizes;
  const shapes = l >= 1 ? `here W${supText(l)} is ${n[l - 1]}×${n[l]}, a${supText(l - 1)} is 1×${n[l - 1]}, `
    + `z${supText(l)}, a${supText(l)} and δ${supText(l)} are 1×${n[l]}` : `here a⁰ is 1×${n[0]}`;
  const p = para(`Row form, one row per example: zˡ = aˡ⁻¹ Wˡ + bˡ, Wˡ is (n_{l−1}, n_l); ${shapes}. `
    + "The text writes column vectors: its wˡ is our (Wˡ)ᵀ, so its (wˡ⁺¹)ᵀ δˡ⁺¹ is our δˡ⁺¹ (Wˡ⁺¹)ᵀ.", "convention");
  p.title = `${s.catalog.notation.convention}. ${s.catalog.notation.seed}`;
  return p;
}

function inputBlocks(sel, snap, s) {
  const j = sel.j;
  const J = String(j + 1);
  const column = inputColumn(s);
  const name = (column.names && column.names[j]) ?? `x${J}`;
  const a = val(snap, "a0", j);
  const out = [para(`Input ${J} (${name}) of the probe example #${snap.probe_index}: it has no δ.`)];
  const d = s.data;
  if (d && d.standardized) {
    const mu = d.mean[j];
    const sc = d.scale[j];
    out.push(line(sym("a", J, "0"), mo("="), paren(msub("φ", J), paren(mi("x")), mo("−"), msub("μ", J)), mo("/"), msub("s", J),
      mo("="), paren(mn(a * sc + mu, "phi"), mo("−"), mn(mu, "mu", true)), mo("/"), mn(sc, "scale"), mo("="), mn(a, "a")));
    out.push(para(`μ and s: this input's mean and standard deviation over the training split (${s.catalog.notation.equations.inputs}).`, "note"));
  } else {
    out.push(line(sym("a", J, "0"), mo("="), msub("φ", J), paren(mi("x")), mo("="), mn(a, "a")));
    out.push(para("The inputs are not standardised: a⁰ is the feature itself.", "note"));
  }
  return out;
}

/** zⱼˡ = Σᵢ aᵢˡ⁻¹ Wˡᵢⱼ + bⱼˡ and aⱼˡ: σ(zⱼˡ) for an elementwise σ, the catalog's formula for the others. */
function forward(snap, s, l, j, L) {
  const J = String(j + 1);
  const ln = lname(l, L);
  const act = entry(s.catalog, "activations", s.activations[l - 1]);
  const z = val(snap, `z${l}`, j);
  const a = val(snap, `a${l}`, j);
  const out = [line(sym("z", J, ln), mo("="), mrowSum("i", sym("a", "i", String(l - 1)), sym("W", pair("i", J), ln)),
    mo("+"), sym("b", J, ln), mo("="), mn(z, "z"))];
  if (elementwise(s.catalog, act.name)) {
    out.push(line(sym("a", J, ln), mo("="), mi("σ"), paren(sym("z", J, ln)), mo("="), mn(a, "a")));
    out.push(para(`${act.label}: ${act.formula}.`, "note"));
  } else {
    // a neuron whose σ needs the whole layer (softmax): its own formula, not σ(zⱼ)
    out.push(line(sym("a", J, ln), mo(":"), mtext(` ${act.formula} `), mo("="), mn(a, "a")));
    out.push(para(`${act.label}: each output depends on every z of the layer, k = 1 … ${s.layerSizes[l]}.`, "note"));
  }
  return out;
}
const mrowSum = (index, ...terms) => el("mrow", sum(index), ...terms);

/** ∂Cₓ/∂bⱼ (probe) and ∂C/∂bⱼ (training set). */
function biasLines(snap, s, l, j, L) {
  const J = String(j + 1);
  const ln = lname(l, L);
  const delta = val(snap, `delta${l}`, j);
  return [
    line(partial(msub("C", "x"), sym("b", J, ln)), mo("="), sym("δ", J, ln), mo("="), mn(delta, "delta"), mtext("\u00a0(probe)")),
    line(partial("C", sym("b", J, ln)), mo("="), el("mfrac", mn(1), mi("n")), sum("x"), sym("δ", J, ln), paren(mi("x")),
      mo("="), mn(val(snap, `db${l}`, j), "db")),
    para(`∂C/∂b: ${scopeOf(s)}.`, "note"),
  ];
}

function outputDelta(snap, s, j) {
  const J = String(j + 1);
  const a = val(snap, `a${s.layerSizes.length - 1}`, j);
  const y = val(snap, "y", j);
  const delta = val(snap, `delta${s.layerSizes.length - 1}`, j);
  const cost = entry(s.catalog, "costs", s.run.config.cost);
  const out = [];
  if (cost && cost.delta.includes("σ′")) {
    // δᴸ = (aᴸ − y) ⊙ σ′(zᴸ): σ′(zᴸ) as the snapshot's numbers give it, δ ÷ (a − y)
    const z = val(snap, `z${s.layerSizes.length - 1}`, j);
    const sp = a - y !== 0 ? delta / (a - y) : NaN;
    out.push(line(sym("δ", J, "L"), mo("="), paren(sym("a", J, "L"), mo("−"), msub("y", J)), mo("⊙"), mi("σ′"), paren(sym("z", J, "L"))));
    out.push(line(mo("="), paren(mn(a, "a"), mo("−"), mn(y, "y", true)), mo("·"), mi("σ′"), paren(mn(z, "z")),
      mo("="), mn(a - y, "a-minus-y", true), mo("·"), Number.isFinite(sp) ? mn(sp, "sigma-prime", true) : mi("σ′"), mo("="), mn(delta, "delta")));
    out.push(para(`${derivative(s, s.activations[s.activations.length - 1])} ${cost.label} cost: ${cost.formula}.`, "note"));
  } else {
    out.push(line(sym("δ", J, "L"), mo("="), sym("a", J, "L"), mo("−"), msub("y", J), mo("="), mn(a, "a"), mo("−"), mn(y, "y", true),
      mo("="), mn(a - y, "a-minus-y", true), mo("="), mn(delta, "delta")));
    out.push(para(`${cost ? cost.label : "This"} cost (${cost ? cost.formula : ""}) with a ${label(s.catalog, "activations", s.activations[s.activations.length - 1])} output: ${cost ? cost.delta : ""}, σ′(zᴸ) cancels.`, "note"));
  }
  return out;
}

const derivative = (s, name) => {
  const a = entry(s.catalog, "activations", name);
  return a ? `${a.derivative}.` : "";
};

function hiddenDelta(snap, s, l, j, L) {
  const J = String(j + 1);
  const ln = lname(l, L);
  const nNext = s.layerSizes[l + 1];
  const W = snap.tensors[`W${l + 1}`];
  const delta = val(snap, `delta${l}`, j);
  let total = 0;
  for (let k = 0; k < nNext; k++) total += W.data[j * nNext + k] * val(snap, `delta${l + 1}`, k);
  const sp = total !== 0 ? delta / total : NaN; // σ′(zⱼˡ) as the snapshot's numbers give it
  const ln1 = lname(l + 1, L);
  const out = [line(sym("δ", J, ln), mo("="), paren(sum("k"), sym("W", pair(J, "k"), ln1), sym("δ", "k", ln1)),
    mi("σ′"), paren(sym("z", J, ln)))];
  const terms = [];
  const shown = nNext <= MAX_TERMS + 1 ? [...Array(nNext).keys()] : [0, 1, 2, nNext - 1];
  shown.forEach((k, idx) => {
    if (idx > 0) terms.push(mo("+"));
    if (nNext > MAX_TERMS + 1 && idx === 3) terms.push(mi("…"), mo("+"));
    terms.push(mn(W.data[j * nNext + k], `w${k}`, true), mo("·"), mn(val(snap, `delta${l + 1}`, k), `d${k}`, true));
  });
  out.push(line(mo("="), paren(...terms), mo("·"), mi("σ′"), paren(mn(val(snap, `z${l}`, j), "z"))));
  out.push(line(mo("="), mn(total, "sum", true), mo("·"), Number.isFinite(sp) ? mn(sp, "sigma-prime", true) : mi("σ′"), mo("="), mn(delta, "delta")));
  out.push(para(`Sum over the ${nNext} neurons k of layer ${l + 1}, along row ${J} of W${supText(l + 1)}: `
    + `for the whole layer δ${supText(l)} = (δ${supText(l + 1)} (W${supText(l + 1)})ᵀ) ⊙ σ′(z${supText(l)}). `
    + `${derivative(s, s.activations[l - 1])} (σ′ of this layer's own z)`, "note"));
  return out;
}

function neuronBlocks(sel, snap, s) {
  const L = s.layerSizes.length - 1;
  const { l, j } = sel;
  if (l === 0) return inputBlocks(sel, snap, s);
  const title = l === L ? `Output neuron ${j + 1}` : `Neuron ${j + 1} of hidden layer ${l}`;
  const act = label(s.catalog, "activations", s.activations[l - 1]);
  return [para(`${title} (σ: ${act}) for the probe example #${snap.probe_index}.`), convention(s, l),
    ...forward(snap, s, l, j, L), ...(l === L ? outputDelta(snap, s, j) : hiddenDelta(snap, s, l, j, L)),
    ...biasLines(snap, s, l, j, L)];
}

function edgeBlocks(sel, snap, s) {
  const L = s.layerSizes.length - 1;
  const { l, i, j } = sel;
  const e = i * s.layerSizes[l] + j;
  const I = String(i + 1);
  const J = String(j + 1);
  const ln = lname(l, L);
  const lp = String(l - 1);
  const w = val(snap, `W${l}`, e);
  const dW = val(snap, `dW${l}`, e);
  const aPrev = val(snap, `a${l - 1}`, i);
  const delta = val(snap, `delta${l}`, j);
  const eta = snap.learning_rate ?? s.run.config.learning_rate;
  const cfg = s.run.config;
  const wij = () => sym("W", pair(I, J), ln); // a fresh node per use: a DOM node lives in one place only
  const column = inputColumn(s);
  const from = l === 1 && column.names ? `input ${I} (${column.names[i]})` : `neuron ${I} of layer ${lp}`;
  const out = [para(`Weight W${supText(l)}${subText(pair(I, J))} from ${from} to neuron ${J} of layer ${l}.`), convention(s, l)];
  out.push(para("Probe example x alone:", "sub"));
  out.push(line(partial(msub("C", "x"), wij()), mo("="), sym("a", I, lp), sym("δ", J, ln),
    mo("="), mn(aPrev, "a-prev", true), mo("·"), mn(delta, "delta", true), mo("="), mn(aPrev * delta, "probe-grad")));
  out.push(para(`∂C/∂W, ${scopeOf(s)}:`, "sub"));
  const reg = cfg.regularization && cfg.regularization_rate > 0 ? entry(s.catalog, "regularizations", cfg.regularization) : null;
  // the penalty's term as the catalog writes it for the whole matrix, here for this one weight
  const regTerm = reg ? [mtext(` ${reg.gradient.replace(/Wˡ/g, `W${supText(l)}${subText(pair(I, J))}`)} `)] : [];
  out.push(line(partial("C", wij()), mo("="), el("mfrac", mn(1), mi("n")), sum("x"),
    sym("a", I, lp), paren(mi("x")), sym("δ", J, ln), paren(mi("x")), ...regTerm, mo("="), mn(dW, "dW")));
  if (reg) {
    out.push(para(`${reg.label} regularisation, λ = ${cfg.regularization_rate}: the cost is ${reg.formula}, so ∂C/∂W gains ${reg.gradient}; `
      + "the ∂C/∂w shown and streamed include it.", "note"));
  }
  out.push(para("Gradient descent (the update subtracts):", "sub"));
  out.push(line(wij(), mo("←"), wij(), mo("−"), mi("η"), partial("C", wij()), mo("="), mn(w, "w"), mo("−"), mn(eta, "eta"),
    mo("·"), mn(dW, "dW", true), mo("="), mn(w - eta * dW, "w-new")));
  const opt = entry(s.catalog, "optimizers", cfg.optimizer);
  if (opt && opt.name !== s.catalog.config.defaults.optimizer) {
    out.push(para(`With ${opt.label} the step is ${opt.formula}${cfg[opt.name] !== undefined ? `, ${opt.name} = ${cfg[opt.name]}` : ""}.`, "note"));
  }
  out.push(para("Training takes this step on each mini-batch's average, not the whole set's.", "note"));
  return out;
}

/** While a run is paused: a field to set the selected weight or bias by hand (PATCH parameter). */
function editForm(sel, snap, s, actions) {
  const weight = sel.kind === "edge";
  if (!weight && sel.l === 0) return null;
  const e = weight ? sel.i * s.layerSizes[sel.l] + sel.j : sel.j;
  const current = val(snap, `${weight ? "W" : "b"}${sel.l}`, e);
  const form = document.createElement("form");
  form.className = "edit-param";
  const text = document.createElement("label");
  text.textContent = weight ? "Set this weight: w = " : "Set this bias: b = ";
  const input = document.createElement("input");
  input.type = "number";
  input.step = "any";
  input.value = String(Number(current.toPrecision(6)));
  input.setAttribute("aria-label", weight ? "new value of the weight" : "new value of the bias");
  text.append(input);
  const btn = document.createElement("button");
  btn.type = "submit";
  btn.className = "small-btn";
  btn.textContent = "set";
  form.append(text, btn);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = Number(input.value);
    if (input.value.trim() === "" || !Number.isFinite(value)) {
      actions.message("error", `'${input.value}' is not a number`);
      return;
    }
    const edit = weight ? { kind: "weight", layer: sel.l, row: sel.i, col: sel.j, value } : { kind: "bias", layer: sel.l, row: sel.j, value };
    actions.editParameter(edit);
  });
  return form;
}

export function mountInspector(root, actions) {
  const body = root.querySelector(".inspector-body");
  const head = root.querySelector(".inspector-head");
  const edit = root.querySelector(".inspector-edit");
  root.querySelector(".inspector-close").addEventListener("click", () => actions.select(null));
  let drawnKey = "";
  let drawnSel = "";
  let drawnAt = 0;
  let timer = 0;
  let editKey = "";
  let shownSel = null;
  return {
    update(s) {
      const snap = shownSnapshot(s);
      const sel = s.selection;
      // with nothing selected the text does not depend on the snapshot
      const key = [JSON.stringify(sel), sel ? s.following : "", sel ? s.rev.run : "", s.rev.data,
        sel && snap ? snap.serial : !!(snap && snap.tensors.W1)].join("|");
      if (key === drawnKey) return;
      // numbers that change 30 times a second cannot be read: while training, at most 5 updates a second
      const selKey = JSON.stringify(sel);
      const now = performance.now();
      if (selKey === drawnSel && now - drawnAt < MIN_INTERVAL) {
        if (!timer) timer = setTimeout(() => { timer = 0; actions.requestFrame(); }, MIN_INTERVAL - (now - drawnAt));
        return;
      }
      drawnKey = key;
      drawnSel = selKey;
      drawnAt = now;
      root.classList.toggle("empty", !sel);
      const editable = !!sel && !!snap && s.following && !!s.run && s.run.state === "paused";
      const eKey = editable ? `${selKey}|${snap.serial}` : "";
      // a new number for the same selection does not replace the field while it is being typed in
      const typing = editable && edit.contains(document.activeElement) && editKey.startsWith(`${selKey}|`);
      if (eKey !== editKey && !typing) {
        editKey = eKey;
        const form = editable ? editForm(sel, snap, s, actions) : null;
        edit.replaceChildren(...(form ? [form] : []));
      }
      if (!sel || !snap || !snap.tensors.W1) {
        head.textContent = "Equation inspector";
        body.replaceChildren(para("Press play (or the space bar) to train. Click a neuron or an edge of the network to "
          + "see its backpropagation equation with the live numbers; hover for the values. While paused, you can set "
          + "the weight or bias you clicked."));
        return;
      }
      const valid = sel.kind === "neuron" ? sel.l < s.layerSizes.length && sel.j < s.layerSizes[sel.l]
        : sel.l >= 1 && sel.l < s.layerSizes.length && sel.i < s.layerSizes[sel.l - 1] && sel.j < s.layerSizes[sel.l];
      if (!valid) {
        body.replaceChildren(para("The selection is not part of this network."));
        return;
      }
      const where = `epoch ${snap.epoch}${snap.batch ? `, after batch ${snap.batch}` : ""}${s.following ? "" : " (time travel)"}`;
      head.textContent = `${sel.kind === "neuron" ? (sel.l === 0 ? "an input" : "δ of a neuron") : "∂C/∂w of a weight"} · ${where}`;
      body.replaceChildren(...(sel.kind === "neuron" ? neuronBlocks(sel, snap, s) : edgeBlocks(sel, snap, s)));
      body.dataset.epoch = String(snap.epoch);
      body.dataset.batch = String(snap.batch || 0);
      if (sel !== shownSel) {
        shownSel = sel;
        // a new selection whose equation is below the screen's edge: scroll just enough for its first lines,
        // instantly (a smooth scroll would move targets under the pointer); the top bar, with play, stays
        const r = root.getBoundingClientRect();
        const room = Math.max(220, window.innerHeight * 0.3);
        if (r.top > window.innerHeight - room / 2) window.scrollBy(0, r.top - (window.innerHeight - room));
      }
    },
  };
}
