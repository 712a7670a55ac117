// The setup in the URL hash, Playground style: one table of properties, short names, so a link
// reproduces the setup (#dataset=circle&layers=4,2&act=tanh&lr=0.03&…&run=r_…). Which names and numbers
// a property takes comes from the catalog (catalog.js), never from this file; a value the catalog does not
// know is refused with a message that says what is valid, never dropped in silence.

import { bounds, boundsText, defaultConfig, hiddenActivationNames, inBounds, layerLimits, names } from "./catalog.js";

const AUTO = "auto"; // the hash's word for a field left to the server (null)

/** A parse function returns {value} or {error}. */
const ok = (value) => ({ value });
const bad = (error) => ({ error });

function number(b, integer = false) {
  return (s) => {
    const v = Number(s);
    if (s.trim() === "" || !inBounds(b, v) || (integer && !Number.isInteger(v))) {
      return bad(`'${s}' is not ${integer ? "a whole number" : "a number"} in ${boundsText(b)}`);
    }
    return ok(v);
  };
}

function oneOf(list, what) {
  return (s) => (list.includes(s) ? ok(s) : bad(`'${s}' is not ${what}; valid: ${list.join(", ")}`));
}

/** A comma-separated list, each item checked by `item`; `single` returns one item as itself. */
function listOf(item, { single = false, min = 1, max = Infinity } = {}) {
  return (s) => {
    const parts = s === "" ? [] : s.split(",");
    if (parts.length < min || parts.length > max) return bad(`'${s}' needs ${min} to ${max} items`);
    const out = [];
    for (const p of parts) {
      const r = item(p);
      if (r.error) return r;
      out.push(r.value);
    }
    return ok(single && out.length === 1 ? out[0] : out);
  };
}

const nullable = (parse) => (s) => (s === AUTO || s === "none" || s === "" ? ok(null) : parse(s));
const joined = (v) => (Array.isArray(v) ? v.join(",") : String(v));

/** [hash key, config key, parse] for every property, from the catalog. */
function table(cat) {
  const num = (key) => number(bounds(cat, key));
  const int = (key) => number(bounds(cat, key), true);
  const lim = layerLimits(cat);
  const width = number({ min: 1, max: lim.width, xmin: null, xmax: null }, true);
  const datasetPattern = new RegExp(cat.config.bounds.dataset.pattern);
  return [
    ["dataset", "dataset", (s) => (datasetPattern.test(s) ? ok(s) : bad(`'${s}' is not a dataset name`))],
    ["noise", "noise", num("noise")],
    ["train", "train_fraction", num("train_fraction")],
    ["samples", "n_samples", nullable(int("n_samples"))],
    ["in", "features", listOf(oneOf(names(cat, "features"), "an input feature"))],
    ["std", "standardize", (s) => (s === "1" || s === "0" ? ok(s === "1") : bad(`'${s}' is not 1 (standardise the inputs) or 0`))],
    ["layers", "hidden_layers", listOf(width, { min: 0, max: lim.layers })],
    ["act", "activation", listOf(oneOf(hiddenActivationNames(cat), "a hidden-layer activation"), { single: true })],
    ["out", "output_activation", nullable(oneOf(names(cat, "activations"), "an output activation"))],
    ["cost", "cost", nullable(oneOf(names(cat, "costs"), "a cost"))],
    ["init", "init", oneOf(names(cat, "inits"), "an initialisation")],
    ["opt", "optimizer", oneOf(names(cat, "optimizers"), "an optimiser")],
    ["mom", "momentum", num("momentum")],
    ["lr", "learning_rate", num("learning_rate")],
    ["batch", "batch_size", int("batch_size")],
    ["reg", "regularization", nullable(oneOf(names(cat, "regularizations"), "a regularisation"))],
    ["regRate", "regularization_rate", num("regularization_rate")],
    ["dtype", "dtype", oneOf(cat.dtypes, "a dtype")],
    ["seed", "seed", int("seed")],
    ["epochs", "epochs", int("epochs")],
    ["target", "target_cost", nullable(num("target_cost"))],
    ["speed", "speed", nullable(num("speed"))],
  ];
}

const tables = new WeakMap();
const tableOf = (cat) => tables.get(cat) || (tables.set(cat, table(cat)), tables.get(cat));

/** How a config value is written in the hash. */
function write(field, v) {
  if (v === null || v === undefined) return AUTO;
  if (field === "standardize") return v ? "1" : "0";
  return joined(v);
}

/**
 * Parse a hash → {config, run, errors}: the catalog's defaults with every valid value of the hash, and a
 * sentence for each value that is not valid or key that is not known (the link's author misspelt it, or it
 * names something this server does not have).
 */
export function readHash(cat, hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const config = defaultConfig(cat);
  const errors = [];
  const known = new Set(["run"]);
  for (const [key, field, parse] of tableOf(cat)) {
    known.add(key);
    if (!params.has(key)) continue;
    const raw = params.get(key);
    const r = parse(raw);
    if (r.error) errors.push(`the link's ${key}=${raw}: ${r.error}`);
    else config[field] = r.value;
  }
  for (const key of params.keys()) {
    if (!known.has(key)) errors.push(`the link's '${key}' is not a setting this page knows; it was left out`);
  }
  const run = params.get("run");
  if (run && !/^[A-Za-z0-9_-]{1,64}$/.test(run)) errors.push(`the link's run=${run} is not a run id`);
  return { config, run: run && /^[A-Za-z0-9_-]{1,64}$/.test(run) ? run : null, errors };
}

/** The hash for a config and the open run id. */
export function makeHash(cat, config, runId) {
  const params = new URLSearchParams();
  for (const [key, field] of tableOf(cat)) params.set(key, write(field, config[field]));
  if (runId) params.set("run", runId);
  // characters a fragment may hold as they are, for a link a person can read
  return `#${params.toString().replace(/%(2C|3A|5E|28|29)/g, (m) => decodeURIComponent(m))}`;
}

/** Replace the URL hash without adding a history entry (no-op when unchanged). */
export function writeHash(cat, config, runId) {
  const h = makeHash(cat, config, runId);
  if (h !== location.hash) history.replaceState(null, "", h);
}
