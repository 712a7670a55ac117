// MathML for the equation inspector: small builders, one equation per line, numbers that keep their exact
// value for tests. Symbols follow the catalog's one convention (catalog.notation): row vectors, Wˡ of shape
// (n_{l−1}, n_l), Wˡᵢⱼ joining neuron i of layer l−1 to neuron j of layer l.

import { fmt } from "../format.js";

const NS = "http://www.w3.org/1998/Math/MathML";

export function el(tag, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const c of children) node.append(typeof c === "string" ? document.createTextNode(c) : c);
  return node;
}
export const mi = (t) => el("mi", t);
export const mo = (t) => el("mo", t);
export const mtext = (t) => el("mtext", t);
export const mrow = (...c) => el("mrow", ...c);
const node = (x) => (typeof x === "string" ? mi(x) : x);
export const msub = (b, s) => el("msub", node(b), node(s));
export const msubsup = (b, s, p) => el("msubsup", node(b), node(s), node(p));
export const paren = (...c) => mrow(mo("("), ...c, mo(")"));
export const sum = (index) => el("munder", mo("∑"), mi(index));
/** ∂top/∂bottom. */
export const partial = (top, bottom) => el("mfrac", mrow(mi("∂"), node(top)), mrow(mi("∂"), bottom));

/** A number, with its exact value kept in data-value for tests; negatives in parentheses after an operator. */
export function mn(value, role, wrap = false) {
  const n = el("mn", fmt(value));
  n.setAttribute("data-value", String(value));
  if (role) n.setAttribute("data-role", role);
  return wrap && value < 0 ? paren(n) : n;
}

/** A symbol with subscript and layer superscript: sym("a", "j", "2") → a²ⱼ. */
export const sym = (letter, sub, layer) => msubsup(letter, String(sub), String(layer));
/** A double subscript: "12", or "12,3" when an index has more than one digit. */
export const pair = (a, b) => (String(a).length > 1 || String(b).length > 1 ? `${a},${b}` : `${a}${b}`);

/** One equation on its own line, left-aligned, scrolling sideways when it is wider than the panel. */
export function line(...children) {
  const div = document.createElement("div");
  div.className = "eq";
  div.append(el("math", mrow(...children)));
  return div;
}

/** A paragraph of text (never markup). */
export function para(text, cls) {
  const p = document.createElement("p");
  p.textContent = text;
  if (cls) p.className = cls;
  return p;
}
