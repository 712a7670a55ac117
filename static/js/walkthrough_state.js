// The walkthrough's state: plain data and pure functions, no imports, no DOM (as state.js).
//
// The server answers POST /api/runs/{id}/walkthrough with one training step taken apart (docs/walkthrough.md);
// the page walks it as a list of frames, one click each, in the order backpropagation computes:
//   forward l = 1 … L · cost · δᴸ · δˡ for l = L−1 … 1 · ∂C/∂Wˡ for l = L … 1 (the probe's a·δ, then the
//   batch's average) · the update (before, after).
// Every number a frame shows is the answer's own; nothing here computes one.
//
// The store holds two slices: `walk` (the open walkthrough, or null) and `check` (the gradient check and the
// what-if of the selected parameter, or null).

/** The six steps, in order: the answer's `steps[k].name` and the chip the panel shows for each. */
export const STEP_NAMES = ["forward", "cost", "output_delta", "hidden_delta", "gradient", "update"];
export const STEP_CHIPS = { forward: "forward", cost: "cost", output_delta: "δᴸ", hidden_delta: "δˡ backward",
  gradient: "∂C/∂W", update: "update" };

/** Auto-advance: ms per frame. */
export const SPEEDS = [
  { ms: 3000, label: "slow" }, { ms: 1500, label: "normal" }, { ms: 600, label: "fast" }, { ms: 150, label: "very fast" },
];
export const DEFAULT_SPEED = 1500;

/**
 * The frames of a walkthrough answer: {step, l, part?}. `l` is the layer the frame is about (for the cost
 * and δᴸ: L); `part` splits the gradient ("probe", then "batch") and the update ("before", "after").
 */
export function walkFrames(answer) {
  const L = answer.layer_sizes.length - 1;
  const frames = [];
  for (let l = 1; l <= L; l++) frames.push({ step: "forward", l });
  frames.push({ step: "cost", l: L });
  frames.push({ step: "output_delta", l: L });
  for (let l = L - 1; l >= 1; l--) frames.push({ step: "hidden_delta", l });
  for (let l = L; l >= 1; l--) {
    frames.push({ step: "gradient", l, part: "probe" });
    frames.push({ step: "gradient", l, part: "batch" });
  }
  frames.push({ step: "update", l: 0, part: "before" });
  frames.push({ step: "update", l: 0, part: "after" });
  return frames;
}

/** The index of the first frame of a step (−1 when the net has none, e.g. δˡ without hidden layers). */
export function firstFrameOf(frames, step) {
  return frames.findIndex((f) => f.step === step);
}

/** A new walk slice: loading the answer for a run. */
export function loadingWalk(runId, prev = null) {
  return {
    runId, status: "loading", answer: null, frames: [], index: prev ? prev.index : 0, playing: false,
    speed: prev ? prev.speed : DEFAULT_SPEED, probe: prev ? prev.probe : null, applying: false, applied: null,
    error: "",
  };
}

/** The walk slice once the answer arrived (the frame index kept when the same frames come back). */
export function readyWalk(walk, answer) {
  const frames = walkFrames(answer);
  const index = Math.min(Math.max(0, walk.index), frames.length - 1);
  return { ...walk, status: "ready", answer, frames, index, error: "" };
}

/** The walk slice at frame `index` (clamped). */
export function atFrame(walk, index) {
  if (!walk.frames.length) return walk;
  return { ...walk, index: Math.min(Math.max(0, index), walk.frames.length - 1) };
}

/** Whether a walk is at its last frame. */
export function atEnd(walk) {
  return walk.frames.length > 0 && walk.index === walk.frames.length - 1;
}

/**
 * Whether the run has moved on from where `at` = {runId, epoch, batch} was asked: it trains, or another run
 * is open, or the shown live snapshot is past (epoch, batch) — someone stepped the run since.
 */
export function movedOn(at, state) {
  const run = state.run;
  if (!at || !run || run.id !== at.runId || run.state !== "paused") return true;
  const snap = state.live;
  if (!snap) return false;
  return snap.epoch > at.epoch || (snap.epoch === at.epoch && (snap.batch || 0) > at.batch);
}

/** Whether the walked step is no longer the run's next one. */
export function walkStale(walk, state) {
  if (!walk || !walk.answer) return false;
  return movedOn({ runId: walk.runId, epoch: walk.answer.epoch, batch: walk.answer.batch }, state);
}

/**
 * Where the open run is now, for movedOn() later: {runId, epoch, batch}. Right after a pause the run's epoch
 * (from the server's answer) can be ahead of the newest snapshot shown; a run pauses between epochs.
 */
export function hereOf(state) {
  const run = state.run;
  if (!run) return null;
  const snap = state.live;
  if (!snap || run.epoch > snap.epoch) return { runId: run.id, epoch: run.epoch, batch: 0 };
  return { runId: run.id, epoch: snap.epoch, batch: snap.batch || 0 };
}

/** A parameter of layer l: one weight Wˡⱼₖ, one bias bˡₖ, or the whole layer. */
export function paramTarget(kind, l, j = null, k = null) {
  if (kind === "weight") return { kind, layer: l, index: [j, k] };
  if (kind === "bias") return { kind, layer: l, bias: k };
  return { kind: "layer", layer: l };
}

/** The request body of a target for /gradcheck and /whatif. */
export function targetBody(t) {
  if (t.kind === "weight") return { layer: t.layer, index: t.index };
  if (t.kind === "bias") return { layer: t.layer, bias: t.bias };
  return { layer: t.layer };
}

/** A key that tells targets apart. */
export function targetKey(t) {
  return t ? `${t.kind}:${t.layer}:${t.index ? t.index.join(",") : ""}:${t.bias ?? ""}` : "";
}

/** The parameters a selection on the diagram offers: an edge its weight, a neuron (l ≥ 1) its bias. */
export function targetsOf(selection, layerSizes) {
  if (!selection) return null;
  const L = layerSizes.length - 1;
  if (selection.kind === "edge") {
    if (selection.l < 1 || selection.l > L) return null;
    return { one: paramTarget("weight", selection.l, selection.i, selection.j), layer: paramTarget("layer", selection.l) };
  }
  if (selection.l < 1 || selection.l > L) return null; // an input neuron has no bias
  return { one: paramTarget("bias", selection.l, null, selection.j), layer: paramTarget("layer", selection.l) };
}

/** Δ choices of the what-if slider, small to large, each sign. */
export const DELTAS = [-2, -1, -0.5, -0.25, -0.1, -0.05, -0.01, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2];
export const DEFAULT_DELTA_INDEX = DELTAS.indexOf(0.1);

/**
 * A new check slice for the selected parameter `target` (asked about where the run was, `at`): `checked`
 * is what the gradient check compared (the parameter or its whole layer), `result` its answer; `whatif` the
 * newest what-if answer and `points` every Δ asked so far; `pending` while a what-if is in flight.
 */
export function freshCheck(target, at) {
  return { target, at, status: "idle", checked: null, result: null, error: "", whatif: null, whatifError: "",
    points: [], deltaIndex: DEFAULT_DELTA_INDEX, pending: false };
}

/**
 * What-if answers gathered for one parameter (Δ → the cost's change): kept so the panel can draw the cost
 * against Δ beside its tangent. One point per Δ, sorted by Δ.
 */
export function withPoint(points, answer) {
  const rest = points.filter((p) => p.delta !== answer.delta);
  return [...rest, { delta: answer.delta, change: answer.change, predicted: answer.predicted }]
    .sort((a, b) => a.delta - b.delta);
}
