// What the controls do: REST calls to the server and the stream, written into the store. Views call these;
// they never talk to the server or the socket themselves.

import { api } from "./api.js";
import { defaultConfig } from "./catalog.js";
import { writeHash } from "./hash.js";
import { PAGE_SIZE, createRunsList, runTitle, uniqueName } from "./runs_list.js";
import { connectRun } from "./socket.js";
import { LIVE_KEYS, continuable, isRunning, isTerminal, nextLimit, withMessage } from "./state.js";
import { createTimeTravel } from "./timetravel.js";

/** Only the page's config keys of a run's (resolved) config. */
function pageConfig(cat, runConfig) {
  const out = defaultConfig(cat);
  for (const k of Object.keys(out)) if (k in runConfig) out[k] = runConfig[k];
  return out;
}

const PREVIEW_POINTS = 120; // points of a 2-D dataset's thumbnail
const PREVIEW_IMAGES = 10; // examples fetched for another's (the thumbnail shows one image)

export function createActions(store, { requestFrame }) {
  const get = () => store.state;
  let stream = null;
  let draft = null; // a run this page created unstarted and has not trained yet
  let resetTimer = 0;
  let pendingStart = false;
  const previewing = new Set(); // datasets whose preview was asked for

  const message = (level, text) => {
    store.set({ messages: withMessage(get().messages, level, text) });
    if (level === "info") {
      const id = get().messages[get().messages.length - 1].id;
      setTimeout(() => dismiss(id), 6000);
    }
  };
  const dismiss = (id) => store.set({ messages: get().messages.filter((m) => m.id !== id) });
  const fail = (err) => message("error", err.message || String(err));
  const { refreshEpochs, scrubTo, goLive, replay, stopReplay, loadScaleReference } = createTimeTravel(store, fail);
  const hash = () => writeHash(get().catalog, get().config, get().run ? get().run.id : null);
  /**
   * Merge a Run from a REST answer to a request sent at `sentAt`. The stream may already be further along:
   * epochs never go back, and a state the stream reported after the request was sent wins.
   */
  const setRun = (run, sentAt = 0) => {
    const cur = get().run;
    if (!cur || !run || cur.id !== run.id) return;
    const next = { ...cur, ...run, epoch: Math.max(cur.epoch, run.epoch) };
    if ((cur.stateAt || 0) > sentAt) {
      next.state = cur.state;
      next.reason = cur.reason;
    }
    store.set({ run: next });
  };

  const runsList = createRunsList(store, fail);
  const refreshRuns = () => runsList.refresh();

  async function loadData(runId) {
    try {
      const data = await api.data(runId);
      if (get().run && get().run.id === runId) store.set({ data });
    } catch (err) {
      fail(err);
    }
  }

  /** Show a run: reset what belonged to the previous one, connect its stream, fetch its data. */
  function show(run, { adoptConfig }) {
    stopReplay();
    if (stream) stream.close();
    const patch = {
      run, layerSizes: run.layer_sizes, activations: run.activations, grid: null, history: null, incoming: null, live: null, scrub: null,
      following: true, timeline: { epochs: [], epoch: -1, index: -1, loading: false }, data: null, selection: null,
    };
    if (adoptConfig) patch.config = pageConfig(get().catalog, run.config);
    store.set(patch);
    stream = connectRun(store, run.id);
    hash();
    if (run.kind !== "external") loadData(run.id); // an external run's data stays with its own program
  }

  async function openRun(id) {
    try {
      const run = await api.getRun(id);
      draft = null;
      show(run, { adoptConfig: true });
      store.set({ runName: run.name });
      refreshRuns();
    } catch (err) {
      fail(err);
      throw err;
    }
  }

  async function newRun({ start }) {
    clearTimeout(resetTimer);
    const s = get();
    store.set({ busy: true });
    const old = s.run;
    // the old run stays when it trained: the new one's name must not repeat its name
    const replaces = draft && old && draft === old.id && old.epoch === 0 && !isRunning(s);
    const name = replaces ? s.runName : uniqueName(s.runName, s.runs.items);
    try {
      const run = await api.createRun({ ...s.config, name, start });
      if (replaces) api.deleteRun(old.id).catch(() => {});
      draft = start ? null : run.id;
      show(run, { adoptConfig: false });
      if (name !== s.runName) store.set({ runName: name });
    } catch (err) {
      fail(err);
    } finally {
      store.set({ busy: false });
      refreshRuns();
    }
  }

  /**
   * A fresh page load: reopen the newest run when it is an untouched draft (paused at epoch 0, unnamed) of
   * this very setup — keys left to the server's auto choice match anything — else create a new draft.
   * Reloading the page then adds no run to the list.
   */
  async function startFresh() {
    try {
      const [last] = (await api.listRuns(1, 0)).items;
      const cfg = get().config;
      const same = (k) => cfg[k] === null || JSON.stringify(last.config[k]) === JSON.stringify(cfg[k]);
      if (last && last.state === "paused" && last.epoch === 0 && !last.name && Object.keys(cfg).every(same)) {
        await openRun(last.id);
        draft = last.id;
        return;
      }
    } catch {
      /* fall back to a new run */
    }
    await newRun({ start: false });
  }

  /**
   * Play on a run that is done or stopped: the same run goes on to the form's epoch limit when that is
   * further, else for as many epochs again (PATCH epochs pauses it where it ended; then resume).
   */
  async function goOn() {
    const s = get();
    const run = s.run;
    const limit = nextLimit(s);
    if (!s.following) goLive();
    draft = null;
    store.set({ busy: true });
    try {
      let t = performance.now();
      setRun(await api.patch(run.id, { epochs: limit }), t);
      // the run goes on as a new life of the same run: follow it with a new stream, from the last epoch held
      const h = get().history;
      if (stream) stream.close();
      stream = connectRun(store, run.id, { since: h && h.length ? h.lastEpoch() : -1 });
      t = performance.now();
      setRun(await api.control(run.id, "resume"), t);
    } catch (err) {
      fail(err);
    } finally {
      store.set({ busy: false });
    }
  }

  /** Ask /healthz every few seconds while a run is open: storage that fails shows as a lasting message. */
  function watchHealth(every = 4000) {
    const poll = async () => {
      if (get().run && !document.hidden) {
        try {
          const h = await api.health();
          const health = h.status === "ok" ? null : { status: h.status, reason: h.reason || "" };
          if (JSON.stringify(health) !== JSON.stringify(get().health)) store.set({ health });
        } catch {
          /* a server that is gone: the stream says so */
        }
      }
      setTimeout(poll, every);
    };
    poll();
  }

  async function control(action) {
    const s = get();
    if (!s.run) return;
    draft = null;
    const sentAt = performance.now();
    try {
      setRun(await api.control(s.run.id, action), sentAt);
    } catch (err) {
      fail(err);
    }
  }

  const actions = {
    requestFrame,
    /** The frame loop drew: the stream may hand over what arrived since. */
    frameDone: () => stream && stream.frameDone(),
    /** At most `rate` snapshots a second from the server on this run's stream. */
    paceSnapshots: (rate) => stream && stream.pace(rate),
    message,
    dismiss,
    refreshRuns,
    watchHealth,
    refreshEpochs,
    openRun: (id) => openRun(id).catch(() => {}),
    newRun,
    startFresh,
    scrubTo,
    userScrub: (index) => {
      stopReplay();
      return scrubTo(index);
    },
    goLive,
    replay,
    loadScaleReference,
    setView: (patch) => store.set({ view: { ...get().view, ...patch } }),
    select: (selection) => store.set({ selection }),

    /**
     * Change the setup: the learning rate and speed apply live, a new epoch limit lets the same run go on;
     * anything else makes a new run.
     */
    setConfig(patch) {
      const s = get();
      const cat = s.catalog;
      const config = { ...s.config, ...patch };
      if ("dataset" in patch && patch.dataset !== s.config.dataset) {
        const a = s.datasets.find((d) => d.name === s.config.dataset);
        const b = s.datasets.find((d) => d.name === patch.dataset);
        if (!a || !b || a.task !== b.task || a.n_classes !== b.n_classes) {
          config.output_activation = null; // let the server pick the output and cost for the new task
          config.cost = null;
        }
        if (!b || !b.two_d) config.features = [...cat.default_features]; // other features need points in the plane
        config.n_samples = null;
      }
      if ("output_activation" in patch && config.cost !== null && config.output_activation !== null) {
        const cost = cat.by.costs.get(config.cost);
        if (cost && !cost.outputs.includes(config.output_activation)) config.cost = null; // the server's choice
      }
      store.set({ config });
      hash();
      const live = Object.keys(patch).every((k) => LIVE_KEYS.includes(k));
      if (live && s.run && !isTerminal(s.run.state)) {
        if ("epochs" in patch && patch.epochs <= s.run.epoch) {
          message("error", `this run is at epoch ${s.run.epoch}; its new epoch limit must be above that`);
          return;
        }
        const sentAt = performance.now();
        api.patch(s.run.id, { ...patch }).then((run) => setRun(run, sentAt), fail);
        return;
      }
      if (live) return; // an ended run: the new epoch limit is used when it goes on (togglePlay)
      // coalesce a burst of changes (clicking + several times) into one new run
      pendingStart = pendingStart || isRunning(s);
      clearTimeout(resetTimer);
      resetTimer = setTimeout(() => {
        const start = pendingStart;
        pendingStart = false;
        newRun({ start });
      }, 250);
    },

    setRunName(name) {
      store.set({ runName: name });
      const s = get();
      const sentAt = performance.now();
      if (s.run) api.patch(s.run.id, { name }).then((run) => { setRun(run, sentAt); refreshRuns(); }, fail);
    },

    togglePlay() {
      const s = get();
      if (get().busy) return;
      if (s.run && continuable(s.run.state)) return goOn();
      if (!s.run || isTerminal(s.run.state)) return newRun({ start: true });
      if (!s.following) goLive();
      return control(isRunning(s) ? "pause" : "resume");
    },

    /** One epoch (or one mini-batch) forward and backward, then pause. */
    async step(unit) {
      const s = get();
      if (!s.run || s.busy) return;
      if (isTerminal(s.run.state)) {
        const how = continuable(s.run.state) ? "press play to go on" : "press reset to start a new one";
        message("error", `this run is ${s.run.state}; ${how}`);
        return;
      }
      if (!s.following) goLive();
      draft = null;
      try {
        if (isRunning(s)) {
          const t = performance.now();
          setRun(await api.control(s.run.id, "pause"), t);
        }
        const t = performance.now();
        setRun(await api.step(s.run.id, unit), t);
      } catch (err) {
        fail(err);
      }
    },

    // -- hook for the walkthrough and the gradient check (walkthrough_actions.js) --------------------------------
    /**
     * Pause the open run if it trains, and show it live: their questions are about its current weights.
     * `keep`: the run is about to be trained from here, so it is no longer a draft. Throws what the server says.
     */
    async pauseLive({ keep = false } = {}) {
      const s = get();
      if (!s.run) return;
      if (keep) draft = null;
      if (!s.following) goLive();
      if (isRunning(s)) {
        const t = performance.now();
        setRun(await api.control(s.run.id, "pause"), t);
      }
    },

    /** A new run with the same setup: the same seed gives the same initial weights. */
    reset: () => newRun({ start: false }),

    /**
     * A few points of each of these datasets not previewed yet, for their thumbnails (one request each, once):
     * points of a 2-D set, one image of the others (a table with neither gets no preview).
     */
    loadPreviews(datasets) {
      for (const d of datasets) {
        if (previewing.has(d.name) || (!d.two_d && d.name.startsWith("csv:"))) continue;
        previewing.add(d.name);
        const n = Math.min(d.default_samples, d.two_d ? PREVIEW_POINTS : PREVIEW_IMAGES);
        api.preview(d.name, { n_samples: n, seed: 0 })
          .then((p) => store.set({ previews: { ...get().previews, [d.name]: p } }), () => {});
      }
    },

    /** Add an input feature to the network or take one out (a new run), kept in the catalog's order. */
    toggleFeature(name, on) {
      const s = get();
      const chosen = new Set(s.config.features);
      if (on) chosen.add(name);
      else chosen.delete(name);
      if (!chosen.size) {
        message("error", "the network needs at least one input");
        return;
      }
      actions.setConfig({ features: s.catalog.features.map((f) => f.name).filter((n) => chosen.has(n)) });
    },

    /** The runs list's search words and page; older runs are fetched as they are needed. */
    setRunsView(patch) {
      const runsView = { ...get().runsView, ...patch };
      store.set({ runsView });
      runsList.ensure(runsView.query ? Infinity : (runsView.page + 2) * PAGE_SIZE);
    },

    /** Set one weight or bias of a paused run: {kind: "weight" | "bias", layer, row, col?, value}. */
    editParameter(parameter) {
      const s = get();
      if (!s.run) return;
      const sentAt = performance.now();
      api.patch(s.run.id, { parameter }).then((run) => setRun(run, sentAt), fail);
    },

    setProbe(index) {
      const s = get();
      if (!s.run) return;
      const sentAt = performance.now();
      api.patch(s.run.id, { probe_index: index }).then((run) => setRun(run, sentAt), fail);
    },

    async toggleOverlay(id, on) {
      const overlays = { ...get().overlays };
      if (!on) {
        delete overlays[id];
        store.set({ overlays });
        return;
      }
      try {
        const [{ points }, run] = await Promise.all([api.history(id), api.getRun(id)]);
        store.set({ overlays: { ...get().overlays, [id]: { name: runTitle(run, get().datasets), points } } });
      } catch (err) {
        fail(err);
      }
    },

    async deleteRun(id) {
      try {
        await api.deleteRun(id);
        if (draft === id) draft = null;
        const overlays = { ...get().overlays };
        delete overlays[id];
        store.set({ overlays });
        if (get().run && get().run.id === id) await newRun({ start: false });
      } catch (err) {
        fail(err);
      }
      refreshRuns();
    },

    async uploadCsv(form) {
      try {
        const info = await api.uploadCsv(form);
        store.set({ datasets: [...get().datasets.filter((d) => d.name !== info.name), info] });
        message("info", `uploaded ${info.label}: ${info.default_samples ?? "?"} rows, ${info.input_dim} features, ${info.task}`);
        actions.setConfig({ dataset: info.name });
      } catch (err) {
        fail(err);
      }
    },
  };
  return actions;
}
