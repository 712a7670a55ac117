// Time travel: the stored epochs of the open run (GET …/snapshots), a snapshot fetched as the same
// binary frame the stream sends (GET …/snapshots/{epoch}?format=binary), going back to live, and replay.

import { api } from "./api.js";
import { maxAbs } from "./colors.js";
import { decodeSnapshot } from "./socket.js";
import { isRunning } from "./state.js";

const FAMILIES = ["dW", "delta", "mean_abs_delta"]; // the tensors whose colours may be fixed at epoch 0

export function createTimeTravel(store, fail) {
  const get = () => store.state;
  const scrubJob = { busy: false, next: -1 };
  let epochsAt = 0;

  let pending = null; // the request in flight: callers wait for it rather than starting another

  /** Fetch the list of stored epochs (at most every 300 ms unless forced; joins a request in flight). */
  function refreshEpochs(force = false) {
    const s = get();
    if (!s.run) return Promise.resolve();
    if (pending) return pending;
    if (!force && performance.now() - epochsAt < 300) return Promise.resolve();
    epochsAt = performance.now();
    const runId = s.run.id;
    const epoch = s.run.epoch; // the run's newest epoch when asked: the list holds nothing later
    pending = api.snapshots(runId).then(({ epochs }) => {
      if (get().run && get().run.id === runId) store.set({ timeline: { ...get().timeline, epochs, epoch } });
    }, fail).finally(() => {
      pending = null;
    });
    return pending;
  }

  function goLive() {
    stopReplay();
    store.set({ following: true, scrub: null, timeline: { ...get().timeline, loading: false } });
  }

  let replaying = null; // {stop} while a replay runs
  function stopReplay() {
    if (!replaying) return;
    replaying.stop = true;
    replaying = null;
    store.set({ replaying: false });
  }

  /** Play the stored epochs back from the first, about 150 frames, then stay at the last. */
  async function replay() {
    if (replaying) return stopReplay();
    const s = get();
    if (!s.run) return;
    await refreshEpochs(true);
    const epochs = get().timeline.epochs;
    if (!epochs.length) return;
    const token = { stop: false };
    replaying = token;
    store.set({ replaying: true });
    const stride = Math.max(1, Math.ceil(epochs.length / 150));
    for (let i = 0; !token.stop; i = Math.min(i + stride, epochs.length - 1)) {
      await scrubTo(i);
      await new Promise((r) => setTimeout(r, 40));
      if (i === epochs.length - 1) break;
    }
    if (replaying === token) stopReplay();
  }

  /**
   * The snapshot of the `k`-th stored epoch of the list. Storage may have thinned that epoch away since the
   * list was fetched (the newest stored epoch gives way to the next one as a run trains or steps): then the
   * list again, and the stored epoch at the same place on the scrubber (End is still the newest), rather
   * than an error.
   */
  async function fetchStored(runId, k) {
    const old = get().timeline.epochs;
    const want = old[k];
    try {
      return await api.snapshotBinary(runId, want);
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    // the list again (a request already in flight may predate the thinning: then once more)
    for (let tries = 0; tries < 2 && get().timeline.epochs.includes(want); tries++) await refreshEpochs(true);
    const epochs = get().timeline.epochs;
    if (!epochs.length || !get().run || get().run.id !== runId) return null;
    const index = old.length > 1 ? Math.round((k / (old.length - 1)) * (epochs.length - 1)) : epochs.length - 1;
    store.set({ timeline: { ...get().timeline, index } });
    return api.snapshotBinary(runId, epochs[index]);
  }

  async function scrubTo(index) {
    const s = get();
    if (!s.run) return;
    // the list again when the run has moved since it was fetched and the scrubber starts from live, or the
    // run moves only by steps (a running run's list is refreshed every few seconds: main.js)
    const moved = s.timeline.epoch !== s.run.epoch && (s.following || !isRunning(s));
    if (!s.timeline.epochs.length || moved) await refreshEpochs(moved);
    const epochs = get().timeline.epochs;
    if (!epochs.length) return;
    index = Math.max(0, Math.min(epochs.length - 1, index));
    store.set({ following: false, timeline: { ...get().timeline, index, loading: true } });
    scrubJob.next = index;
    if (scrubJob.busy) return; // the newest request wins once the one in flight returns
    scrubJob.busy = true;
    const runId = s.run.id;
    try {
      while (scrubJob.next >= 0) {
        const k = scrubJob.next;
        scrubJob.next = -1;
        const buf = await fetchStored(runId, k);
        if (!buf || !get().run || get().run.id !== runId || get().following) break;
        store.set({ scrub: decodeSnapshot(buf), timeline: { ...get().timeline, loading: scrubJob.next >= 0 } });
      }
    } catch (err) {
      fail(err);
    } finally {
      scrubJob.busy = false;
      if (!get().following) store.set({ timeline: { ...get().timeline, loading: false } });
    }
  }

  let referenceFor = null;
  /**
   * The largest |value| of each gradient family at epoch 0 of the open run (state.scaleRef), for colours
   * fixed at epoch 0. Asked once per run; without it the colours keep the running maximum.
   */
  async function loadScaleReference() {
    const s = get();
    if (!s.run || referenceFor === s.run.id) return;
    const runId = s.run.id;
    referenceFor = runId;
    try {
      const snap = decodeSnapshot(await api.snapshotBinary(runId, 0));
      const ref = { runId, epoch: snap.epoch };
      for (const family of FAMILIES) {
        ref[family] = 0;
        for (let l = 1; snap.tensors[`W${l}`]; l++) {
          const t = snap.tensors[`${family}${l}`];
          if (t) ref[family] = Math.max(ref[family], maxAbs(t.data));
        }
      }
      if (get().run && get().run.id === runId) store.set({ scaleRef: ref });
    } catch (err) {
      fail(new Error(`colours fixed at epoch 0 need that epoch's snapshot: ${err.message}; they keep the running maximum`));
    }
  }

  return { refreshEpochs, scrubTo, goLive, replay, stopReplay, loadScaleReference };
}
