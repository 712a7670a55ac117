// The runs the server stores, for the runs list: fetched newest first in chunks (GET /api/runs), searched
// and paged on the page. A run is shown by its name, or by its dataset's name and its layer sizes when it
// has none; untouched drafts (paused at epoch 0: a setup nobody trained) are not listed, except the open one.

import { api } from "./api.js";

export const PAGE_SIZE = 20;
const CHUNK = 200; // runs per request (the server's largest page)

/** A run nobody trained: made by a settings change or a page load, paused at epoch 0. */
export function isDraft(run) {
  return run.state === "paused" && run.epoch === 0;
}

/** The name of a dataset for people: its label from the server (an upload's given name), else its name. */
export function datasetLabel(datasets, name) {
  const d = datasets.find((x) => x.name === name);
  return (d && d.label) || name;
}

/** What a run is called in lists and legends: its name, else its dataset and layer sizes. */
export function runTitle(run, datasets) {
  return run.name || `${datasetLabel(datasets, run.config.dataset)} · ${run.layer_sizes.join("-")}`;
}

/** `name`, or `name (2)`, `name (3)` … when a run in `runs` has it already; "" stays "". */
export function uniqueName(name, runs) {
  if (!name) return name;
  const taken = new Set(runs.map((r) => r.name));
  if (!taken.has(name)) return name;
  const base = name.replace(/ \(\d+\)$/, "");
  let k = 2;
  while (taken.has(`${base} (${k})`)) k++;
  return `${base} (${k})`;
}

/** The runs to list for a search: every word in its title, dataset or state, or the search is its id's start. */
export function visibleRuns(s) {
  const query = s.runsView.query.trim().toLowerCase();
  const words = query.split(/\s+/).filter(Boolean);
  const current = s.run ? s.run.id : null;
  return s.runs.items.filter((r) => {
    if (isDraft(r) && r.id !== current) return false;
    if (!words.length) return true;
    const text = [runTitle(r, s.datasets), datasetLabel(s.datasets, r.config.dataset), r.state].join(" ").toLowerCase();
    return words.every((w) => text.includes(w)) || r.id.startsWith(query);
  });
}

/**
 * The fetcher: refresh() reloads the newest runs (as many as the page already holds, at least a chunk);
 * ensure(count) fetches older chunks until `count` runs are held or the server has no more.
 */
export function createRunsList(store, fail) {
  let chain = Promise.resolve(); // one request at a time, in order
  async function load(count) {
    const items = [];
    let total = 0;
    do {
      const page = await api.listRuns(CHUNK, items.length);
      items.push(...page.items);
      total = page.total;
      if (!page.items.length) break;
    } while (items.length < Math.min(count, total));
    store.set({ runs: { items, total, complete: items.length >= total } });
  }
  function run(count) {
    chain = chain.then(() => load(count)).catch(fail);
    return chain;
  }
  return {
    refresh: () => run(Math.max(CHUNK, store.state.runs.items.length)),
    ensure(count) {
      const r = store.state.runs;
      if (r.complete || r.items.length >= count) return Promise.resolve();
      return run(count);
    },
  };
}
