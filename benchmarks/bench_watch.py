"""Watching a run at full speed, side by side with TensorFlow Playground's own build (issue 9).

One headless Chromium (the Debian package, 1400×900, DPR 1) and, in turn, two apps, each as fast as it goes:

- **ours**: a real uvicorn from this checkout (``python -m uvicorn app.main:create_app --factory
  --ws-per-message-deflate false``, a temporary BPV_DATA_DIR), the page opened on the workload's setup with
  speed unlimited, then play.
- **Playground**: its build in ``../shared/peers/playground/dist`` served by ``python3 -m http.server``; its
  requests to the outside (fonts, analytics) are aborted. Press ``#play-pause-button``; the epoch counter is
  ``#iter-number``, the test loss ``#loss-test``. It trains one epoch per animation frame.

Per workload and repetition (repetitions interleaved, the order of the apps alternating):

- **epochs/s watched**: the epoch counter the page shows, over a window after a warm-up.
- **epochs/s unwatched** (ours): the same config started over REST with no page and no WebSocket open, from
  the run's epoch counter (GET /api/runs/{id}).
- **one run by turns** (ours): one run started over REST, measured unwatched, then with our page open on it
  (``#run=…``, after a warm-up), then unwatched again, three times; each watched window against the mean of
  the unwatched windows beside it, and the median of the three. The machine's speed drifts between separate
  runs minutes apart; windows seconds apart on one run see the same machine.
- **fps**: requestAnimationFrame callbacks per second in the page (an init script counts them in both apps).
- **long tasks**: PerformanceObserver 'longtask' entries (main-thread tasks over 50 ms) in the window, per
  10 s, and the longest.
- **interaction while streaming** (ours): a click on a neuron, then on an edge (a weight-matrix cell for wide
  nets) → the next animation frame after the inspector shows the new selection, in ms from the
  pointerdown; and dragging the time-travel scrubber across for ~1.5 s: fps and the longest task meanwhile.
- **10 watchers** (ours, defaults): the page plus 9 plain WebSocket clients reading everything, each asking
  for the snapshots a page asks for (30 a second); epochs/s against the unwatched run of the same
  repetition, and the CPU the 9 clients took meanwhile (this process: they share the machine's two cores
  with the server, the training and Chromium, where a class's would be on its own machines).
- **learning time** (defaults): wall-clock seconds from pressing play to a test loss < 0.05 on screen (our
  cost readout, Playground's ``#loss-test``), read every animation frame.

The machine is shared: every ratio is taken against a baseline measured in the same run, and the load
average is printed. Nothing here fails on a threshold. ``--trace DIR`` also saves a Chromium performance
trace (chrome://tracing / Perfetto format) of each of our watched windows, to attribute long tasks.

    .venv/bin/python benchmarks/bench_watch.py            # 3 repetitions, 8 s windows (~10 minutes)
    .venv/bin/python benchmarks/bench_watch.py --quick    # 1 repetition, 4 s windows (~3 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT))  # tests.support, which e2e_helpers builds on

from e2e_helpers import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    free_port,
    mnist_like_csv,
    new_page,
    start_server,
    stop_running,
    stop_server,
    wait_drawn,
)

PLAYGROUND = ROOT.parent / "shared" / "peers" / "playground" / "dist"
VIEWPORT = {"width": 1400, "height": 900}
MAX_EPOCHS = 100_000  # the server's default limit: long enough to never end inside a window
PG_HASH = ("#activation=tanh&batchSize=10&dataset={dataset}&regDataset=reg-plane&learningRate=0.03&"
           "regularizationRate=0&noise=0&networkShape={shape}&seed=0.1&showTestData=false&discretize=false&"
           "percTrainData=50&x=true&y=true&xTimesY=false&xSquared=false&ySquared=false&cosX=false&sinX=false&"
           "cosY=false&sinY=false&collectStats=false&problem=classification&initZero=false&hideText=false")

# Counts animation frames and records long tasks from the very start of the page, in both apps.
PROBE = """(() => {
  const probe = { frames: 0, long: [] };
  Object.defineProperty(window, "__probe", { value: probe });
  const tick = () => { probe.frames++; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) probe.long.push([e.startTime, e.duration]);
  }).observe({ type: "longtask" });
})();"""

PAGE_SNAPSHOT_RATE = 30  # what our page asks for when it opens a stream (static/js/socket.js, SNAPSHOT_RATE)
OURS_EPOCH = "() => window.__bpv.run().epoch"
PG_EPOCH = "() => Number(document.querySelector('#iter-number').textContent.replace(/\\D/g, ''))"
SAMPLE = "() => ({{ t: performance.now(), frames: window.__probe.frames, epoch: ({})() }})"  # .format(epoch JS)
# Our page's own accounts: snapshots received, diagram redraws, main-thread ms per view (the attribution).
VIEWS = """() => { const c = window.__bpv.counters();
  const views = window.__bpv.viewTimes ? window.__bpv.viewTimes() : {};  // (older pages: no accounts)
  return { t: performance.now(), received: c.snapshots, redraws: c.frames, views }; }"""
LONG_BETWEEN = """([t0, t1]) => window.__probe.long.filter(([s]) => s >= t0 && s < t1).map(([, d]) => d)"""

# Learning time: press play, then read the test loss on screen every animation frame until it is < 0.05.
LEARN = """([button, sel, pattern, limit]) => new Promise((resolve) => {
  const re = new RegExp(pattern);
  const t0 = performance.now();
  document.querySelector(button).click();
  const tick = () => {
    const m = re.exec(document.querySelector(sel).textContent || "");
    const v = m ? Number(m[1].replace("\\u2212", "-")) : NaN;
    if (v < 0.05) return resolve((performance.now() - t0) / 1000);
    if (performance.now() - t0 > limit * 1000) return resolve(null);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})"""

# Arm a click measurement: from the next pointerdown to the frame after the inspector shows a new selection
# and its head names `prefix` (the head of the previous selection also changes as the run streams).
ARM_CLICK = """prefix => {
  window.__click = null;
  const head = document.querySelector(".inspector-head");
  const before = JSON.stringify(window.__bpv.selection());
  let t0 = 0;
  // the event's timeStamp: when the browser took the input, so time it waited for the main thread counts
  addEventListener("pointerdown", (ev) => { t0 = ev.timeStamp || performance.now(); }, { capture: true, once: true });
  const check = () => {
    if (t0 && head.textContent.startsWith(prefix) && JSON.stringify(window.__bpv.selection()) !== before) {
      mo.disconnect();
      requestAnimationFrame(() => { window.__click = performance.now() - t0; });
    }
  };
  const mo = new MutationObserver(check);
  mo.observe(document.querySelector("#inspector"), { childList: true, subtree: true, characterData: true });
}"""

# Where to click: a neuron of the first hidden layer, and an edge (or a weight-matrix cell) of the last gap.
TARGETS = """() => {
  const d = window.__bpv.network();
  const c = d.canvas;
  const n = d.neurons.find((x) => x.l === 1);
  const neuron = n.wide ? [c.left + n.x + 8, c.top + (n.y0 + n.y1) / 2]
    : [c.left + n.x + n.size / 2, c.top + n.y + n.size / 2];
  const L = Math.max(...d.neurons.map((x) => x.l));
  const m = d.matrices.find((x) => x.l === L);
  let edge;
  if (m) edge = [c.left + (m.x0 + m.x1) / 2, c.top + (m.y0 + m.y1) / 2];
  else {
    const e = d.edges.filter((x) => x.l === L)[0];
    edge = [c.left + e.x1 + 0.5 * (e.x2 - e.x1), c.top + e.y1 + 0.5 * (e.y2 - e.y1)];
  }
  return { neuron, edge };
}"""


@dataclass
class Workload:
    key: str
    title: str
    ours: dict[str, Any]
    playground: str | None = None  # Playground's hash, when it can run this workload

    def hash(self) -> str:
        c = self.ours
        return (f"#dataset={c['dataset']}&layers={','.join(map(str, c['hidden_layers']))}&act={c['activation']}"
                f"&lr={c['learning_rate']}&batch={c['batch_size']}&epochs={MAX_EPOCHS}&speed=auto")

    def rest(self) -> dict[str, Any]:
        return {**self.ours, "epochs": MAX_EPOCHS, "speed": None, "start": True}


def workloads(csv_name: str) -> list[Workload]:
    base = {"activation": "tanh", "learning_rate": 0.03, "batch_size": 10}
    return [
        Workload("defaults", "Playground defaults: circle, [4, 2], tanh, lr 0.03, batch 10",
                 {**base, "dataset": "circle", "hidden_layers": [4, 2]},
                 PG_HASH.format(dataset="circle", shape="4,2")),
        Workload("spiral", "spiral, 6 hidden layers × 8, tanh, lr 0.03, batch 10",
                 {**base, "dataset": "spiral", "hidden_layers": [8] * 6},
                 PG_HASH.format(dataset="spiral", shape="8,8,8,8,8,8")),
        Workload("digits", "digits 64-32-10, tanh, lr 0.1, batch 32",
                 {**base, "dataset": "digits", "hidden_layers": [32], "learning_rate": 0.1, "batch_size": 32}),
        Workload("784", "784-128-64-10 on a 1 000-row CSV, tanh, lr 0.1, batch 16",
                 {**base, "dataset": csv_name, "hidden_layers": [128, 64], "learning_rate": 0.1, "batch_size": 16}),
    ]


@dataclass
class Results:
    rows: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)

    def add(self, workload: str, app: str, what: str, value: float | None) -> None:
        if value is not None:
            self.rows.setdefault((workload, app, what), []).append(value)

    def get(self, workload: str, app: str, what: str) -> list[float]:
        return self.rows.get((workload, app, what), [])


def window_stats(page: Any, epoch_js: str, window: float) -> dict[str, float]:
    a = page.evaluate(SAMPLE.format(epoch_js))
    time.sleep(window)
    b = page.evaluate(SAMPLE.format(epoch_js))
    dt = (b["t"] - a["t"]) / 1000
    long = page.evaluate(LONG_BETWEEN, [a["t"], b["t"]])
    return {"epochs": (b["epoch"] - a["epoch"]) / dt, "fps": (b["frames"] - a["frames"]) / dt,
            "long10": len(long) * 10 / dt, "longest": max(long, default=0.0)}


def open_ours(browser: Any, server: Server, wl: Workload) -> Any:
    page, _ = new_page(browser, **VIEWPORT)
    page.add_init_script(PROBE)
    page.goto(server.url + "/" + wl.hash())
    wait_drawn(page, timeout=60_000)
    # Plotly (4.8 MB of script) is loaded after the page: its parse is part of "load", not of watching
    page.wait_for_function("() => document.querySelector('.cost-chart .main-svg') !== null", timeout=120_000)
    return page


def click_latency(page: Any, edge: bool) -> float | None:
    """A click on a neuron or an edge, from the top of the page: showing the inspector scrolls the page
    down to its equation, as far as to take a tall diagram (digits) off the screen."""
    page.evaluate("window.scrollTo(0, 0)")
    xy = page.evaluate(TARGETS)["edge" if edge else "neuron"]
    page.evaluate(ARM_CLICK, "∂C/∂w of a weight" if edge else "δ of a neuron")
    page.mouse.click(*xy)
    try:
        page.wait_for_function("() => window.__click !== null", timeout=10_000)
    except Exception:  # noqa: BLE001 - reported as a missing figure
        return None
    return float(page.evaluate("window.__click"))


def drag_scrubber(page: Any) -> dict[str, float]:
    page.locator(".scrubber").scroll_into_view_if_needed()
    box = page.locator(".scrubber").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 4, y)
    page.mouse.down()
    a = page.evaluate(SAMPLE.format(OURS_EPOCH))
    steps = 30
    for k in range(1, steps + 1):
        page.mouse.move(box["x"] + 4 + (box["width"] - 8) * k / steps, y)
        time.sleep(0.05)
    b = page.evaluate(SAMPLE.format(OURS_EPOCH))
    page.mouse.up()
    dt = (b["t"] - a["t"]) / 1000
    long = page.evaluate(LONG_BETWEEN, [a["t"], b["t"]])
    page.click(".live-btn")
    return {"fps": (b["frames"] - a["frames"]) / dt, "longest": max(long, default=0.0)}


def ours_watched(browser: Any, server: Server, app: str, wl: Workload, warm: float, window: float, res: Results,
                 trace: Path | None, rep: int) -> None:
    """Our page (`app`: "ours", or "before" for an older checkout) watching the workload at full speed."""
    page = open_ours(browser, server, wl)
    try:
        page.click("#play")
        page.wait_for_function("() => window.__bpv.run().epoch >= 1", timeout=60_000)
        time.sleep(warm)
        if trace:
            browser.start_tracing(page=page, path=str(trace / f"{app}-{wl.key}-{rep}.json"),
                                  categories=["devtools.timeline", "disabled-by-default-devtools.timeline",
                                              "disabled-by-default-devtools.timeline.frame", "v8.execute",
                                              "blink.user_timing", "disabled-by-default-v8.cpu_profiler"])
        v0 = page.evaluate(VIEWS)
        s = window_stats(page, OURS_EPOCH, window)
        v1 = page.evaluate(VIEWS)
        if trace:
            browser.stop_tracing()
        for k, v in s.items():
            res.add(wl.key, app, k, v)
        dt = (v1["t"] - v0["t"]) / 1000
        res.add(wl.key, app, "received", (v1["received"] - v0["received"]) / dt)
        res.add(wl.key, app, "redraws", (v1["redraws"] - v0["redraws"]) / dt)
        for name, a in v1["views"].items():
            res.add(wl.key, app, f"view:{name}", (a["ms"] - v0["views"].get(name, {"ms": 0})["ms"]) / dt)
        for k in range(4):
            ms = click_latency(page, edge=k % 2 == 1)
            res.add(wl.key, app, "click_ms", ms)
            res.add(wl.key, app, "click_missed", float(ms is None))
        d = drag_scrubber(page)
        res.add(wl.key, app, "drag_fps", d["fps"])
        res.add(wl.key, app, "drag_longest", d["longest"])
    finally:
        page.context.close()
        stop_running(server)


def ours_unwatched(server: Server, wl: Workload, warm: float, window: float, res: Results) -> None:
    run = server.send("POST", "/api/runs", wl.rest())
    try:
        time.sleep(warm)
        e0, t0 = server.get(f"/api/runs/{run['id']}")["epoch"], time.monotonic()
        time.sleep(window)
        e1, t1 = server.get(f"/api/runs/{run['id']}")["epoch"], time.monotonic()
        res.add(wl.key, "ours", "unwatched", (e1 - e0) / (t1 - t0))
    finally:
        stop_running(server)


def rest_rate(server: Server, run_id: str, window: float) -> float:
    """The run's epochs a second over `window`, from its epoch counter (GET /api/runs/{id})."""
    e0, t0 = server.get(f"/api/runs/{run_id}")["epoch"], time.monotonic()
    time.sleep(window)
    e1, t1 = server.get(f"/api/runs/{run_id}")["epoch"], time.monotonic()
    return (e1 - e0) / (t1 - t0)


def ours_alternating(browser: Any, server: Server, wl: Workload, warm: float, window: float, res: Results,
                     pairs: int = 3) -> None:
    """One run, by turns unwatched and watched (our page opened on it, #run=…), each window measured by the
    same counter: watched/unwatched from windows seconds apart, where the machine's speed drifts between
    separate runs (the same run alone went 450-800 epochs/s within minutes here)."""
    run = server.send("POST", "/api/runs", wl.rest())
    try:
        time.sleep(warm)
        ratios = []
        before = rest_rate(server, run["id"], window)
        for _ in range(pairs):
            page, _ = new_page(browser, **VIEWPORT)
            try:
                page.goto(server.url + f"/#run={run['id']}")
                wait_drawn(page, timeout=60_000)
                page.wait_for_function("() => document.querySelector('.cost-chart .main-svg') !== null",
                                       timeout=120_000)
                page.wait_for_function("() => window.__bpv.run().state === 'running'", timeout=60_000)
                time.sleep(warm)
                watched = rest_rate(server, run["id"], window)
            finally:
                page.context.close()
            time.sleep(1)  # the page's processes wind down
            after = rest_rate(server, run["id"], window)
            ratios.append(2 * watched / (before + after))
            before = after
        res.add(wl.key, "ours", "alternating", statistics.median(ratios))
    finally:
        stop_running(server)


def playground_watched(browser: Any, pg_url: str, wl: Workload, warm: float, window: float, res: Results) -> None:
    page, _ = new_page(browser, **VIEWPORT)
    page.add_init_script(PROBE)
    try:
        page.goto(pg_url + "/index.html" + str(wl.playground))
        page.wait_for_selector("#play-pause-button")
        page.click("#play-pause-button")
        page.wait_for_function(f"() => ({PG_EPOCH})() >= 1", timeout=60_000)
        time.sleep(warm)
        for k, v in window_stats(page, PG_EPOCH, window).items():
            res.add(wl.key, "Playground", k, v)
    finally:
        page.context.close()


class Watchers:
    """n plain WebSocket clients reading every message of a run's stream, in a thread of their own. Each asks
    for the snapshots a page asks for when it opens the stream (``frames``, socket.js SNAPSHOT_RATE): the
    stream of nine more pages, received here in Python, on this machine's two cores."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.n = url, n
        self.messages = [0] * n
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.open = 0
        self.ready = threading.Event()

    async def _one(self, k: int) -> None:
        from websockets.asyncio.client import connect

        async with connect(self.url, max_size=None, compression=None) as ws:
            await ws.send(json.dumps({"type": "frames", "max_rate": PAGE_SNAPSHOT_RATE}))
            self.open += 1  # one event loop: no lock needed
            if self.open == self.n:
                self.ready.set()
            while not self.stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 0.5)
                    self.messages[k] += 1
                except TimeoutError:
                    continue

    async def _main(self) -> None:
        await asyncio.gather(*(self._one(k) for k in range(self.n)), return_exceptions=True)

    def __enter__(self) -> Watchers:
        self.thread.start()
        if not self.ready.wait(30):
            raise RuntimeError(f"only {self.open} of {self.n} WebSocket clients connected")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def ten_watchers(browser: Any, server: Server, wl: Workload, warm: float, window: float, res: Results) -> None:
    page = open_ours(browser, server, wl)
    try:
        run_id = page.evaluate("window.__bpv.run().id")
        ws_url = server.url.replace("http://", "ws://") + f"/ws/runs/{run_id}"
        with Watchers(ws_url, 9) as w:
            page.click("#play")
            page.wait_for_function("() => window.__bpv.run().epoch >= 1", timeout=60_000)
            time.sleep(warm)
            cpu0 = time.process_time()
            s = window_stats(page, OURS_EPOCH, window)
            res.add(wl.key, "ours×10", "clients_cpu", (time.process_time() - cpu0) / window)
            res.add(wl.key, "ours×10", "epochs", s["epochs"])
            res.add(wl.key, "ours×10", "fps", s["fps"])
            res.add(wl.key, "ours×10", "long10", s["long10"])
            res.add(wl.key, "ours×10", "longest", s["longest"])
            res.add(wl.key, "ours×10", "client_msgs", min(w.messages) / window)
    finally:
        page.context.close()
        stop_running(server)


def learning_time(browser: Any, servers: dict[str, Server], pg_url: str, wl: Workload, res: Results,
                  order: list[str]) -> None:
    for app in order:
        server = servers.get(app)
        if server:
            page = open_ours(browser, server, wl)
            args = ["#play", ".cost-readout", "test cost ([\\u2212\\-0-9.e]+)", 60]
        else:
            page, _ = new_page(browser, **VIEWPORT)
            page.goto(pg_url + "/index.html" + str(wl.playground))
            page.wait_for_selector("#play-pause-button")
            args = ["#play-pause-button", "#loss-test", "([0-9.e\\-]+)", 60]
        try:
            res.add(wl.key, app, "learn_s", page.evaluate(LEARN, args))
        finally:
            page.context.close()
            if server:
                stop_running(server)


def start_playground() -> tuple[subprocess.Popen[bytes], str]:
    if not (PLAYGROUND / "index.html").exists():
        raise SystemExit(f"Playground's build is not at {PLAYGROUND} (see its README)")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(PLAYGROUND)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/index.html", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("could not serve Playground's build")


def cell(xs: list[float], fmt: str = "{:.0f}") -> str:
    if not xs:
        return "—"
    med = fmt.format(statistics.median(xs))
    return med if len(xs) == 1 else f"{med} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def ratio(a: list[float], b: list[float]) -> str:
    if not a or not b or statistics.median(b) == 0:
        return "—"
    return f"{statistics.median(a) / statistics.median(b):.2f}×"


def report(res: Results, wls: list[Workload], reps: int, loads: list[tuple[float, float, float]]) -> None:
    print(f"\nmedian (min–max) of {reps} repetition(s); load average during the run: "
          + ", ".join(f"{a:.2f}" for a, _, _ in loads))
    for wl in wls:
        g = lambda app, what, key=wl.key: res.get(key, app, what)  # noqa: E731
        print(f"\n== {wl.title} ==")
        print(f"{'':<12}{'epochs/s watched':>22}{'unwatched':>18}{'fps':>20}{'long tasks/10 s':>20}"
              f"{'longest ms':>18}")
        for app, name in (("ours", "ours"), ("before", "before"), ("Playground", "Playground"),
                          ("ours×10", "ours, 10 w.")):
            if g(app, "epochs"):
                print(f"{name:<12}{cell(g(app, 'epochs')):>22}{cell(g(app, 'unwatched')):>18}"
                      f"{cell(g(app, 'fps'), '{:.1f}'):>20}{cell(g(app, 'long10'), '{:.1f}'):>20}"
                      f"{cell(g(app, 'longest')):>18}")
        line = f"  ours watched/unwatched {ratio(g('ours', 'epochs'), g('ours', 'unwatched'))}"
        if g("ours", "alternating"):
            line += f" (one run by turns: {cell(g('ours', 'alternating'), '{:.2f}')}×)"
        if g("ours×10", "epochs"):
            line += (f" · 10 watchers/unwatched {ratio(g('ours×10', 'epochs'), g('ours', 'unwatched'))} (the 9 "
                     f"clients here took {cell(g('ours×10', 'clients_cpu'), '{:.2f}')} of a core)")
        for other in ("Playground", "before"):
            if g(other, "epochs"):
                line += (f" · ours/{other}: epochs/s {ratio(g('ours', 'epochs'), g(other, 'epochs'))}, "
                         f"fps {ratio(g('ours', 'fps'), g(other, 'fps'))}")
        print(line)
        views = sorted(((k[5:], statistics.median(v)) for (w, a, k), v in res.rows.items()
                        if w == wl.key and a == "ours" and k.startswith("view:")), key=lambda kv: -kv[1])
        print(f"  ours: {cell(g('ours', 'received'))} snapshots/s received, {cell(g('ours', 'redraws'))} diagram "
              "redraws/s; main thread ms/s by view: " + ", ".join(f"{k} {v:.0f}" for k, v in views[:5]))
        for app in ("ours", "before"):
            missed = sum(g(app, "click_missed"))
            if missed:
                print(f"  {app}: {missed:.0f} of {len(g(app, 'click_missed'))} clicks showed nothing within 10 s")
            if g(app, "click_ms"):
                print(f"  {app} while streaming: inspector shown {cell(g(app, 'click_ms'))} ms after the click; "
                      f"scrubber drag {cell(g(app, 'drag_fps'), '{:.1f}')} fps, longest task "
                      f"{cell(g(app, 'drag_longest'))} ms")
    key = wls[0].key
    learn = {app: res.get(key, app, "learn_s") for app in ("ours", "before", "Playground")}
    print("\nlearning time on the defaults (play → test loss < 0.05 on screen): "
          + ", ".join(f"{app} {cell(v, '{:.2f}')} s" for app, v in learn.items() if v)
          + f"; Playground/ours {ratio(learn['Playground'], learn['ours'])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 repetition, 4 s windows")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3, --quick 1)")
    ap.add_argument("--only", default="", help="comma-separated workload keys: defaults,spiral,digits,784")
    ap.add_argument("--trace", type=Path, default=None, help="save Chromium traces of our watched windows here")
    ap.add_argument("--before", type=Path, default=None,
                    help="another tree of this project (e.g. `git archive HEAD~5 | tar -x -C /tmp/old`) whose page to "
                         "measure beside ours")
    args = ap.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    window, warm = (4.0, 1.5) if args.quick else (8.0, 2.0)
    if args.trace:
        args.trace.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    loads = [os.getloadavg()]
    res = Results()
    pg_proc, pg_url = start_playground()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        server = start_server(Path(tmp))
        servers = {"ours": server}
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            if args.before:
                (Path(tmp) / "before").mkdir()
                servers["before"] = start_server(Path(tmp) / "before", root=args.before.resolve())
            csv = mnist_like_csv(1000)
            keep = set(args.only.split(",")) if args.only else None
            # each server names the uploaded CSV itself: one list of workloads per server
            wls_of = {app: [w for w in workloads(srv.upload_csv(csv, name="bench784")["name"])
                            if keep is None or w.key in keep] for app, srv in servers.items()}
            wls = wls_of["ours"]
            before = f" · before: {args.before}" if args.before else ""
            print(f"ours: {server.url}{before} · Playground: {pg_url} · {reps} repetition(s), {warm:g} s warm-up, "
                  f"{window:g} s windows · load average {loads[0][0]:.2f}", flush=True)
            for rep in range(reps):
                for k, wl in enumerate(wls):
                    steps = (["watched", "unwatched", "alternating"] + (["before"] if args.before else [])
                             + (["playground"] if wl.playground else []))
                    if rep % 2:
                        steps.reverse()
                    for step in steps:
                        print(f"  rep {rep + 1}: {wl.key} {step}", flush=True)
                        if step in ("watched", "before"):
                            app = "ours" if step == "watched" else "before"
                            ours_watched(browser, servers[app], app, wls_of[app][k], warm, window, res, args.trace, rep)
                        elif step == "unwatched":
                            ours_unwatched(server, wl, warm, window, res)
                        elif step == "alternating":
                            ours_alternating(browser, server, wl, warm, window, res)
                        else:
                            playground_watched(browser, pg_url, wl, warm, window, res)
                if wls[0].key == "defaults":
                    print(f"  rep {rep + 1}: defaults, 10 watchers and learning time", flush=True)
                    ten_watchers(browser, server, wls[0], warm, window, res)
                    order = [*servers, "Playground"]
                    learning_time(browser, servers, pg_url, wls[0], res, order if rep % 2 == 0 else order[::-1])
                loads.append(os.getloadavg())
        finally:
            browser.close()
            for srv in servers.values():
                stop_server(srv)
            pg_proc.terminate()
            pg_proc.wait(5)
    report(res, wls, reps, loads)


if __name__ == "__main__":
    t0 = time.monotonic()
    main()
    print(f"\n({time.monotonic() - t0:.0f} s)")
