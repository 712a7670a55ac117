// The runs list (GET /api/runs): open a run to replay it, tick two or more to overlay their cost curves,
// export or delete. Names are user text and are only ever set as textContent.

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function mountRuns(root, actions) {
  const list = root.querySelector(".runs-list");
  const total = root.querySelector(".runs-total");
  root.querySelector(".runs-refresh").addEventListener("click", () => actions.refreshRuns());
  let drawnKey = "";

  function row(run, s) {
    const li = document.createElement("li");
    li.className = "run-row";
    li.dataset.runId = run.id;
    if (s.run && s.run.id === run.id) li.classList.add("current");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "overlay-box";
    box.checked = !!s.overlays[run.id];
    box.title = "overlay this run's cost curve";
    box.setAttribute("aria-label", `overlay the cost curve of ${run.name || run.id}`);
    box.addEventListener("change", () => actions.toggleOverlay(run.id, box.checked));
    const name = document.createElement("span");
    name.className = "run-name";
    name.textContent = run.name || "(unnamed)";
    name.title = run.id;
    const meta = document.createElement("span");
    meta.className = "run-meta";
    meta.textContent = `${run.config.dataset} · ${run.layer_sizes.join("-")} · ${run.state} · epoch ${run.epoch} · ${when(run.created_at)}`;
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
    del.setAttribute("aria-label", `delete run ${run.name || run.id}`);
    del.addEventListener("click", () => actions.deleteRun(run.id));
    const text = document.createElement("div");
    text.className = "run-text";
    text.append(name, meta);
    li.append(box, text, open, exp, del);
    return li;
  }

  return {
    update(s) {
      const key = [s.rev.runs, s.rev.overlays, s.run && s.run.id].join("|");
      if (key === drawnKey) return;
      drawnKey = key;
      const items = s.runs.items;
      total.textContent = items.length ? `${s.runs.total} run${s.runs.total === 1 ? "" : "s"}` : "";
      if (!items.length) {
        const li = document.createElement("li");
        li.className = "run-empty";
        li.textContent = "No runs yet — press play.";
        list.replaceChildren(li);
        return;
      }
      list.replaceChildren(...items.map((r) => row(r, s)));
      const n = Object.keys(s.overlays).length;
      root.querySelector(".runs-hint").textContent = n
        ? `${n} run${n === 1 ? "" : "s"} overlaid on the cost chart (dashed).`
        : "Tick runs to overlay their cost curves on the chart.";
    },
  };
}
