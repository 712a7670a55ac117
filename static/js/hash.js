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

/** Each config field's key in the hash and the kind of value it takes (parsers() reads the kinds). */
const FIELDS = {
  dataset: ["dataset", "dataset"],
  noise: ["noise", "num"],
  train_fraction: ["train", "num"],
  n_samples: ["samples", "int?"],
  features: ["in", "features"],
  standardize: ["std", "bool"],
  hidden_layers: ["layers", "layers"],
  activation: ["act", "hidden"],
  output_activation: ["out", "activations?"],
  cost: ["cost", "costs?"],
  init: ["init", "inits"],
  optimizer: ["opt", "optimizers"],
  momentum: ["mom", "num"],
  learning_rate: ["lr", "num"],
  batch_size: ["batch", "int"],
  regularization: ["reg", "regularizations?"],
  regularization_rate: ["regRate", "num"],
  dtype: ["dtype", "dtypes"],
  seed: ["seed", "int"],
  epochs: ["epochs", "int"],
  target_cost: ["target", "num?"],
  speed: ["speed", "num?"],
};

const WHAT = { activations: "an output activation", costs: "a cost", inits: "an initialisation", optimizers: "an optimiser",
  regularizations: "a regularisation", dtypes: "a dtype" };

/** The parser of a field's kind ("…?": may be the server's choice, null), from the catalog. */
function parser(cat, field, kind) {
  const optional = kind.endsWith("?");
  const k = optional ? kind.slice(0, -1) : kind;
  let parse;
  if (k === "num" || k === "int") parse = number(bounds(cat, field), k === "int");
  else if (k === "bool") parse = (s) => (s === "1" || s === "0" ? ok(s === "1") : bad(`'${s}' is not 1 (on) or 0 (off)`));
  else if (k === "dataset") {
    const pattern = new RegExp(cat.config.bounds.dataset.pattern);
    parse = (s) => (pattern.test(s) ? ok(s) : bad(`'${s}' is not a dataset name`));
  } else if (k === "features") parse = listOf(oneOf(names(cat, "features"), "an input feature"));
  else if (k === "layers") {
    const lim = layerLimits(cat);
    parse = listOf(number({ min: 1, max: lim.width, xmin: null, xmax: null }, true), { min: 0, max: lim.layers });
  } else if (k === "hidden") parse = listOf(oneOf(hiddenActivationNames(cat), "a hidden-layer activation"), { single: true });
  else if (k === "dtypes") parse = oneOf(cat.dtypes, WHAT.dtypes);
  else parse = oneOf(names(cat, k), WHAT[k]);
  return optional ? nullable(parse) : parse;
}

/** [hash key, config key, parse] for every property, from the catalog. */
function table(cat) {
  return Object.entries(FIELDS).map(([field, [key, kind]]) => [key, field, parser(cat, field, kind)]);
}

const tables = new WeakMap();
const tableOf = (cat) => tables.get(cat) || (tables.set(cat, table(cat)), tables.get(cat));

/** How a config value is written in the hash. */
function write(v) {
  if (v === null || v === undefined) return AUTO;
  if (typeof v === "boolean") return v ? "1" : "0";
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
  for (const [key, field] of tableOf(cat)) params.set(key, write(config[field]));
  if (runId) params.set("run", runId);
  // characters a fragment may hold as they are, for a link a person can read
  return `#${params.toString().replace(/%(2C|3A|5E|28|29)/g, (m) => decodeURIComponent(m))}`;
}

/** Replace the URL hash without adding a history entry (no-op when unchanged). */
export function writeHash(cat, config, runId) {
  const h = makeHash(cat, config, runId);
  if (h !== location.hash) history.replaceState(null, "", h);
}
