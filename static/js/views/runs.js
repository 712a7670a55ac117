// The runs list (GET /api/runs): open a run to replay it, tick two or more to overlay their cost curves,
// export or delete; search it and page through it. Each run shows its name, or its dataset's name and its
// layer sizes (runs_list.js). Names are user text and are only ever set as textContent.

import { PAGE_SIZE, datasetLabel, runTitle, visibleRuns } from "../runs_list.js";

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function mountRuns(root, actions) {
  const list = root.querySelector(".runs-list");
  const total = root.querySelector(".runs-total");
  const search = root.querySelector(".runs-search");
  const prev = root.querySelector(".runs-prev");
  const next = root.querySelector(".runs-next");
  const pageLabel = root.querySelector(".runs-page");
  let state = null;
  root.querySelector(".runs-refresh").addEventListener("click", () => actions.refreshRuns());
  search.addEventListener("input", () => actions.setRunsView({ query: search.value, page: 0 }));
  prev.addEventListener("click", () => actions.setRunsView({ page: Math.max(0, state.runsView.page - 1) }));
  next.addEventListener("click", () => actions.setRunsView({ page: state.runsView.page + 1 }));
  let drawnKey = "";

  function row(run, s) {
    const title = runTitle(run, s.datasets);
    const li = document.createElement("li");
    li.className = "run-row";
    li.dataset.runId = run.id;
    if (s.run && s.run.id === run.id) li.classList.add("current");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "overlay-box";
    box.checked = !!s.overlays[run.id];
    box.title = "overlay this run's cost curve";
    box.setAttribute("aria-label", `overlay the cost curve of ${title}`);
    box.addEventListener("change", () => actions.toggleOverlay(run.id, box.checked));
    const name = document.createElement("span");
    name.className = "run-name";
    name.textContent = title;
    name.title = `${title} (${run.id})`;
    if (!run.name) name.classList.add("unnamed");
    const meta = document.createElement("span");
    meta.className = "run-meta";
    meta.textContent = `${datasetLabel(s.datasets, run.config.dataset)} · ${run.layer_sizes.join("-")} · ${run.state} · epoch ${run.epoch} · ${when(run.created_at)}`;
    meta.title = meta.textContent;
    const open = document.createElement("button");
    open.type = "button";
    open.textContent = "open";
    open.className = "small-btn open-run";
    open.disabled = !!(s.run && s.run.id === run.id);
    open.addEventListener("click", () => actions.openRun(run.id));
    const exp = document.createElement("a");
    exp.href = run.links.export;
    exp.textContent = "export JSON";
    exp.className = "small-btn exp";
    exp.setAttribute("download", `${run.id}.json`);
    const del = document.createElement("button");
    del.type = "button";
    del.textContent = "×";
    del.className = "small-btn del";
    del.title = "delete this run";
    del.setAttribute("aria-label", `delete run ${title}`);
    del.addEventListener("click", () => actions.deleteRun(run.id));
    const text = document.createElement("div");
    text.className = "run-text";
    text.append(name, meta);
    li.append(box, text, open, exp, del);
    return li;
  }

  return {
    update(s) {
      state = s;
      const key = [s.rev.runs, s.rev.overlays, s.rev.runsView, s.rev.datasets, s.run && s.run.id].join("|");
      if (key === drawnKey) return;
      drawnKey = key;
      if (search.value !== s.runsView.query && document.activeElement !== search) search.value = s.runsView.query;
      const shown = visibleRuns(s);
      const pages = Math.max(1, Math.ceil(shown.length / PAGE_SIZE));
      const page = Math.min(s.runsView.page, pages - 1);
      const more = !s.runs.complete;
      total.textContent = s.runs.total ? `${s.runs.total} run${s.runs.total === 1 ? "" : "s"}` : "";
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1 && !more;
      pageLabel.textContent = shown.length
        ? `${page * PAGE_SIZE + 1}–${Math.min(shown.length, (page + 1) * PAGE_SIZE)} of ${shown.length}${more ? "+" : ""}`
        : "";
      if (!shown.length) {
        const li = document.createElement("li");
        li.className = "run-empty";
        li.textContent = s.runsView.query ? `No run matches '${s.runsView.query}'.` : "No runs yet — press play.";
        list.replaceChildren(li);
      } else {
        list.replaceChildren(...shown.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE).map((r) => row(r, s)));
      }
      const n = Object.keys(s.overlays).length;
      root.querySelector(".runs-hint").textContent = n
        ? `${n} run${n === 1 ? "" : "s"} overlaid on the cost chart (dashed).`
        : "Tick runs to overlay their cost curves on the chart.";
    },
  };
}
