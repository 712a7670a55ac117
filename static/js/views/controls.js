// The form controls. Every element with data-key edits one config field (data-type says how to read it);
// update(state) writes the config back into the form, leaving alone the element being edited. The
// learning rate, speed and epoch limit apply to the running network; any other change makes a new run (a
// reset). The choices of every select with data-options, and the bounds of every number, come from the
// catalog (catalog.js): this file names no activation, cost, limit or default.

import { autoOutput, bounds, boundsText, costsFor, inBounds, label, names } from "../catalog.js";
import { fmtEpoch, selectTitle, setHidden, setText } from "../format.js";
import { continuable, hiddenActivations, isRunning, nextLimit, shownSnapshot } from "../state.js";

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

/** The choices of a select with data-options: [value, text] pairs from the catalog. */
const OPTIONS = {
  "hidden-activations": (cat) => names(cat, "activations", (a) => a.hidden).map((n) => [n, label(cat, "activations", n)]),
  activations: (cat) => names(cat, "activations").map((n) => [n, label(cat, "activations", n)]),
  costs: (cat) => cat.costs.map((c) => [c.name, `${c.label}: ${c.formula}`]),
  inits: (cat) => cat.inits.map((t) => [t.name, t.label]),
  optimizers: (cat) => cat.optimizers.map((t) => [t.name, t.label]),
  regularizations: (cat) => cat.regularizations.map((t) => [t.name, t.label]),
  dtypes: (cat) => cat.dtypes.map((n) => [n, n]),
};

function valid(cat, key, type, v) {
  if (v === null) return true;
  if ((type === "int" || type === "optint") && !Number.isInteger(v)) return false;
  if (typeof v === "number") return inBounds(bounds(cat, key), v);
  return true;
}

export function mountControls(root, actions) {
  const fields = [...root.querySelectorAll("[data-key]")];
  const $ = (sel) => root.querySelector(sel);
  let state = null;
  let filledFor = null;

  for (const el of fields) {
    const key = el.dataset.key;
    const type = el.dataset.type || "str";
    const out = root.querySelector(`output[data-for="${key}"]`);
    if (out && el.type === "range") el.addEventListener("input", () => { out.textContent = `${el.value}${el.dataset.unit || ""}`; });
    el.addEventListener("change", () => {
      const v = el.type === "checkbox" ? el.checked : READ[type](el.value);
      const name = el.getAttribute("aria-label") || el.title || key;
      if (v === undefined || !valid(state.catalog, key, type, v)) {
        const b = bounds(state.catalog, key);
        const range = type === "pct" ? "" : ` (${boundsText(b)})`;
        actions.message("error", `${name}: '${el.value}' is not a valid value${range}`);
        sync(true);
        return;
      }
      if (key === "runName") actions.setRunName(v);
      else actions.setConfig({ [key]: v });
    });
  }

  $("#play").addEventListener("click", () => actions.togglePlay());
  $("#step").addEventListener("click", () => actions.step("epoch"));
  $("#step-batch").addEventListener("click", () => actions.step("batch"));
  $("#reset").addEventListener("click", () => actions.reset());
  const randomSeed = () => actions.setConfig({ seed: Math.floor(Math.random() * 1e6) });
  $("#random-seed").addEventListener("click", randomSeed);
  $("#regenerate").addEventListener("click", randomSeed);

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

  /** The catalog's choices and bounds, written into the form once it arrives. */
  function fill(cat) {
    filledFor = cat;
    for (const el of root.querySelectorAll("select[data-options]")) {
      const keep = [...el.options].filter((o) => o.dataset.fixed !== undefined); // "auto", "none"
      const made = OPTIONS[el.dataset.options](cat).map(([value, text]) => {
        const o = new Option(text, value);
        o.title = text;
        return o;
      });
      el.replaceChildren(...keep, ...made);
    }
    for (const el of fields) {
      const key = el.dataset.key;
      if (el.tagName !== "INPUT" || !["number", "range"].includes(el.type) || !cat.config.bounds[key]) continue;
      const b = bounds(cat, key);
      const f = el.dataset.type === "pct" ? 100 : 1;
      const lo = b.min ?? b.xmin;
      const hi = b.max ?? b.xmax;
      if (lo !== null) el.min = String(lo * f);
      if (hi !== null) el.max = String(hi * f);
    }
  }

  function datasetOptions(s) {
    const select = $("[data-key=dataset]");
    const names = s.datasets.map((d) => d.name);
    if (!names.includes(s.config.dataset)) names.push(s.config.dataset);
    const key = JSON.stringify(s.datasets.map((d) => [d.name, d.label]).concat([s.config.dataset]));
    if (select.dataset.options === key) return;
    select.dataset.options = key;
    select.replaceChildren(...names.map((n) => {
      const info = s.datasets.find((d) => d.name === n);
      const text = info ? `${info.label || n}${info.task === "regression" ? " (regression)" : ""}` : n;
      const o = new Option(text, n);
      o.title = info && info.description ? `${text}: ${info.description}` : text;
      return o;
    }));
  }

  /** "auto" names what the server will choose; costs that do not fit the output are greyed out. */
  function choices(s) {
    const cat = s.catalog;
    const info = s.datasets.find((d) => d.name === s.config.dataset);
    const out = autoOutput(cat, info);
    const outAuto = $("[data-key=output_activation] option[value='']");
    setText(outAuto, out ? `auto (${label(cat, "activations", out)})` : "auto");
    const fits = costsFor(cat, s.config.output_activation ?? out);
    for (const o of $("[data-key=cost]").options) if (o.value) o.disabled = !fits.includes(o.value);
  }

  let syncedKey = "";
  function sync(force = false) {
    const s = state;
    const key = [s.rev.config, s.rev.datasets, s.rev.runName, s.rev.catalog].join("|");
    if (!force && key === syncedKey) return;
    syncedKey = key;
    datasetOptions(s);
    choices(s);
    for (const el of fields) {
      if (!force && el === document.activeElement && el.tagName === "INPUT" && el.type !== "range") continue;
      const key = el.dataset.key;
      const type = el.dataset.type || "str";
      let v = key === "runName" ? s.runName : s.config[key];
      if (el.type === "checkbox") {
        el.checked = !!v;
        continue;
      }
      if (key === "activation") {
        const acts = hiddenActivations(s.config);
        v = acts.length && acts.every((a) => a === acts[0]) ? acts[0] : "";
      }
      const text = WRITE[type] ? WRITE[type](v) : v === null || v === undefined ? "" : String(v);
      if (el.tagName === "SELECT" && text !== "" && ![...el.options].some((o) => o.value === text)) {
        el.append(new Option(text, text)); // a value set by the API or a link, outside the usual choices
      }
      if (el.value !== text) el.value = text;
      if (el.tagName === "SELECT") selectTitle(el);
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
      if (s.catalog !== filledFor) fill(s.catalog);
      sync();
      // the epoch counter changes every frame while training; while time-travelling it shows the epoch shown
      const shown = !s.following && shownSnapshot(s);
      setText(epochEl, fmtEpoch(shown ? shown.epoch : s.run ? s.run.epoch : 0));
      if (epochEl.classList.contains("travelling") !== !!shown) {
        epochEl.classList.toggle("travelling", !!shown);
        epochEl.title = shown ? "time travel: the epoch shown (live: the button under the diagram)" : "";
      }
      const st = s.run ? s.run.state : "no run";
      const key = [st, s.run && s.run.reason, s.run && s.run.epoch, s.busy, s.rev.config, s.rev.datasets].join("|");
      if (key === drawnKey) return;
      drawnKey = key;
      const running = isRunning(s);
      play.classList.toggle("playing", running);
      const goesOn = !running && s.run && continuable(s.run.state);
      const title = running ? "Pause (space)" : goesOn ? `Go on to epoch ${nextLimit(s)} (space): the same run, its curve continued` : "Play (space)";
      if (play.title !== title) {
        play.title = title;
        play.setAttribute("aria-label", running ? "Pause" : goesOn ? "Go on" : "Play");
      }
      setText(pill, st);
      if (pill.dataset.state !== st) pill.dataset.state = st;
      const reason = (s.run && s.run.reason) || "";
      if (pill.title !== reason) pill.title = reason;
      for (const b of buttons) b.disabled = s.busy;
      // a field named after the chosen optimiser is that optimiser's parameter (momentum's μ)
      setHidden(momentum, s.config.optimizer !== momentum.querySelector("[data-key]").dataset.key);
      regRate.classList.toggle("muted", !s.config.regularization);
      noise.classList.toggle("muted", s.config.dataset.startsWith("csv:")); // an upload is as it was given
    },
  };
}
