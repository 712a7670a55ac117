// The form controls. Every element with data-key edits one config field (data-type says how to read it);
// update(state) writes the config back into the form, leaving alone the element being edited. The
// learning rate and speed apply to the running network; any other change makes a new run (a reset).

import { fmtEpoch, setText } from "../format.js";
import { hiddenActivations, isRunning } from "../state.js";

const READ = {
  num: (v) => (v.trim() === "" ? undefined : Number(v)),
  int: (v) => (v.trim() === "" ? undefined : Number(v)),
  pct: (v) => Number(v) / 100,
  opt: (v) => (v === "" ? null : v),
  optnum: (v) => (v.trim() === "" ? null : Number(v)),
  optint: (v) => (v.trim() === "" ? null : Number(v)),
  str: (v) => v,
};
const WRITE = {
  pct: (v) => String(Math.round(v * 100)),
  opt: (v) => (v === null || v === undefined ? "" : String(v)),
  optnum: (v) => (v === null || v === undefined ? "" : String(v)),
  optint: (v) => (v === null || v === undefined ? "" : String(v)),
};

function valid(type, v, el) {
  if (v === null) return true;
  if (type === "int" || type === "optint") {
    if (!Number.isInteger(v)) return false;
  } else if (["num", "optnum", "pct"].includes(type) && !Number.isFinite(v)) return false;
  if (typeof v === "number") {
    if (el.min !== "" && v < Number(el.min)) return false;
    if (el.max !== "" && v > Number(el.max)) return false;
  }
  return true;
}

export function mountControls(root, actions) {
  const fields = [...root.querySelectorAll("[data-key]")];
  const $ = (sel) => root.querySelector(sel);
  let state = null;

  for (const el of fields) {
    const key = el.dataset.key;
    const type = el.dataset.type || "str";
    const out = root.querySelector(`output[data-for="${key}"]`);
    if (out && el.type === "range") el.addEventListener("input", () => { out.textContent = `${el.value}${el.dataset.unit || ""}`; });
    el.addEventListener("change", () => {
      const v = READ[type](el.value);
      const label = el.getAttribute("aria-label") || el.title || key;
      if (v === undefined || !valid(type, v, el)) {
        const range = el.min !== "" ? ` (${el.min} … ${el.max || "∞"})` : "";
        actions.message("error", `${label}: '${el.value}' is not a valid value${range}`);
        sync(true);
        return;
      }
      if (key === "activation") {
        actions.setConfig({ activation: v });
      } else if (key === "runName") {
        actions.setRunName(v);
      } else {
        actions.setConfig({ [key]: v });
      }
    });
  }

  $("#play").addEventListener("click", () => actions.togglePlay());
  $("#step").addEventListener("click", () => actions.step("epoch"));
  $("#step-batch").addEventListener("click", () => actions.step("batch"));
  $("#reset").addEventListener("click", () => actions.reset());
  $("#random-seed").addEventListener("click", () => actions.setConfig({ seed: Math.floor(Math.random() * 100000) }));

  const upload = $("#upload-form");
  upload.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const file = upload.querySelector("input[type=file]").files[0];
    if (!file) {
      actions.message("error", "choose a CSV file to upload first");
      return;
    }
    const form = new FormData();
    form.append("file", file);
    form.append("label_column", upload.querySelector("[name=label_column]").value.trim() || "label");
    form.append("name", upload.querySelector("[name=name]").value.trim() || file.name.replace(/\.csv$/i, ""));
    actions.uploadCsv(form);
  });

  function datasetOptions(s) {
    const select = $("[data-key=dataset]");
    const names = s.datasets.map((d) => d.name);
    if (!names.includes(s.config.dataset)) names.push(s.config.dataset);
    const key = names.join("|");
    if (select.dataset.options === key) return;
    select.dataset.options = key;
    select.replaceChildren(...names.map((n) => {
      const info = s.datasets.find((d) => d.name === n);
      const label = info ? `${info.label || n}${info.task === "regression" ? " (regression)" : ""}` : n;
      const o = new Option(label, n);
      if (info && info.description) o.title = info.description;
      return o;
    }));
  }

  let syncedKey = "";
  function sync(force = false) {
    const s = state;
    const key = [s.rev.config, s.rev.datasets, s.rev.runName].join("|");
    if (!force && key === syncedKey) return;
    syncedKey = key;
    datasetOptions(s);
    for (const el of fields) {
      if (!force && el === document.activeElement && el.tagName === "INPUT" && el.type !== "range") continue;
      const key = el.dataset.key;
      const type = el.dataset.type || "str";
      let v = key === "runName" ? s.runName : s.config[key];
      if (key === "activation") {
        const acts = hiddenActivations(s.config);
        v = acts.length && acts.every((a) => a === acts[0]) ? acts[0] : "";
      }
      const text = WRITE[type] ? WRITE[type](v) : v === null || v === undefined ? "" : String(v);
      if (el.tagName === "SELECT" && text !== "" && ![...el.options].some((o) => o.value === text)) {
        el.append(new Option(text, text)); // a value set by the API or a link, outside the usual choices
      }
      if (el.value !== text) el.value = text;
      const out = root.querySelector(`output[data-for="${key}"]`);
      if (out) setText(out, `${el.value}${el.dataset.unit || ""}`);
    }
  }

  const play = $("#play");
  const epochEl = $("#epoch");
  const pill = $("#run-state");
  const buttons = ["#play", "#step", "#step-batch", "#reset"].map((id) => $(id));
  const momentum = $("#momentum-field");
  const regRate = $("#reg-rate-field");
  const noise = $("#noise-field");
  let drawnKey = "";

  return {
    update(s) {
      state = s;
      sync();
      // the epoch counter changes every frame while training; the rest only with the run's state or setup
      setText(epochEl, fmtEpoch(s.run ? s.run.epoch : 0));
      const st = s.run ? s.run.state : "no run";
      const key = [st, s.run && s.run.reason, s.busy, s.rev.config, s.rev.datasets].join("|");
      if (key === drawnKey) return;
      drawnKey = key;
      const running = isRunning(s);
      play.classList.toggle("playing", running);
      if (play.dataset.running !== String(running)) {
        play.dataset.running = String(running);
        play.setAttribute("aria-label", running ? "Pause" : "Play");
        play.title = running ? "Pause (space)" : "Play (space)";
      }
      setText(pill, st);
      if (pill.dataset.state !== st) pill.dataset.state = st;
      const reason = (s.run && s.run.reason) || "";
      if (pill.title !== reason) pill.title = reason;
      for (const b of buttons) b.disabled = s.busy;
      momentum.hidden = s.config.optimizer !== "momentum";
      regRate.classList.toggle("muted", !s.config.regularization);
      const info = s.datasets.find((d) => d.name === s.config.dataset);
      noise.classList.toggle("muted", !!info && !info.two_d && s.config.dataset !== "digits");
    },
  };
}
