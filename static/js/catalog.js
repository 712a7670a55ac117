// The model's vocabulary as the server publishes it (GET /api/catalog): activations with their ranges and
// decision thresholds, costs with their valid outputs, initialisations, optimisers, regularisations, input
// features, dtypes, the core's numbers (grid size, gradient subset) and the server's limits, RunConfig's
// defaults and bounds, the equations. The page, its URL hash and its forms derive from it: no model name,
// number or rule is written in the page's code (tests/e2e/test_page_vocabulary.py checks). No DOM.

import { fmtInt } from "./format.js";

/** The catalog with look-up tables by name added: cat.by.activations.get("…") and so on. */
export function indexCatalog(raw) {
  const by = {};
  for (const key of ["activations", "costs", "inits", "optimizers", "regularizations", "features", "datasets"]) {
    by[key] = new Map((raw[key] || []).map((entry) => [entry.name, entry]));
  }
  return Object.freeze({ ...raw, by });
}

/** A catalog entry (activation, cost, …) by name, or null. */
export function entry(cat, table, name) {
  return (cat && cat.by[table].get(name)) || null;
}

/** The names of a table, in the catalog's order; `keep` filters the entries. */
export function names(cat, table, keep = () => true) {
  return cat ? cat[table].filter(keep).map((e) => e.name) : [];
}

/** A name's label for people (the name itself when the catalog has none). */
export function label(cat, table, name) {
  const e = entry(cat, table, name);
  return (e && e.label) || String(name);
}

/** The activations a hidden layer may have (elementwise ones). */
export const hiddenActivationNames = (cat) => names(cat, "activations", (a) => a.hidden);

/** [low, high] of an activation's values; an unbounded end is null. */
export function activationRange(cat, name) {
  const a = entry(cat, "activations", name);
  return a ? a.range : [null, null];
}

/** Whether both ends of an activation's range are finite. */
export function bounded(cat, name) {
  const [lo, hi] = activationRange(cat, name);
  return lo !== null && hi !== null;
}

/** The value that splits one output neuron's answers into the two classes (the midpoint of its targets). */
export function threshold(cat, name) {
  const a = entry(cat, "activations", name);
  return a ? a.threshold : NaN;
}

/** Whether σ acts on each neuron alone (σ(zⱼ)); softmax does not. */
export function elementwise(cat, name) {
  const a = entry(cat, "activations", name);
  return !!a && a.hidden;
}

/** The output activation the server picks when none is chosen, for a dataset's task. */
export function autoOutput(cat, info) {
  if (!cat || !info) return null;
  const auto = cat.auto_output_activation;
  if (info.task === "regression") return auto.regression;
  return info.n_classes === 2 ? auto.two_classes : auto.more_classes;
}

/** The costs valid with an output activation (all of them when it is the server's choice). */
export function costsFor(cat, output) {
  return names(cat, "costs", (c) => output === null || c.outputs.includes(output));
}

/**
 * The page's config keys and their defaults: RunConfig's defaults, without the fields the page sets
 * per request (the probe).
 */
export function defaultConfig(cat) {
  const { probe_index: _probe, ...config } = cat.config.defaults;
  return structuredClone(config);
}

/**
 * A config field's numeric bounds {min, max, xmin, xmax} (x: exclusive), from RunConfig's schema and the
 * server's limits (which may be tighter); null ends where none is stated.
 */
export function bounds(cat, key) {
  const b = (cat && cat.config.bounds[key]) || {};
  const out = { min: b.minimum ?? null, max: b.maximum ?? null, xmin: b.exclusiveMinimum ?? null, xmax: b.exclusiveMaximum ?? null };
  const limit = cat && cat.limits[LIMIT_OF[key]];
  if (limit !== undefined && (out.max === null || limit < out.max)) out.max = limit;
  return out;
}
const LIMIT_OF = { epochs: "max_epochs", n_samples: "max_samples" };

/** Whether v lies within bounds(cat, key). */
export function inBounds(b, v) {
  return Number.isFinite(v) && (b.min === null || v >= b.min) && (b.max === null || v <= b.max)
    && (b.xmin === null || v > b.xmin) && (b.xmax === null || v < b.xmax);
}

/** "0 … 0.5", "> 0 … 100": the bounds for a message. */
export function boundsText(b) {
  const lo = b.min !== null ? `${b.min}` : b.xmin !== null ? `> ${b.xmin}` : "";
  const hi = b.max !== null ? `${b.max}` : b.xmax !== null ? `< ${b.xmax}` : "∞";
  return lo ? `${lo} … ${hi}` : `up to ${hi}`;
}

/** How many hidden layers and neurons per layer the server takes. */
export function layerLimits(cat) {
  return { layers: cat.limits.max_layers, width: cat.limits.max_width };
}

/**
 * Where snapshots' ∂C/∂W, ∂C/∂b and mean |δ| come from, in words, for a training set of n examples: all of
 * them, or a fixed sample when there are more than the core averages over.
 */
export function gradientScope(cat, n) {
  const m = cat ? cat.grad_subset : Infinity;
  if (!Number.isFinite(n)) return "over the training set";
  return n > m ? `over a fixed sample of ${fmtInt(m)} of the ${fmtInt(n)} training examples` : `over the ${fmtInt(n)} training examples`;
}
