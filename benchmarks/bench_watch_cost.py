"""What watching a run costs its training, part by part, on this machine (issue 9, goal 2).

A run of a workload at full speed, started over REST (a new one each repetition), measured by turns as in
bench_watch.py's "one run by turns": unwatched, then watched, then unwatched again, each watched window
against the mean of the unwatched windows beside it. The watchers, in turn on the same run (one headless
Chromium, 1400×900):

- **bare WebSocket**: a page that opens the run's stream, asks for what our page asks for (30 snapshots a
  second, compact grids) and drops every message: what it costs to build, send and receive the stream;
- **page, nothing shown**: our page on the run (``#run=…``) with its content hidden (``display: none``): the
  stream decoded and the views updated, nothing laid out, drawn or composited;
- **page**: our page on the run, as a person sees it.

Beside each ratio, the CPU (cores, from /proc) that each part of the machine took during the watched window:
Chromium (all its processes), the training (the server's worker processes) and the web process.

    .venv/bin/python benchmarks/bench_watch_cost.py                     # defaults, 3 repetitions (~4 minutes)
    .venv/bin/python benchmarks/bench_watch_cost.py --workloads defaults,spiral --reps 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_watch as bw  # noqa: E402 - (which puts tests/e2e on the path)
from e2e_helpers import CHROMIUM, CHROMIUM_ARGS, new_page, start_server, stop_running, stop_server  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")
HIDE = ("document.addEventListener('DOMContentLoaded', () => { const s = document.createElement('style'); "
        "s.textContent = 'main, .topbar { display: none !important }'; document.head.append(s); });")
BARE = """(runId) => { window.__n = 0;
  const ws = new WebSocket(`ws://${location.host}/ws/runs/${runId}`); ws.binaryType = "arraybuffer";
  ws.onopen = () => ws.send(JSON.stringify({ type: "frames", max_rate: 30, grids: "u1" }));
  ws.onmessage = () => { window.__n++; }; }"""
WATCHERS = ("bare WebSocket", "page, nothing shown", "page")


def cpu_ticks(server_pid: int) -> dict[str, int]:
    """Clock ticks of CPU so far: Chromium's processes, the server's web process and its workers."""
    out = {"chromium": 0, "training": 0, "web": 0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            exe = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        ticks, session = int(fields[11]) + int(fields[12]), int(fields[3])
        if int(pid) == server_pid:
            out["web"] += ticks
        elif session == server_pid:  # the server starts its own session: its workers
            out["training"] += ticks
        elif "chromium" in exe:
            out["chromium"] += ticks
    return out


def open_watcher(browser: Any, server: bw.Server, run_id: str, kind: str) -> Any:
    page, _ = new_page(browser, **bw.VIEWPORT)
    if kind == "bare WebSocket":
        page.goto(server.url + "/healthz")
        page.evaluate(BARE, run_id)
        page.wait_for_function("() => window.__n > 10", timeout=60_000)
    else:
        if kind == "page, nothing shown":
            page.add_init_script(HIDE)
        page.goto(server.url + f"/#run={run_id}")
        page.wait_for_function("() => window.__bpv && window.__bpv.counters().snapshots > 5", timeout=60_000)
    return page


def measure(browser: Any, server: bw.Server, wl: bw.Workload, reps: int, warm: float, window: float,
            rows: dict[tuple[str, str, str], list[float]]) -> None:
    """One run per repetition (a run at full speed reaches the server's epoch limit within minutes), each
    watcher in turn on it, the order reversed every other repetition."""
    assert server.proc is not None
    for rep in range(reps):
        run = server.send("POST", "/api/runs", wl.rest())
        try:
            time.sleep(warm)
            before = bw.rest_rate(server, run["id"], window)
            for kind in WATCHERS if rep % 2 == 0 else WATCHERS[::-1]:
                page = open_watcher(browser, server, run["id"], kind)
                try:
                    time.sleep(warm)
                    a, t0 = cpu_ticks(server.proc.pid), time.monotonic()
                    watched = bw.rest_rate(server, run["id"], window)
                    b, dt = cpu_ticks(server.proc.pid), time.monotonic() - t0
                finally:
                    page.context.close()
                time.sleep(1)  # the page's processes wind down
                after = bw.rest_rate(server, run["id"], window)
                rows.setdefault((wl.key, kind, "ratio"), []).append(2 * watched / (before + after))
                for part in a:
                    rows.setdefault((wl.key, kind, part), []).append((b[part] - a[part]) / HZ / dt)
                before = after
            assert server.get(f"/api/runs/{run['id']}")["state"] == "running", "the run ended while measured"
        finally:
            stop_running(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="defaults", help="comma-separated: defaults, spiral, digits")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--window", type=float, default=5.0, help="seconds per measured window")
    args = parser.parse_args()
    wls = {w.key: w for w in bw.workloads("unused.csv")}
    from playwright.sync_api import sync_playwright

    rows: dict[tuple[str, str, str], list[float]] = {}
    server = start_server(Path(tempfile.mkdtemp(prefix="bpv-cost-")) / "data")
    loads = [os.getloadavg()]
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for key in args.workloads.split(","):
                measure(browser, server, wls[key], args.reps, 2.0, args.window, rows)
                loads.append(os.getloadavg())
            browser.close()
    finally:
        stop_server(server)
    print(f"\n{args.reps} repetitions, {args.window:.0f} s windows, load average "
          f"{min(x[0] for x in loads):.1f}-{max(x[0] for x in loads):.1f}; median (min-max)\n")
    print("| workload | watcher | watched / unwatched | Chromium (cores) | training | web process |")
    print("|---|---|---|---|---|---|")
    for key in args.workloads.split(","):
        for kind in WATCHERS:
            cells = [rows[(key, kind, what)] for what in ("ratio", "chromium", "training", "web")]
            print(f"| {key} | {kind} | " + " | ".join(
                f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})" for xs in cells) + " |")


if __name__ == "__main__":
    main()
