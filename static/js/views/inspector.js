// The equation inspector: the seed's backpropagation equations, as MathML, with the live numbers of the
// selected neuron or edge plugged in. Two slips of the seed are corrected here: the hidden-layer formula
// uses σ'(zˡ) of the layer itself (the seed prints σ'(zᴸ)), and the update subtracts: w ← w − η ∂C/∂w.
// Neurons are numbered from 1 on the page; the arrays behind them from 0.

import { fmt } from "../format.js";
import { shownSnapshot } from "../state.js";

const NS = "http://www.w3.org/1998/Math/MathML";
const MAX_TERMS = 4;
const MIN_INTERVAL = 200; // ms between redraws of the same selection

function el(tag, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const c of children) node.append(typeof c === "string" ? document.createTextNode(c) : c);
  return node;
}
const mi = (t) => el("mi", t);
const mo = (t) => el("mo", t);
const mrow = (...c) => el("mrow", ...c);
const msub = (b, s) => el("msub", typeof b === "string" ? mi(b) : b, typeof s === "string" ? mi(s) : s);
const msubsup = (b, s, p) => el("msubsup", typeof b === "string" ? mi(b) : b, typeof s === "string" ? mi(s) : s, typeof p === "string" ? mi(p) : p);
const paren = (...c) => mrow(mo("("), ...c, mo(")"));
/** A number, with its exact value kept in data-value for tests; negatives in parentheses after an operator. */
function mn(value, role, wrap = false) {
  const node = el("mn", fmt(value));
  node.setAttribute("data-value", String(value));
  if (role) node.setAttribute("data-role", role);
  return wrap && value < 0 ? paren(node) : node;
}
const sym = (letter, sub, layer) => msubsup(letter, String(sub), String(layer));
const lname = (l, L) => (l === L ? "L" : String(l));
/** A double subscript: "12", or "12,3" when an index has more than one digit. */
const pair = (a, b) => (String(a).length > 1 || String(b).length > 1 ? `${a},${b}` : `${a}${b}`);
/** One equation on its own line, left-aligned, scrolling sideways when it is wider than the panel. */
function line(...children) {
  const div = document.createElement("div");
  div.className = "eq";
  div.append(el("math", mrow(...children)));
  return div;
}

/** σ'(z) from z and a = σ(z), as the core computes it (activations.py). */
export function sigmaPrime(name, z, a) {
  switch (name) {
    case "sigmoid": return a * (1 - a);
    case "tanh": return 1 - a * a;
    case "relu": return z > 0 ? 1 : 0;
    case "leaky_relu": return z > 0 ? 1 : 0.01;
    case "linear": return 1;
    default: return NaN;
  }
}
const PRIME_TEXT = { sigmoid: "σ(z)(1 − σ(z))", tanh: "1 − tanh²(z)", relu: "1 if z > 0 else 0", leaky_relu: "1 if z > 0 else 0.01", linear: "1" };

function val(snap, name, k) {
  const t = snap.tensors[name];
  return t && k < t.data.length ? t.data[k] : NaN;
}

function para(text, cls) {
  const p = document.createElement("p");
  p.textContent = text;
  if (cls) p.className = cls;
  return p;
}

function neuronBlocks(sel, snap, s) {
  const L = s.layerSizes.length - 1;
  const { l, j } = sel;
  const J = String(j + 1);
  const ln = lname(l, L);
  const a = val(snap, `a${l}`, j);
  if (l === 0) {
    const feat = (s.data && s.data.feature_names[j]) || `x${j + 1}`;
    return [para(`Input ${J} (${feat}) of the probe example: a⁰ is the input itself; it has no δ.`),
      line(sym("a", J, "0"), mo("="), msub("x", J), mo("="), mn(a, "a"))];
  }
  const z = val(snap, `z${l}`, j);
  const delta = val(snap, `delta${l}`, j);
  const act = s.activations[l - 1];
  const out = [];
  const title = l === L ? `Output neuron ${J}` : `Neuron ${J} of hidden layer ${l}`;
  out.push(para(`${title} (σ = ${act}) for the probe example #${snap.probe_index}.`));
  // forward: z = Σᵢ aᵢ wᵢⱼ + bⱼ, a = σ(z)
  out.push(line(sym("z", J, ln), mo("="), mrow(el("munder", mo("∑"), mi("i")), sym("a", "i", l - 1 === 0 ? "0" : String(l - 1)), sym("w", pair("i", J), ln)),
    mo("+"), sym("b", J, ln), mo("="), mn(z, "z"), mo(","), el("mspace"), sym("a", J, ln), mo("="), mi("σ"), paren(sym("z", J, ln)), mo("="), mn(a, "a")));
  if (l === L) {
    const y = val(snap, "y", j);
    const cost = s.run ? s.run.config.cost : "quadratic";
    if (cost === "quadratic") {
      const sp = sigmaPrime(act, z, a);
      out.push(line(sym("δ", J, "L"), mo("="), paren(sym("a", J, "L"), mo("−"), msub("y", J)), mo("⊙"), mi("σ′"), paren(sym("z", J, "L"))));
      out.push(line(mo("="), paren(mn(a, "a"), mo("−"), mn(y, "y", true)), mo("·"), mi("σ′"), paren(mn(z, "z")),
        mo("="), mn(a - y, "a-minus-y", true), mo("·"), mn(sp, "sigma-prime", true), mo("="), mn(delta, "delta")));
      out.push(para(`σ′(z) = ${PRIME_TEXT[act] || "?"}; quadratic cost Cₓ = ½‖aᴸ − y‖².`, "note"));
    } else {
      out.push(line(sym("δ", J, "L"), mo("="), sym("a", J, "L"), mo("−"), msub("y", J), mo("="), mn(a, "a"), mo("−"), mn(y, "y", true), mo("="), mn(delta, "delta")));
      out.push(para(`With ${act} output and the ${cost.replace(/_/g, " ")} cost, σ′(zᴸ) cancels against ∂C/∂aᴸ.`, "note"));
    }
  } else {
    const nNext = s.layerSizes[l + 1];
    const W = snap.tensors[`W${l + 1}`];
    const sp = sigmaPrime(act, z, a);
    let sum = 0;
    for (let k = 0; k < nNext; k++) sum += W.data[j * nNext + k] * val(snap, `delta${l + 1}`, k);
    const ln1 = lname(l + 1, L);
    out.push(line(sym("δ", J, ln), mo("="), paren(el("munder", mo("∑"), mi("k")), sym("w", pair(J, "k"), ln1), sym("δ", "k", ln1)),
      mo("⊙"), mi("σ′"), paren(sym("z", J, ln))));
    const terms = [];
    const shown = nNext <= MAX_TERMS + 1 ? [...Array(nNext).keys()] : [0, 1, 2, nNext - 1];
    shown.forEach((k, idx) => {
      if (idx > 0) terms.push(mo("+"));
      if (nNext > MAX_TERMS + 1 && idx === 3) terms.push(mi("…"), mo("+"));
      terms.push(mn(W.data[j * nNext + k], `w${k}`, true), mo("·"), mn(val(snap, `delta${l + 1}`, k), `d${k}`, true));
    });
    out.push(line(mo("="), paren(...terms), mo("·"), mi("σ′"), paren(mn(z, "z"))));
    out.push(line(mo("="), mn(sum, "sum", true), mo("·"), mn(sp, "sigma-prime", true), mo("="), mn(delta, "delta")));
    out.push(para(`Sum over the ${nNext} neurons k of layer ${l + 1}; σ′(z) = ${PRIME_TEXT[act] || "?"} (σ′ of this layer's own z).`, "note"));
  }
  out.push(line(mfracD("C", sym("b", J, ln)), mo("="), sym("δ", J, ln), mo("="), mn(delta, "delta"), mtext("\u00a0(probe),\u2003"),
    mn(val(snap, `db${l}`, j), "db"), mtext("\u00a0(batch mean)")));
  return out;
}

const mtext = (t) => el("mtext", t);
function mfracD(top, bottom) {
  return el("mfrac", mrow(mi("∂"), typeof top === "string" ? mi(top) : top), mrow(mi("∂"), bottom));
}

function edgeBlocks(sel, snap, s) {
  const L = s.layerSizes.length - 1;
  const { l, i, j } = sel;
  const n = s.layerSizes[l];
  const e = i * n + j;
  const I = String(i + 1);
  const J = String(j + 1);
  const ln = lname(l, L);
  const lp = String(l - 1);
  const w = val(snap, `W${l}`, e);
  const dW = val(snap, `dW${l}`, e);
  const aPrev = val(snap, `a${l - 1}`, i);
  const delta = val(snap, `delta${l}`, j);
  const eta = snap.learning_rate ?? (s.run ? s.run.config.learning_rate : NaN);
  const cfg = s.run ? s.run.config : {};
  const wij = () => sym("w", pair(I, J), ln); // a fresh node per use: a DOM node lives in one place only
  const out = [para(`Weight from neuron ${I} of layer ${l - 1} to neuron ${J} of layer ${l}.`)];
  out.push(para("Probe example (one example x):", "sub"));
  out.push(line(el("mfrac", mrow(mi("∂"), msub("C", "x")), mrow(mi("∂"), wij())), mo("="), sym("a", I, lp), sym("δ", J, ln),
    mo("="), mn(aPrev, "a-prev", true), mo("·"), mn(delta, "delta", true), mo("="), mn(aPrev * delta, "probe-grad")));
  const nEx = s.data ? Math.min(1024, s.data.train.y.length) : null;
  out.push(para(`Average over the training set${nEx ? ` (n = ${nEx})` : ""}:`, "sub"));
  const reg = cfg.regularization && cfg.regularization_rate > 0
    ? [mo("+"), mi("λ"), cfg.regularization === "l1" ? mrow(mi("sign"), paren(wij())) : wij()] : [];
  out.push(line(mfracD("C", wij()), mo("="), el("mfrac", mn(1), mi("n")), el("munder", mo("∑"), mi("x")),
    sym("a", I, lp), paren(mi("x")), sym("δ", J, ln), paren(mi("x")), ...reg, mo("="), mn(dW, "dW")));
  out.push(para("Gradient descent (the update subtracts):", "sub"));
  out.push(line(wij(), mo("←"), wij(), mo("−"), mi("η"), mfracD("C", wij()), mo("="), mn(w, "w"), mo("−"), mn(eta, "eta"),
    mo("·"), mn(dW, "dW", true), mo("="), mn(w - eta * dW, "w-new")));
  if (cfg.optimizer === "momentum") out.push(para(`With momentum (μ = ${cfg.momentum}) the step also carries the velocity: v ← μv − η ∂C/∂w, w ← w + v.`, "note"));
  out.push(para("Training takes this step on each mini-batch's average, not the whole set's.", "note"));
  return out;
}

export function mountInspector(root, actions) {
  const body = root.querySelector(".inspector-body");
  const head = root.querySelector(".inspector-head");
  root.querySelector(".inspector-close").addEventListener("click", () => actions.select(null));
  let drawnKey = "";
  let drawnSel = "";
  let drawnAt = 0;
  let timer = 0;
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
      if (!sel || !snap || !snap.tensors.W1) {
        head.textContent = "Equation inspector";
        body.replaceChildren(para("Press play (or the space bar) to train. Click a neuron or an edge of the network to "
          + "see its backpropagation equation with the live numbers; hover for the values."));
        return;
      }
      const valid = sel.kind === "neuron" ? sel.l < s.layerSizes.length && sel.j < s.layerSizes[sel.l]
        : sel.l >= 1 && sel.l < s.layerSizes.length && sel.i < s.layerSizes[sel.l - 1] && sel.j < s.layerSizes[sel.l];
      if (!valid) {
        body.replaceChildren(para("The selection is not part of this network."));
        return;
      }
      const where = `epoch ${snap.epoch}${snap.batch ? `, after batch ${snap.batch}` : ""}${s.following ? "" : " (time travel)"}`;
      head.textContent = `${sel.kind === "neuron" ? "δ of a neuron" : "∂C/∂w of a weight"} · ${where}`;
      body.replaceChildren(...(sel.kind === "neuron" ? neuronBlocks(sel, snap, s) : edgeBlocks(sel, snap, s)));
      body.dataset.epoch = String(snap.epoch);
      if (sel !== shownSel) {
        shownSel = sel;
        // bring the equation into view (instantly: a smooth scroll would move targets under the pointer)
        const r = root.getBoundingClientRect();
        if (r.bottom > window.innerHeight + 4 || r.top < 0) root.scrollIntoView({ block: "nearest" });
      }
      body.dataset.batch = String(snap.batch || 0);
    },
  };
}
