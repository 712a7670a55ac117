// Time travel: a scrubber over the epochs the server stored, which redraws the diagram, heatmaps and
// inspector at that epoch, and a "live" button to follow the run again.

import { setText } from "../format.js";
import { shownSnapshot } from "../state.js";

const LIVE_LABEL_MS = 250; // following a run live, the label changes at most 4 times a second (the epoch
// counter at the top shows every epoch)

export function mountTimeline(root, actions) {
  const slider = root.querySelector(".scrubber");
  const label = root.querySelector(".scrub-label");
  const live = root.querySelector(".live-btn");
  const replay = root.querySelector(".replay-btn");
  replay.addEventListener("click", () => actions.replay());
  let drawnKey = "";
  let drawnShape = "";
  let drawnAt = -Infinity;
  let timer = 0;

  const grab = () => actions.refreshEpochs();
  slider.addEventListener("pointerdown", grab);
  slider.addEventListener("focus", grab);
  slider.addEventListener("input", () => actions.userScrub(Number(slider.value)));
  live.addEventListener("click", () => actions.goLive());

  return {
    update(s) {
      const t = s.timeline;
      const snap = shownSnapshot(s);
      const shape = [s.rev.timeline, s.following, s.rev.scrub, s.replaying, s.run && s.run.state].join("|");
      const key = `${shape}|${s.run ? s.run.epoch : -1}|${snap ? `${snap.epoch}.${snap.batch}` : -1}`;
      if (key === drawnKey) return;
      const now = performance.now();
      if (shape === drawnShape && s.following && now - drawnAt < LIVE_LABEL_MS) {
        if (!timer) timer = setTimeout(() => { timer = 0; actions.requestFrame(); }, LIVE_LABEL_MS - (now - drawnAt));
        return;
      }
      drawnKey = key;
      drawnShape = shape;
      drawnAt = now;
      const n = t.epochs.length;
      // live: the thumb sits at the right end even before the list of stored epochs is fetched
      const max = String(Math.max(s.following ? 1 : 0, n - 1));
      if (slider.max !== max) slider.max = max;
      slider.disabled = !s.run;
      if (s.following && !s.replaying) {
        if (document.activeElement !== slider && slider.value !== slider.max) slider.value = slider.max;
        const epoch = snap ? snap.epoch : s.run ? s.run.epoch : 0;
        setText(label, `live · epoch ${epoch}${snap && snap.batch ? ` + ${snap.batch} batch${snap.batch > 1 ? "es" : ""}` : ""}`);
      } else {
        slider.value = String(Math.max(0, t.index));
        const want = t.epochs[t.index];
        const at = snap ? snap.epoch : want;
        setText(label, t.loading ? `loading epoch ${want}…` : `epoch ${at} of ${s.run ? s.run.epoch : "?"} (stored ${t.index + 1}/${n})`);
      }
      setText(replay, s.replaying ? "■ stop" : "⟲ replay");
      replay.setAttribute("aria-pressed", String(s.replaying));
      live.classList.toggle("active", s.following);
      live.setAttribute("aria-pressed", String(s.following));
      root.classList.toggle("travelling", !s.following);
    },
  };
}
