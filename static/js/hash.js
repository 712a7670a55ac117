// The setup in the URL hash, Playground style: one table of properties, short names, so a link
// reproduces the setup (#dataset=circle&layers=4,2&act=tanh&lr=0.03&…&run=r_…).

import { DEFAULT_CONFIG, MAX_HIDDEN_LAYERS, MAX_WIDTH } from "./state.js";

const num = (lo, hi) => (s) => {
  const v = Number(s);
  return Number.isFinite(v) && v >= lo && v <= hi ? v : undefined;
};
const int = (lo, hi) => (s) => {
  const v = num(lo, hi)(s);
  return v !== undefined && Number.isInteger(v) ? v : undefined;
};
const oneOf = (...names) => (s) => (names.includes(s) ? s : undefined);
const nullable = (parse) => (s) => (s === "" || s === "auto" || s === "none" ? null : parse(s));
const ACTS = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"];

/** [hash key, config key, parse, write] */
const TABLE = [
  ["dataset", "dataset", (s) => (/^[a-z_]+$|^csv:[a-f0-9]{12}$/.test(s) ? s : undefined)],
  ["noise", "noise", num(0, 0.5)],
  ["train", "train_fraction", num(0.1, 0.9)],
  ["samples", "n_samples", nullable(int(10, 100000))],
  ["layers", "hidden_layers", (s) => {
    if (s === "") return [];
    const w = s.split(",").map(Number);
    const ok = w.length <= MAX_HIDDEN_LAYERS && w.every((n) => Number.isInteger(n) && n >= 1 && n <= MAX_WIDTH);
    return ok ? w : undefined;
  }, (v) => v.join(",")],
  ["act", "activation", (s) => {
    const list = s.split(",");
    if (!list.every((a) => ACTS.includes(a))) return undefined;
    return list.length === 1 ? list[0] : list;
  }, (v) => (Array.isArray(v) ? v.join(",") : v)],
  ["out", "output_activation", nullable(oneOf(...ACTS, "softmax"))],
  ["cost", "cost", nullable(oneOf("quadratic", "cross_entropy", "binary_cross_entropy"))],
  ["init", "init", oneOf("auto", "xavier", "he", "uniform")],
  ["opt", "optimizer", oneOf("sgd", "momentum")],
  ["mom", "momentum", num(0, 0.999)],
  ["lr", "learning_rate", num(1e-7, 100)],
  ["batch", "batch_size", int(1, 100000)],
  ["reg", "regularization", nullable(oneOf("l1", "l2"))],
  ["regRate", "regularization_rate", num(0, 10)],
  ["seed", "seed", int(0, 2 ** 32 - 1)],
  ["epochs", "epochs", int(1, 10000000)],
  ["target", "target_cost", nullable(num(0, 1e9))],
  ["speed", "speed", nullable(num(0.01, 100000))],
];

/** Parse location.hash → {config, run}: only valid values override the defaults. */
export function readHash(hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const config = { ...DEFAULT_CONFIG, hidden_layers: [...DEFAULT_CONFIG.hidden_layers] };
  for (const [key, field, parse] of TABLE) {
    if (!params.has(key)) continue;
    const v = parse(params.get(key));
    if (v !== undefined) config[field] = v;
  }
  const run = params.get("run");
  return { config, run: run && /^[A-Za-z0-9_-]{1,64}$/.test(run) ? run : null };
}

/** The hash for a config and the open run id. */
export function makeHash(config, runId) {
  const params = new URLSearchParams();
  for (const [key, field, , write] of TABLE) {
    const v = config[field];
    params.set(key, v === null || v === undefined ? "auto" : write ? write(v) : String(v));
  }
  if (runId) params.set("run", runId);
  return `#${params.toString().replace(/%2C/g, ",").replace(/%3A/g, ":")}`;
}

/** Replace the URL hash without adding a history entry (no-op when unchanged). */
export function writeHash(config, runId) {
  const h = makeHash(config, runId);
  if (h !== location.hash) history.replaceState(null, "", h);
}
