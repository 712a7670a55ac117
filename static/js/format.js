// Number formatting shared by the views: 4 significant digits, exponent for very small or large values,
// and a true minus sign (U+2212) for display.

/** v with 4 significant digits ("0.01234", "1.234e-5", "−0.5"); "–" for null/undefined, "NaN"/"∞". */
export function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "–";
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  let s;
  if (a < 1e-4 || a >= 1e6) s = v.toExponential(digits - 1).replace(/\.?0+e/, "e").replace("e+", "e");
  else s = String(Number(v.toPrecision(digits)));
  return s.replace(/-/g, "\u2212");
}

/** Parse a number written by fmt (true minus sign allowed). */
export function parseFmt(text) {
  return Number(String(text).replace(/\u2212/g, "-").trim());
}

/** A whole number with thin grouping ("12 345"). */
export function fmtInt(n) {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u2009");
}

/** Epoch counter as Playground shows it: six digits, grouped ("000,123"). */
export function fmtEpoch(n) {
  const s = String(Math.max(0, n | 0)).padStart(6, "0");
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A percentage with one decimal ("95.3 %"), "–" for null. */
export function fmtPct(v) {
  return v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)} %`;
}

const SUP = "⁰¹²³⁴⁵⁶⁷⁸⁹";
const SUB = "₀₁₂₃₄₅₆₇₈₉";
/** Unicode superscript / subscript digits (labels and equations written as text): supText(12) → "¹²". */
export const supText = (n) => String(n).replace(/\d/g, (d) => SUP[d]);
export const subText = (n) => String(n).replace(/\d/g, (d) => SUB[d]);

/** A select's tooltip: its chosen option's whole text (a narrow select cuts it). */
export function selectTitle(el) {
  const o = el.selectedOptions && el.selectedOptions[0];
  const t = o ? o.title || o.textContent : "";
  if (el.title !== t) el.title = t;
}

/** Set an element's text only when it changes (a write, even of the same text, costs a layout). */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** Show or hide an element only when that changes: writing `hidden` again, even the same value, is a DOM
 * mutation, and a view that does it every frame has the page's main layer repainted every frame. */
export function setHidden(el, hidden) {
  if (el.hidden !== hidden) el.hidden = hidden;
}
