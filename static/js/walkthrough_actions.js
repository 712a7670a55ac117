// What the walkthrough and the gradient check do: REST calls (POST …/walkthrough, …/gradcheck, …/whatif)
// written into the store's `walk` and `check` slices, the walk's frame and auto-advance, its keys.
// The views call these; they never talk to the server themselves.

import { api } from "./api.js";
import {
  DELTAS, atEnd, atFrame, firstFrameOf, freshCheck, hereOf, loadingWalk, movedOn, readyWalk, targetBody,
  targetKey, targetsOf, withPoint,
} from "./walkthrough_state.js";

export function createWalkActions(store, actions) {
  const get = () => store.state;
  let timer = 0;
  let asked = 0; // the newest walkthrough request: an older answer is dropped
  let checkAsked = 0;
  let nextDelta = null; // a what-if asked while one is in flight: sent when it answers

  const setWalk = (walk) => store.set({ walk });
  const stopTimer = () => {
    clearTimeout(timer);
    timer = 0;
  };

  /** Auto-advance: one frame every walk.speed ms, stopping at the last. */
  function schedule() {
    stopTimer();
    const w = get().walk;
    if (!w || !w.playing || w.status !== "ready") return;
    timer = setTimeout(() => {
      timer = 0;
      const cur = get().walk;
      if (!cur || !cur.playing) return;
      const next = atFrame(cur, cur.index + 1);
      setWalk({ ...next, playing: !atEnd(next) });
      schedule();
    }, w.speed);
  }

  async function load({ apply = false } = {}) {
    const w = get().walk;
    if (!w) return;
    const serial = ++asked;
    const body = {};
    if (w.probe !== null) body.probe_index = w.probe;
    if (apply) body.apply = true;
    try {
      const answer = await api.walkthrough(w.runId, body);
      const cur = get().walk;
      if (serial !== asked || !cur || cur.runId !== w.runId) return;
      if (apply) setWalk({ ...cur, applying: false, applied: answer });
      else setWalk(readyWalk(cur, answer));
      schedule();
    } catch (err) {
      const cur = get().walk;
      if (serial !== asked || !cur) return;
      setWalk({ ...cur, status: cur.answer ? cur.status : "error", applying: false, playing: false, error: err.message || String(err) });
    }
  }

  /** Open the walkthrough of the open run's next mini-batch (pausing it first), or walk it again. */
  async function open({ restart = false } = {}) {
    const s = get();
    if (!s.run) return;
    stopTimer();
    const prev = s.walk && s.walk.runId === s.run.id ? s.walk : null;
    const next = loadingWalk(s.run.id, prev);
    if (restart) next.index = 0;
    setWalk(next);
    try {
      await actions.pauseLive();
    } catch (err) {
      setWalk({ ...get().walk, status: "error", error: err.message || String(err) });
      return;
    }
    await load();
  }

  function close() {
    stopTimer();
    asked++;
    if (get().walk) setWalk(null);
  }

  /** Go to frame `index` (manual moves stop auto-advance). */
  function goTo(index) {
    const w = get().walk;
    if (!w || w.status !== "ready") return;
    stopTimer();
    setWalk({ ...atFrame(w, index), playing: false });
  }

  const walk = {
    requestFrame: actions.requestFrame,
    open,
    close,
    goTo,
    next: () => get().walk && goTo(get().walk.index + 1),
    back: () => get().walk && goTo(get().walk.index - 1),
    goToStep(step) {
      const w = get().walk;
      if (w) goTo(firstFrameOf(w.frames, step));
    },
    togglePlay() {
      const w = get().walk;
      if (!w || w.status !== "ready") return;
      const playing = !w.playing;
      setWalk({ ...(playing && atEnd(w) ? atFrame(w, 0) : w), playing });
      if (playing) schedule();
      else stopTimer();
    },
    setSpeed(ms) {
      const w = get().walk;
      if (!w) return;
      setWalk({ ...w, speed: ms });
      schedule();
    },
    /** Follow another training example (null: the run's probe): the same batch, walked again. */
    setProbe(index) {
      const w = get().walk;
      if (!w) return;
      setWalk({ ...w, probe: index, status: "loading" });
      load();
    },
    /** Train exactly the walked step (one mini-batch), as POST …/step would. */
    async apply() {
      const w = get().walk;
      if (!w || w.status !== "ready" || w.applying || w.applied) return;
      stopTimer();
      setWalk({ ...w, applying: true, playing: false, error: "" });
      try {
        await actions.pauseLive({ keep: true });
      } catch (err) {
        setWalk({ ...get().walk, applying: false, error: err.message || String(err) });
        return;
      }
      await load({ apply: true });
    },

    /** The walkthrough's keys: ← → move, Escape leaves. True when the key was the walkthrough's. */
    handleKey(ev) {
      const w = get().walk;
      if (!w || ev.altKey || ev.ctrlKey || ev.metaKey) return false;
      const t = ev.target;
      const typing = t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName));
      if (ev.key === "Escape") {
        close();
        return true;
      }
      if (typing || (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft")) return false;
      ev.preventDefault();
      if (ev.key === "ArrowRight") walk.next();
      else walk.back();
      return true;
    },

    // -- the gradient check and the what-if of the selected parameter ------------------------------------------
    /** Compare backprop's ∂C/∂w with the central difference: the selected weight or bias, or its whole layer. */
    async checkGradient({ whole = false } = {}) {
      const targets = targetsOf(get().selection, get().layerSizes);
      if (!get().run || !targets) return;
      const checked = whole ? targets.layer : targets.one;
      const serial = ++checkAsked;
      const base = await prepare(targets.one);
      if (!base) return;
      store.set({ check: { ...base, checked, status: "loading", result: null, error: "" } });
      let patch;
      try {
        patch = { status: "ready", result: await api.gradcheck(base.runId, targetBody(checked)), at: hereOf(get()) };
      } catch (err) {
        patch = { status: "error", error: err.message || String(err) };
      }
      if (serial === checkAsked && sameTarget(targets.one)) store.set({ check: { ...get().check, ...patch } });
    },

    /** Nudge the selected parameter by DELTAS[deltaIndex] on a copy: what does the batch cost do? */
    async whatIf(deltaIndex) {
      const targets = targetsOf(get().selection, get().layerSizes);
      if (!get().run || !targets) return;
      const cur = get().check;
      if (cur && cur.pending && sameTarget(targets.one)) { // one question at a time; the newest Δ next
        nextDelta = deltaIndex;
        store.set({ check: { ...cur, deltaIndex } });
        return;
      }
      const base = await prepare(targets.one);
      if (!base) return;
      store.set({ check: { ...base, deltaIndex, pending: true, whatifError: "" } });
      let patch;
      try {
        const answer = await api.whatif(base.runId, { ...targetBody(targets.one), delta: DELTAS[deltaIndex] });
        patch = { whatif: answer, whatifError: "", points: withPoint(get().check ? get().check.points : [], answer), at: hereOf(get()) };
      } catch (err) {
        patch = { whatifError: err.message || String(err) };
      }
      if (!sameTarget(targets.one)) return;
      store.set({ check: { ...get().check, ...patch, pending: false } });
      const again = nextDelta;
      nextDelta = null;
      if (again !== null && again !== deltaIndex) walk.whatIf(again);
    },
  };

  const sameTarget = (target) => !!get().check && targetKey(get().check.target) === targetKey(target);

  /**
   * Pause the run if it trains, then the check slice for `target`: the one there is while it is about the
   * same parameter and weights, else a fresh one; `runId`: the run asked. Null (and the error shown) when
   * the run could not pause. Each answer records where the run was when it came (`at`), so that the panel
   * can tell when the run has moved on since.
   */
  async function prepare(target) {
    try {
      await actions.pauseLive();
    } catch (err) {
      store.set({ check: { ...freshCheck(target, null), status: "error", error: err.message || String(err) } });
      return null;
    }
    const cur = get().check;
    const keep = cur && sameTarget(target) && !movedOn(cur.at, get());
    return { ...(keep ? cur : freshCheck(target, null)), runId: get().run.id };
  }

  // A walk belongs to one run; a check to one selected parameter.
  let selKey = "";
  store.subscribe((s) => {
    if (s.walk && (!s.run || s.run.id !== s.walk.runId)) close();
    const targets = targetsOf(s.selection, s.layerSizes);
    const key = targets ? targetKey(targets.one) : "";
    if (key !== selKey) {
      selKey = key;
      nextDelta = null;
      if (s.check) store.set({ check: null });
    }
  });
  return walk;
}
