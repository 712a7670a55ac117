"""Frame time of the network diagram and the frame rate the page sustains while a run streams (issue 4).

In headless Chromium (the Debian package; software rendering), against a real server on a free loopback
port, at devicePixelRatio 1 and a 1280×800 window:

1. **Frame time** for 2-4-2-1 (circle), 64-32-10 (digits) and 784-128-64-10 (a 784-column CSV): the page
   is paused on a trained snapshot and redraws the diagram N times. Each timed frame is what the page does
   for a new snapshot: it recomputes every colour (edges, matrix heatmaps, strips, thumbnails — nothing
   cached), draws off screen and copies the frame onto the page's canvas (the captions live on a canvas of
   their own, drawn once per layout, and are not part of it); it ends by reading back one pixel
   (getImageData), which makes the rasteriser finish the paint.
   **Baseline**, measured in the same page and run: an empty frame (clear the canvas, read back one pixel).
   The table gives median and p95 in ms and as a ratio to the baseline's median, which carries from one
   machine to another better than milliseconds do.
2. **Sustained rate** while a run streams at full speed (speed unlimited): animation frames per second of
   the page (requestAnimationFrame callbacks), diagram redraws per second (the page redraws a new snapshot as
   the last redraw's measured cost allows, so a big net is redrawn less often than every frame) and snapshot
   frames received per second (by the page's stream worker; the page decodes only the newest one per
   frame), over a few seconds of wall time. The baseline is the same page's frame rate while the run is
   paused. Side by side with TensorFlow Playground, long tasks and ratios to unwatched training:
   bench_watch.py.

Targets from the issue (ms at DPR 1, for reference, not asserted): ≤ 4, ≤ 20, ≤ 30 per frame; ≥ 30 fps
sustained for small nets.

    .venv/bin/python benchmarks/bench_render.py            # ~2 minutes
    .venv/bin/python benchmarks/bench_render.py --quick    # fewer frames, shorter windows
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT))  # tests.support, which e2e_helpers builds on

from e2e_helpers import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    mnist_like_csv,
    open_page,
    settle,
    start_server,
    stop_running,
    stop_server,
)

# performance.now() is coarsened to 0.1 ms here, so each sample times `batch` frames and divides.
TIMED = """([n, kind, batch]) => {
  const b = window.__bpv;
  const f = {empty: b.benchEmpty, reference: b.benchReference, frame: b.benchFrame}[kind];
  for (let k = 0; k < 5; k++) f();  // warm-up
  const out = [];
  for (let k = 0; k < n; k++) {
    const t = performance.now();
    for (let r = 0; r < batch; r++) f();
    out.push((performance.now() - t) / batch);
  }
  return out;
}"""

RATE = """seconds => new Promise(resolve => {
  let frames = 0;
  const c0 = window.__bpv.counters();
  const e0 = window.__bpv.run().epoch;
  const t0 = performance.now();
  const tick = () => {
    frames++;
    if (performance.now() - t0 < seconds * 1000) return requestAnimationFrame(tick);
    const dt = (performance.now() - t0) / 1000;
    const c1 = window.__bpv.counters();
    resolve({fps: frames / dt, redraws: (c1.frames - c0.frames) / dt, snapshots: (c1.snapshots - c0.snapshots) / dt,
             epochs: (window.__bpv.run().epoch - e0) / dt});
  };
  requestAnimationFrame(tick);
})"""


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def trained_page(browser: Any, server: Any, hash: str, epochs: int) -> Any:
    page, _ = open_page(browser, server, hash=hash)
    page.click("#play")
    page.wait_for_function("n => window.__bpv.run().epoch >= n", arg=epochs, timeout=120_000)
    page.click("#play")
    page.wait_for_function("() => window.__bpv.run().state === 'paused'", timeout=60_000)
    settle(page)
    page.mouse.move(1, 1)
    return page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames and shorter windows")
    args = ap.parse_args()
    n_frames = 40 if args.quick else 120
    window = 3.0 if args.quick else 6.0

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        server = start_server(Path(tmp))
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            wide = server.upload_csv(mnist_like_csv(), name="bench784")["name"]
            nets = [
                ("2-4-2-1", "#dataset=circle&speed=auto", 5, 4.0),
                ("64-32-10", "#dataset=digits&layers=32&lr=0.1&batch=32&speed=auto", 3, 20.0),
                ("784-128-64-10", f"#dataset={wide}&layers=128,64&lr=0.1&batch=16&speed=auto", 2, 30.0),
            ]
            print(f"frame time, {n_frames} frames each, DPR 1, 1280×800 window. Baselines in the same page:\n"
                  "  empty = clear + read back one pixel; reference = 1 000 thin lines + 100 squares + read back\n")
            print(f"{'network':<15}{'edges':>6}{'matrices':>9}{'median ms':>10}{'p95 ms':>8}{'target':>7}"
                  f"{'empty ms':>9}{'ref ms':>8}{'median/ref':>11}{'p95/ref':>8}{'median/empty':>13}")
            for label, hash, epochs, target in nets:
                page = trained_page(browser, server, hash, epochs)
                net = page.evaluate("window.__bpv.network()")
                empty = page.evaluate(TIMED, [n_frames, "empty", 50])
                ref = page.evaluate(TIMED, [n_frames, "reference", 2])
                times = page.evaluate(TIMED, [n_frames, "frame", 1])
                e, r = statistics.median(empty), statistics.median(ref)
                med, p95 = statistics.median(times), pct(times, 0.95)
                print(f"{label:<15}{len(net['edges']):>6}{len(net['matrices']):>9}{med:>10.2f}{p95:>8.2f}"
                      f"{target:>7.0f}{e:>9.3f}{r:>8.2f}{med / r:>11.2f}{p95 / r:>8.2f}{med / e:>13.0f}")
                page.context.close()
                stop_running(server)

            print(f"\nsustained rate while a run streams at full speed ({window:.0f} s windows)\n")
            print(f"{'network':<15}{'paused fps':>11}{'fps':>8}{'fps/paused':>11}{'redraws/s':>10}"
                  f"{'snapshots/s':>12}{'epochs/s':>10}")
            for label, hash, _, _ in nets:
                page, _ = open_page(browser, server, hash=hash)
                page.wait_for_function("() => document.querySelector('.cost-chart .main-svg') !== null",
                                       timeout=120_000)  # Plotly loaded: it blocks the page for seconds
                idle = page.evaluate(RATE, min(window, 3.0))
                page.click("#play")
                page.wait_for_function("() => window.__bpv.run().epoch >= 2", timeout=120_000)
                r = page.evaluate(RATE, window)
                print(f"{label:<15}{idle['fps']:>11.1f}{r['fps']:>8.1f}{r['fps'] / idle['fps']:>11.2f}"
                      f"{r['redraws']:>10.1f}{r['snapshots']:>12.1f}{r['epochs']:>10.1f}")
                page.context.close()
                stop_running(server)
        finally:
            browser.close()
            stop_server(server)


if __name__ == "__main__":
    t0 = time.monotonic()
    main()
    print(f"\n({time.monotonic() - t0:.0f} s)")
