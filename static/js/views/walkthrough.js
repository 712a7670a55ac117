// The walkthrough: one training step of the open run taken apart, one frame per click (← →, auto-advance),
// in a panel under the network diagram, with the diagram of the frame drawn over the live one. Everything it
// shows is the server's answer to POST /api/runs/{id}/walkthrough; the store's `walk` slice says which frame.
// update(state) is idempotent and cheap when nothing it shows changed: the frame loop calls it every frame.

import { setText } from "../format.js";
import { SPEEDS, STEP_CHIPS, STEP_NAMES, atEnd, walkStale } from "../walkthrough_state.js";
import { canvasTheme } from "./network_draw.js";
import { computeLayout } from "./network_layout.js";
import { WalkRenderer } from "./walkthrough_draw.js";
import { frameNumbers, frameTitle, h } from "./walkthrough_tables.js";

const MAX_INDICES = 40; // batch indices listed; more are counted

/** An equation's parts ("a = …, b = …"), each kept on one line: a narrow panel breaks between them. */
function equationParts(text) {
  const parts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    else if (c === "," && depth === 0 && text[i + 1] === " ") {
      parts.push(text.slice(start, i + 1));
      start = i + 2;
    }
  }
  parts.push(text.slice(start));
  return parts.flatMap((part, k) => [k ? " " : null, h("span", { class: "walk-eq-part" }, part)]).filter(Boolean);
}

/**
 * root: the panel (#walkthrough); networkPanel: the diagram's panel, whose .net-wrap gets the overlay;
 * button: "Step through"; layoutOf: the live diagram's layout (the overlay draws on the same one: its input
 * column, margins and wide layers); walk: the walkthrough's actions (walkthrough_actions.js).
 */
export function mountWalkthrough(root, { networkPanel, button, layoutOf }, walk) {
  const net = networkPanel.querySelector("canvas.net");
  const overlay = h("canvas", { class: "walk-overlay", "aria-hidden": "true" });
  net.after(overlay); // under the captions canvas, over the live diagram
  const renderer = new WalkRenderer();

  const title = h("h3", { class: "walk-title", id: "walk-title" });
  const close = h("button", { type: "button", class: "small-btn walk-close", title: "leave the walkthrough (Esc)", "aria-label": "leave the walkthrough" }, "×");
  const where = h("div", { class: "walk-where" });
  const chips = h("div", { class: "walk-chips", role: "group", "aria-label": "the six steps" },
    STEP_NAMES.map((name) => h("button", { type: "button", class: "walk-chip", "data-step": name }, STEP_CHIPS[name])));
  const body = h("div", { class: "walk-body" });
  const status = h("div", { class: "walk-status" });
  const back = h("button", { type: "button", class: "small-btn walk-back", title: "previous (←)" }, "← back");
  const pos = h("span", { class: "walk-pos" });
  const next = h("button", { type: "button", class: "small-btn walk-next", title: "next (→)" }, "next →");
  const play = h("button", { type: "button", class: "small-btn walk-play", "aria-pressed": "false" }, "▶ auto");
  const speed = h("select", { class: "walk-speed", "aria-label": "auto-advance speed" },
    SPEEDS.map((sp) => h("option", { value: sp.ms }, `${sp.label} (${sp.ms / 1000} s)`)));
  const probe = h("input", { type: "number", min: 0, step: 1, class: "walk-probe", "aria-label": "follow training example number" });
  const apply = h("button", { type: "button", class: "small-btn walk-apply", title: "train exactly this mini-batch step" }, "Apply this step");
  root.append(
    h("div", { class: "walk-head" }, title, close), where, chips, body, status,
    h("div", { class: "walk-nav" }, back, pos, next, play, speed, h("label", { class: "walk-probe-label" }, "follow example #", probe), apply),
  );
  root.setAttribute("aria-labelledby", "walk-title");

  button.addEventListener("click", () => walk.open({ restart: true }));
  close.addEventListener("click", () => walk.close());
  back.addEventListener("click", () => walk.back());
  next.addEventListener("click", () => walk.next());
  play.addEventListener("click", () => walk.togglePlay());
  apply.addEventListener("click", () => walk.apply());
  speed.addEventListener("change", () => walk.setSpeed(Number(speed.value)));
  chips.addEventListener("click", (ev) => {
    const chip = ev.target.closest(".walk-chip");
    if (chip && !chip.disabled) walk.goToStep(chip.dataset.step);
  });
  probe.addEventListener("change", () => {
    const v = probe.value.trim();
    walk.setProbe(v === "" ? null : Math.max(0, Math.floor(Number(v))));
  });
  status.addEventListener("click", (ev) => {
    if (ev.target.closest(".walk-again")) walk.open({ restart: true });
  });

  // the overlay has the live diagram's size (the network view sizes that canvas)
  let cssW = 0;
  let cssH = 0;
  let dpr = 1;
  let state = null;
  new ResizeObserver(() => {
    cssW = net.clientWidth;
    cssH = net.clientHeight;
    dpr = window.devicePixelRatio || 1;
    overlay.style.width = `${cssW}px`;
    overlay.style.height = `${cssH}px`;
    overlay.width = Math.round(cssW * dpr);
    overlay.height = Math.round(cssH * dpr);
    drawnOverlay = "";
    if (state) walk.requestFrame();
  }).observe(net);

  let drawnPanel = "";
  let drawnOverlay = "";
  let wasOpen = false;

  function colors() {
    const css = getComputedStyle(networkPanel);
    const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    return { bg: v("--panel", "#fff"), ink: v("--ink", "#263238"), faint: v("--line", "#dde1e4"), label: v("--walk-label", "rgba(255,255,255,0.85)") };
  }

  function drawOverlay(s, w) {
    if (!w.answer || !cssW) return;
    const live = layoutOf();
    const same = live && live.width === cssW && live.height === cssH && live.sizes.join() === w.answer.layer_sizes.join();
    const key = [s.rev.walk, JSON.stringify(s.selection), cssW, cssH, dpr, s.theme, same ? live.key : ""].join("|");
    if (key === drawnOverlay) return;
    drawnOverlay = key;
    const layout = same ? live : computeLayout(w.answer.layer_sizes, cssW, cssH, { wide: s.catalog.max_grid_neurons });
    const ctx = overlay.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    renderer.draw(ctx, layout, w.answer, w.frames[w.index],
      { colors: colors(), theme: canvasTheme(networkPanel), selection: s.selection, dpr, catalog: s.catalog });
  }

  function whereText(ans) {
    const list = ans.batch_indices.slice(0, MAX_INDICES).map((i) => `#${i}`).join(", ");
    const more = ans.batch_indices.length > MAX_INDICES ? `, … (${ans.batch_indices.length - MAX_INDICES} more)` : "";
    return [
      h("div", {}, h("strong", {}, `The next step: mini-batch ${ans.batch + 1} of ${ans.n_batches} of epoch ${ans.epoch + 1}`),
        ` — its ${ans.batch_indices.length} training examples `,
        h("span", { class: "walk-batch", "data-indices": ans.batch_indices.join(",") }, `${list}${more}`), "."),
      h("div", {}, "Followed through the network: the probe, ",
        h("span", { class: "walk-probe-info", "data-probe": ans.probe.index, "data-in-batch": String(ans.probe.in_batch) },
          `example #${ans.probe.index}, ${ans.probe.in_batch ? "one of this batch's examples" : "not in this batch"}`),
        ". The probe's numbers are one example's; the gradients the update uses average the batch's."),
    ];
  }

  function statusNodes(s, w) {
    if (w.status === "loading" && !w.answer) return [h("p", {}, "Asking the server for the run's next mini-batch step…")];
    const out = [];
    if (w.error) out.push(h("p", { class: "walk-error", role: "alert" }, w.error));
    const again = h("button", { type: "button", class: "small-btn walk-again" }, "Walk the next batch");
    if (w.applied) {
      const a = w.applied;
      out.push(h("p", { class: "walk-applied" }, `Applied: the run trained this mini-batch (batch ${a.batch + 1} of ${a.n_batches} of epoch ${a.epoch + 1}), `
        + `exactly these numbers. ${a.batch + 1 === a.n_batches ? "It ended the epoch: the curves show its cost."
          : `The curves gain a point when the epoch ends, after batch ${a.n_batches}.`} `, again));
    } else if (w.applying) {
      out.push(h("p", {}, "Training this step…"));
    } else if (walkStale(w, s)) {
      out.push(h("p", { class: "walk-stale" }, "The run has moved on since: this is no longer its next step. ", again));
    } else if (w.answer) {
      out.push(h("p", { class: "walk-hint" }, "Nothing has changed yet: the run waits, paused. “Apply this step” trains exactly this mini-batch; "
        + "← → move, Esc leaves."));
    }
    return out;
  }

  function renderPanel(s, w) {
    const ans = w.answer;
    if (!ans) {
      setText(title, "Step through one training step");
      where.replaceChildren();
      body.replaceChildren();
    } else {
      const frame = w.frames[w.index];
      const step = ans.steps.find((x) => x.name === frame.step);
      setText(title, frameTitle(ans, frame, step.label));
      where.replaceChildren(...whereText(ans));
      body.replaceChildren(...[
        h("p", { class: "walk-text" }, step.text),
        h("p", { class: "walk-eq" }, equationParts(step.equation)),
        step.note ? h("p", { class: "walk-note" }, step.note) : null,
        ...frameNumbers(ans, frame),
        step.seed ? h("p", { class: "walk-seed" }, `In the text: ${step.seed}`) : null,
      ].filter(Boolean));
      body.dataset.step = frame.step;
      body.dataset.index = String(w.index);
      for (const chip of chips.children) {
        const here = chip.dataset.step === frame.step;
        chip.classList.toggle("current", here);
        chip.setAttribute("aria-current", here ? "step" : "false");
        chip.disabled = !w.frames.some((f) => f.step === chip.dataset.step);
      }
      if (document.activeElement !== probe) probe.value = String(ans.probe.index);
    }
    status.replaceChildren(...statusNodes(s, w));
    const ready = w.status === "ready";
    setText(pos, ready ? `${w.index + 1} / ${w.frames.length}` : "");
    back.disabled = !ready || w.index === 0;
    next.disabled = !ready || atEnd(w);
    play.disabled = !ready;
    setText(play, w.playing ? "❚❚ pause" : "▶ auto");
    play.setAttribute("aria-pressed", String(w.playing));
    if (speed.value !== String(w.speed)) speed.value = String(w.speed);
    apply.disabled = !ready || w.applying || !!w.applied || walkStale(w, s);
    apply.classList.toggle("primary", ready && atEnd(w) && !w.applied);
  }

  return {
    update(s) {
      state = s;
      const w = s.walk;
      const open = !!w;
      const disabled = s.busy || !s.run;
      if (button.disabled !== disabled) button.disabled = disabled;
      if (open !== wasOpen) {
        wasOpen = open;
        root.hidden = !open;
        overlay.hidden = !open;
        networkPanel.classList.toggle("walking", open);
        button.setAttribute("aria-pressed", String(open));
        drawnPanel = "";
        drawnOverlay = "";
        if (open) {
          const r = networkPanel.getBoundingClientRect();
          if (r.top < 0 || r.top > window.innerHeight * 0.5) networkPanel.scrollIntoView({ block: "start" });
          next.focus({ preventScroll: true });
        }
      }
      if (!open) return;
      const key = [s.rev.walk, walkStale(w, s)].join("|");
      if (key !== drawnPanel) {
        drawnPanel = key;
        renderPanel(s, w);
      }
      drawOverlay(s, w);
    },
    /** For the tests: where the walk is and what the diagram drew. */
    debug() {
      const w = state && state.walk;
      if (!w) return null;
      return { status: w.status, index: w.index, count: w.frames.length, frame: w.frames[w.index] || null, playing: w.playing,
        stale: walkStale(w, state), applied: !!w.applied, error: w.error, drawn: renderer.last };
    },
  };
}
