"""A server a whole class can share (issue 10): embedded (one machine, no extra service) and --distributed. A REAL
uvicorn on loopback, as ``backprop-viz serve`` runs it.

1. **A class.** A demo run at 20 epochs/s watched by 200 ``websockets`` clients (spread over 4 client
   processes, so that the clients' own Python is not what is measured), 16 students' runs at 20 epochs/s
   (each watched by its student) and 2 runs as fast as they go. Every watcher must get every epoch's
   metrics in order. ``/healthz`` is probed 10 times a second from another process; epoch → client latency
   is receipt ``time.time()`` − the message's ``ended_at`` (same host, same clock). Baseline, in the same
   run: the same server with 1 watcher and the demo run alone.
2. **Abusive clients.** A digits run with hidden layers [1024, 1024] (~8 MB snapshots) and 100 clients that
   never read (a tiny receive buffer), 20 that read 64 KiB a second and 20 that connect, take a little and
   reset, again and again: server RSS before / peak / after they are dropped, per connection; an honest
   watcher beside them keeps every epoch.
3. **Run length.** A 100 000-epoch run (trained for real, a tiny network), ``hello`` to 20 clients at once,
   live and stored (after a restart): size, time to the last client's hello, server RSS peak; the same for
   a 100-epoch run as the baseline.
4. **History and previews.** 10 concurrent ``GET …/history`` (JSON and CSV) and paged reads of the
   100 000-epoch run; 6 concurrent previews of a 10 MB uploaded CSV: server RSS peak over its idle RSS.

``--distributed``: the same on a cluster of real processes, as the cluster tests start it — our own
redis-server and PostgreSQL on free loopback ports, replicas A and B (``serve`` with BPV_BROKER_URL and
BPV_DATABASE_URL), two ``backprop-viz worker`` processes:

1. **A class** as above, the runs made on A, the demo's watchers half on A and half on B, /healthz probed
   on both; baseline: the same cluster with 1 watcher (on A) and the demo run alone.
2. **Faults** while a run at 20 epochs/s trains, watched on B: kill -9 the worker the registry (Redis) says
   holds it — seconds from the kill to the next new epoch at the watcher, its history without gap or
   duplicate; kill -9 replica B, the client reconnects to A with ``?since=<its last epoch>`` — seconds to
   the next epoch, no gap; restart Redis — seconds until /healthz says degraded, then ok on A and B, and
   until the run's next new epoch reaches the watcher; then the run's stored history is checked whole.
   Baseline: the interval between the watcher's messages before the faults, and redis-server's own start.

Targets (the issue's): no gap; /healthz p99 ≤ 200 ms; epoch → client p95 ≤ 100 ms; all runs train; server
RSS ≤ 500 MB whatever the clients do; hello ≤ 1 s and ≤ 10 MB; history memory independent of run length; a
killed worker's run resumed within 10 s.

The machine is shared: every figure is printed beside its baseline from the same run, with the load average.

    .venv/bin/python benchmarks/bench_class.py            # ~12 minutes
    .venv/bin/python benchmarks/bench_class.py --quick    # ~6 minutes: 100 watchers, shorter runs, 20 000 epochs
    .venv/bin/python benchmarks/bench_class.py --only class,abuse,length,history
    .venv/bin/python benchmarks/bench_class.py --strict   # exit 1 when a target is missed

    .venv/bin/python benchmarks/bench_class.py --distributed --quick   # ~3 minutes; needs root (PostgreSQL)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.cluster import bus  # noqa: E402
from tests import support as kit  # noqa: E402

if TYPE_CHECKING:
    from tests.cluster.conftest import Cluster

Row = tuple[str, str, str, str]  # what, value, target, verdict


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def load_average() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


# -- client processes ------------------------------------------------------------------------------------------
def _watch_process(index: int, urls: list[str], go: Any, out: Any, timeout: float) -> None:
    """A client process (the ``index``-th): one watcher per url; reports ``index`` and, per watcher, (epochs,
    latencies, frames, gaps, states, errors, its first and last message's time, the process's CPU)."""

    async def main() -> list[Any]:
        watches = [kit.Watch() for _ in urls]
        tasks = [asyncio.create_task(kit.watch(u, timeout=timeout, watch_out=w)) for u, w in zip(urls, watches,
                                                                                                   strict=True)]
        while not all(w.hello for w in watches):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.02)
        go.release()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return [r if isinstance(r, kit.Watch) else kit.Watch(errors=[repr(r)]) for r in results]

    watches = asyncio.run(main())
    cpu = time.process_time()  # this client process's own CPU, reported with its first watcher
    out.put((index, [(w.all_epochs(), w.latencies, w.frames, w.gaps(), w.states, w.errors,
             (w.receipt_times[0], w.receipt_times[-1]) if w.receipt_times else (0.0, 0.0), cpu if i == 0 else 0.0)
             for i, w in enumerate(watches)]))


def _probe(url: str, stop: threading.Event, out: list[float], every: float = 0.1) -> None:
    """GET /healthz every ``every`` seconds on a fresh connection each, as a load balancer does, over a bare
    socket: an HTTP library's own set-up per request would be a good part of what is measured here."""
    host, port = url.removeprefix("http://").split(":")
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(request)
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
            out.append(time.perf_counter() - t0 if answer.startswith(b"HTTP/1.1 200") else 10.0)
        except OSError:
            out.append(10.0)
        stop.wait(max(0.0, every - (time.perf_counter() - t0)))


def _probe_process(index: int, url: str, seconds: float, out: Any) -> None:
    stop = threading.Event()
    lat: list[float] = []
    t = threading.Thread(target=_probe, args=(url, stop, lat))
    t.start()
    time.sleep(seconds)
    stop.set()
    t.join()
    out.put((index, lat))


# -- 1. a class -----------------------------------------------------------------------------------------------
def class_phase(srv: kit.Server, watchers: int, students: int, flat_out: int, seconds: float, procs: int,
                replicas: list[kit.Server] | None = None, workers: list[int] | None = None) -> dict[str, Any]:
    """The runs are made on ``srv``; the watchers connect to ``replicas`` in turn (default: ``srv`` alone),
    and /healthz is probed on each of them. ``workers``: a cluster's training processes (their CPU)."""
    ctx = mp.get_context("spawn")
    at = replicas or [srv]
    epochs = int(seconds * 20)
    with srv.client() as http:
        busy = [kit.create_run(http, dataset="spiral", hidden_layers=[8, 8, 8], seed=s, epochs=100_000)
                for s in range(flat_out)]
        runs = [kit.create_run(http, start=False, epochs=epochs, speed=20.0, seed=s, name=f"student {s}")
                for s in range(students)]
        demo = kit.create_run(http, start=False, epochs=epochs, speed=20.0, name="the teacher's demo")
        demo_urls = [f"{at[i % len(at)].ws_url}/ws/runs/{demo['id']}" for i in range(watchers)]
        sizes = [watchers // procs + (i < watchers % procs) for i in range(procs)]
        groups = [demo_urls[sum(sizes[:i]):sum(sizes[:i + 1])] for i in range(procs)]
        groups.append([f"{at[i % len(at)].ws_url}/ws/runs/{r['id']}" for i, r in enumerate(runs)])
        groups = [g for g in groups if g]  # the demo's watchers first, in the order of demo_urls
        go, out, probe_out = ctx.Semaphore(0), ctx.Queue(), ctx.Queue()
        ps = [ctx.Process(target=_watch_process, args=(i, g, go, out, seconds + 240)) for i, g in enumerate(groups)]
        for p in ps:
            p.start()
        for _ in ps:
            if not go.acquire(timeout=120):
                raise RuntimeError("the watchers did not connect")
        probes = [ctx.Process(target=_probe_process, args=(i, s.url, seconds, probe_out)) for i, s in enumerate(at)]
        cpu0, wcpu0 = [s.cpu() for s in at], _cpu_seconds(workers or [])
        t0 = time.monotonic()
        for r in [*runs, demo]:
            http.post(f"/api/runs/{r['id']}/resume").raise_for_status()
        for probe in probes:
            probe.start()
        rss_peak = max(s.rss_mb() for s in at)
        states: dict[str, str] = {}
        while time.monotonic() - t0 < seconds * 0.9:
            time.sleep(0.5)
            rss_peak = max(rss_peak, *(s.rss_mb() for s in at))
            states = {r["id"]: kit.strict_loads(http.get(f"/api/runs/{r['id']}").text)["state"]
                      for r in [*runs, demo]}
        results = [x for _, got in sorted(out.get(timeout=seconds + 300) for _ in ps) for x in got]
        t1 = time.monotonic()
        cpu1, wcpu1 = [s.cpu() for s in at], _cpu_seconds(workers or [])
        health = [lat for _, lat in sorted(probe_out.get(timeout=60) for _ in probes)]
        for p in [*ps, *probes]:
            p.join(30)
        ended = [kit.strict_loads(http.get(f"/api/runs/{r['id']}").text) for r in [*runs, demo]]
        flat = [kit.strict_loads(http.get(f"/api/runs/{b['id']}").text)["epoch"] for b in busy]
        for b in busy:
            http.post(f"/api/runs/{b['id']}/stop")
    demo_results = results[:watchers]
    span = t1 - t0
    loop_cpu = sum(c1[0] - c0[0] for c0, c1 in zip(cpu0, cpu1, strict=True))
    return {
        "demo": demo["id"],
        "watchers": watchers,
        "gaps": sum(len(r[3]) for r in results),
        "incomplete": sum(1 for r in demo_results if r[0] != list(range(epochs + 1))),
        "errors": [e for r in results for e in r[5]][:3],
        "lat": [x for r in demo_results for x in r[1]],
        "lat_at": [[x for r in demo_results[i::len(at)] for x in r[1]] for i in range(len(at))],
        "health": health,
        "frames": [r[2] / max(1e-9, (r[6][1] - r[6][0])) if r[6][1] > r[6][0] else 0.0 for r in demo_results],
        "running": sum(1 for s in states.values() if s == "running"),
        "runs": len(states),
        "rates": [e["epoch"] / span for e in ended],
        "done": sum(1 for e in ended if e["state"] == "done"),
        "flat": [f / span for f in flat],
        "loop_cpu": loop_cpu / span,
        "per_message": loop_cpu / max(1, sum(len(r[1]) + r[2] for r in results)),
        "worker_cpu": (sum(c1[2] - c0[2] for c0, c1 in zip(cpu0, cpu1, strict=True)) + wcpu1 - wcpu0) / span,
        "client_cpu": sum(r[7] for r in results) / span,
        "rss_peak": rss_peak,
    }


def _cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) so far of these processes, from /proc (a gone one counts 0)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def class_rows(tmp: Path, watchers: int, seconds: float, procs: int) -> list[Row]:
    srv = kit.Server(tmp / "class", tmp / "class.log").start()
    print(f"class: server pid {srv.pid}", flush=True)
    try:
        base = class_phase(srv, 1, 0, 0, min(seconds, 10), 1)
        load = class_phase(srv, watchers, 16, 2, seconds, procs)
        errors = srv.errors()
    finally:
        srv.stop()
    return class_table(base, load, seconds, ["the server"], "1 watcher, 1 run", len(errors))


def class_table(base: dict[str, Any], load: dict[str, Any], seconds: float, names: list[str], baseline: str,
                errors: int) -> list[Row]:
    """The rows of a class part: ``names`` of the servers the watchers were spread over (one /healthz row
    and one latency figure each), ``baseline`` says what the baseline was."""
    p = kit.percentile
    watchers = load["watchers"]
    lb, ll = base["lat"], load["lat"]
    fr = load["frames"]
    where = f" (half on each of {', '.join(names)})" if len(names) > 1 else ""
    rows: list[Row] = [
        (f"{watchers} watchers{where} on a 20 epochs/s run + 16 students' runs at 20/s (watched) + 2 flat out, "
         f"{seconds:g} s: gaps, incomplete watchers", f"{load['gaps']} gaps; {load['incomplete']} of {watchers} "
         f"incomplete {load['errors'] or ''}", "0; 0", verdict(load["gaps"] == 0 and load["incomplete"] == 0)),
    ]
    for i, name in enumerate(names):
        hb, hl = base["health"][min(i, len(base["health"]) - 1)], load["health"][i]
        rows.append((f"  /healthz p50 / p95 / p99{' on ' + name if len(names) > 1 else ''} (baseline: {baseline})",
                     f"{p(hl, 50) * 1e3:.0f} / {p(hl, 95) * 1e3:.0f} / {p(hl, 99) * 1e3:.0f} ms (baseline "
                     f"{p(hb, 50) * 1e3:.0f} / {p(hb, 95) * 1e3:.0f} / {p(hb, 99) * 1e3:.0f}; {len(hl)} probes)",
                     "p99 ≤ 200 ms", verdict(p(hl, 99) <= 0.2)))
    each = "; ".join(f"{name} p95 {p(lat, 95) * 1e3:.0f}" for name, lat in zip(names, load["lat_at"], strict=True))
    rows += [
        (f"  epoch → client p50 / p95 / max (baseline: {baseline.split(',')[0]})",
         f"{p(ll, 50) * 1e3:.0f} / {p(ll, 95) * 1e3:.0f} / {max(ll, default=0) * 1e3:.0f} ms (baseline "
         f"{p(lb, 50) * 1e3:.0f} / {p(lb, 95) * 1e3:.0f}; ×{p(ll, 95) / max(1e-9, p(lb, 95)):.1f} at p95)"
         + (f" ({each})" if len(names) > 1 else ""), "p95 ≤ 100 ms", verdict(p(ll, 95) <= 0.1)),
        (f"  snapshots per watcher per second: min / median (baseline: {baseline.split(',')[0]})",
         f"{min(fr, default=0):.1f} / {statistics.median(fr) if fr else 0:.1f} (baseline "
         f"{statistics.median(base['frames']) if base['frames'] else 0:.1f})", "info", ""),
        ("  runs training at once; paced runs' epochs/s min / median; flat-out runs' epochs/s",
         f"{load['running']} of {load['runs']} (then {load['done']} done); "
         f"{min(load['rates']):.1f} / {statistics.median(load['rates']):.1f}; "
         f"{', '.join(f'{r:.0f}' for r in load['flat'])}", "all train", verdict(load["running"] == load["runs"])),
        ("  CPU: event-loop thread(s) (per message sent); training workers; client processes; server RSS peak",
         f"{load['loop_cpu'] * 100:.0f} % of a core ({load['per_message'] * 1e6:.0f} µs; baseline "
         f"{base['loop_cpu'] * 100:.0f} %, {base['per_message'] * 1e6:.0f} µs); "
         f"{load['worker_cpu'] * 100:.0f} %; {load['client_cpu'] * 100:.0f} %; "
         f"{load['rss_peak']:.0f} MiB", "info", ""),
        ("  errors in the server log" + ("s" if len(names) > 1 else ""), str(errors), "0", verdict(not errors)),
    ]
    return rows


# -- 2. abusive clients -------------------------------------------------------------------------------------------
def _slow_reader(port: int, path: str, stop: threading.Event) -> None:
    """Reads 64 KiB a second (a phone on a poor link)."""
    ws = kit.RawWS(port, path, rcvbuf=65536)
    try:
        ws.sock.settimeout(1.0)
        while not stop.is_set():
            try:
                if not ws.sock.recv(65536):
                    return
            except (TimeoutError, OSError):
                if stop.is_set():
                    return
            stop.wait(1.0)
    finally:
        ws.close()


def _vanisher(port: int, path: str, stop: threading.Event) -> None:
    """Connects, takes part of the stream, resets the connection; again."""
    while not stop.is_set():
        try:
            ws = kit.RawWS(port, path)
            for _ in ws.frames(timeout=0.3):
                pass
            ws.abort()
        except OSError:
            pass
        stop.wait(0.5)


def abuse_rows(tmp: Path, never: int, slow: int, vanish: int, timeout: float) -> list[Row]:
    srv = kit.Server(tmp / "abuse", tmp / "abuse.log", env={"BPV_WS_SEND_TIMEOUT": f"{timeout:g}"}).start()
    print(f"abuse: server pid {srv.pid}", flush=True)
    try:
        with srv.client() as http:
            run = kit.create_run(http, dataset="digits", hidden_layers=[1024, 1024], epochs=100_000)
            path = f"/ws/runs/{run['id']}"
            kit.wait_epoch(http, run["id"], 1, timeout=120)
            frame_mb = len(srv.get_bytes(f"/api/runs/{run['id']}/snapshots/0?format=binary")) / 2**20
            stop = threading.Event()
            honest = kit.Watch()

            def watch_honestly() -> None:
                async def go() -> None:
                    await kit.watch(f"{srv.ws_url}{path}", until_terminal=False, timeout=timeout + 120,
                                    watch_out=honest, stop=astop)
                astop = asyncio.Event()

                async def main() -> None:
                    task = asyncio.create_task(go())
                    while not stop.is_set():
                        await asyncio.sleep(0.1)
                    astop.set()
                    await task
                asyncio.run(main())

            watcher = threading.Thread(target=watch_honestly)
            watcher.start()
            kit.wait_for(lambda: honest.hello, timeout=60, what="the honest watcher's hello")
            time.sleep(2)
            rss0 = srv.rss_mb()
            n_cut0 = srv.log().count("took no message")
            never_ws = []
            for _ in range(never):
                never_ws.append(kit.RawWS(srv.port, path, rcvbuf=4096))
            threads = [threading.Thread(target=_slow_reader, args=(srv.port, path, stop)) for _ in range(slow)]
            threads += [threading.Thread(target=_vanisher, args=(srv.port, path, stop)) for _ in range(vanish)]
            for t in threads:
                t.start()
            peak, t0 = rss0, time.monotonic()
            while srv.log().count("took no message") - n_cut0 < never and time.monotonic() - t0 < timeout + 40:
                peak = max(peak, srv.rss_mb())
                time.sleep(0.25)
            cut_after, cut = time.monotonic() - t0, srv.log().count("took no message") - n_cut0
            t1 = time.monotonic()
            while time.monotonic() - t1 < 7:  # CLOSE_WAIT (5 s), then the abort
                peak = max(peak, srv.rss_mb())
                time.sleep(0.25)
            rss_cut = srv.rss_mb()
            stop.set()
            for t in threads:
                t.join(30)
            watcher.join(60)
            for ws in never_ws:
                ws.close()
            time.sleep(2)
            rss_after = srv.rss_mb()
            epoch = kit.strict_loads(http.get(f"/api/runs/{run['id']}").text)["epoch"]
            http.post(f"/api/runs/{run['id']}/stop")
        errors = srv.errors()
    finally:
        srv.stop()
    n = never + slow + vanish
    per = (peak - rss0) / max(1, never + slow)
    return [
        (f"{never} never-reading + {slow} slow (64 KiB/s) + {vanish} vanishing clients on digits [1024, 1024] "
         f"({frame_mb:.1f} MB snapshots, {epoch} epochs): server RSS before / peak / after they are dropped",
         f"{rss0:.0f} / {peak:.0f} / {rss_cut:.0f} MiB (after the slow ones leave: {rss_after:.0f})",
         "peak ≤ 500 MiB", verdict(peak <= 500)),
        ("  per connection: (peak − before) / connections holding data; clients cut off (1008) within",
         f"{per:.2f} MiB (a snapshot alone is {frame_mb:.1f}); {cut} in {cut_after:.0f} s (send timeout "
         f"{timeout:g} s; a never-reader whose kernel buffers still take what it is sent costs no memory "
         "and is cut off once they are full)", "small", verdict(per < frame_mb)),
        ("  the honest watcher beside them: gaps, epochs seen", f"{len(honest.gaps())} gaps, {len(honest.epochs)} "
         f"epochs, {honest.frames} snapshots", "0 gaps", verdict(not honest.gaps() and honest.epochs != [])),
        ("  errors in the server log", f"{len(errors)} ({n} abusive clients)", "0", verdict(not errors)),
    ]


# -- 3. run length: hello ------------------------------------------------------------------------------------------
TINY = {"dataset": "xor", "n_samples": 10, "hidden_layers": [], "batch_size": 5}  # ~3 000 epochs/s here


async def _hellos(url: str, n: int) -> list[tuple[float, int]]:
    """n clients connect at once; each: (seconds from connecting to its hello, the hello's bytes)."""
    import websockets

    async def one() -> tuple[float, int]:
        t0 = time.perf_counter()
        async with websockets.connect(url, max_size=2**28, compression=None, open_timeout=60,
                                      ping_interval=None) as ws:
            msg = await ws.recv()
            return time.perf_counter() - t0, len(msg)

    return list(await asyncio.gather(*(one() for _ in range(n))))


def _hello_process(url: str, n: int, out: Any) -> None:
    out.put(asyncio.run(_hellos(url, n)))


def hello_figures(srv: kit.Server, run_id: str, clients: int) -> tuple[float, float, float, float]:
    """(p50 s, max s, MB, server RSS peak − before) of ``clients`` hellos at once, from another process."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    rss0 = srv.rss_mb()
    p = ctx.Process(target=_hello_process, args=(f"{srv.ws_url}/ws/runs/{run_id}", clients, out))
    p.start()
    peak = rss0
    while p.is_alive() and out.empty():
        peak = max(peak, srv.rss_mb())
        time.sleep(0.02)
    result = out.get(timeout=120)
    p.join(30)
    times = [t for t, _ in result]
    return statistics.median(times), max(times), max(b for _, b in result) / 2**20, peak - rss0


def length_rows(tmp: Path, epochs: int, clients: int) -> tuple[list[Row], kit.Server, str, str]:
    """Returns the rows and the (still running) server with the long and the short run, for part 4."""
    srv = kit.Server(tmp / "length", tmp / "length.log", env={"BPV_MAX_EPOCHS": str(10 * epochs)}).start()
    print(f"length: server pid {srv.pid}", flush=True)
    with srv.client() as http:
        short = kit.create_run(http, epochs=100, **TINY)
        long = kit.create_run(http, epochs=10 * epochs, **TINY)
        t0 = time.monotonic()
        kit.wait_epoch(http, long["id"], epochs, timeout=1800)
        rate = epochs / (time.monotonic() - t0)
        kit.wait_state(http, short["id"], "done")
        base = hello_figures(srv, short["id"], clients)
        live = hello_figures(srv, long["id"], clients)  # while it trains on
        http.post(f"/api/runs/{long['id']}/pause").raise_for_status()
        at = kit.strict_loads(http.get(f"/api/runs/{long['id']}").text)["epoch"]
    srv.stop()
    srv.start()
    rss_idle = srv.rss_mb()
    stored = hello_figures(srv, long["id"], clients)
    errors = srv.errors()

    def fig(f: tuple[float, float, float, float]) -> str:
        return f"p50 {f[0] * 1e3:.0f} ms, last {f[1] * 1e3:.0f} ms, {f[2]:.2f} MB, server RSS +{f[3]:.0f} MiB"

    rows = [
        (f"hello to {clients} clients at once, a 100-epoch run (baseline)", fig(base), "info", ""),
        (f"  a {at:,}-epoch run, live (training at {rate:.0f} epochs/s)", fig(live), "≤ 1 s, ≤ 10 MB",
         verdict(live[1] <= 1.0 and live[2] <= 10)),
        ("  the same run stored, after a restart", fig(stored) + f" (idle RSS {rss_idle:.0f} MiB)", "≤ 1 s, ≤ 10 MB",
         verdict(stored[1] <= 1.0 and stored[2] <= 10)),
        ("  errors in the server log", str(len(errors)), "0", verdict(not errors)),
    ]
    return rows, srv, long["id"], short["id"]


# -- 4. history and previews --------------------------------------------------------------------------------------
def _get_all(url: str, n: int, params: dict[str, Any]) -> list[tuple[float, int]]:
    """n concurrent GETs (threads); each (seconds, bytes)."""
    out: list[tuple[float, int]] = []

    def one() -> None:
        t0 = time.perf_counter()
        with httpx.stream("GET", url, params=params, timeout=600) as r:
            r.raise_for_status()
            size = sum(len(chunk) for chunk in r.iter_bytes())
        out.append((time.perf_counter() - t0, size))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _with_peak(srv: kit.Server, fn: Any) -> tuple[Any, float]:
    """fn() while sampling the server's RSS: (its result, peak RSS − RSS before)."""
    rss0, peak, done = srv.rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], srv.rss_mb())
            done.wait(0.02)

    t = threading.Thread(target=sample)
    t.start()
    try:
        result = fn()
    finally:
        done.set()
        t.join()
    return result, max(0.0, peak[0] - rss0)


def history_rows(srv: kit.Server, long_id: str, short_id: str, tmp: Path) -> list[Row]:
    rows: list[Row] = []
    for fmt in ("json", "csv"):
        for rid, what in ((short_id, "100-epoch run"), (long_id, "long run")):
            res, grew = _with_peak(srv, lambda rid=rid, fmt=fmt: _get_all(f"{srv.url}/api/runs/{rid}/history", 10,
                                                                          {"format": fmt}))
            held = 10 * res[0][1] / 2**20  # what holding the answers whole would take
            rows.append((f"10 concurrent GET …/history?format={fmt}, {what}",
                         f"{statistics.median(t for t, _ in res):.2f} s each (median), {res[0][1] / 2**20:.1f} MB "
                         f"each; server RSS +{grew:.0f} MiB", "independent of length",
                         verdict(grew < max(32.0, held / 4)) if rid == long_id else "info"))
    pages, grew = _with_peak(srv, lambda: _page_through(srv, long_id))
    rows.append(("  paging the long run (limit 10 000)", f"{pages[0]} pages in {pages[1]:.2f} s; server RSS "
                 f"+{grew:.0f} MiB", "info", ""))
    csv = _big_csv(tmp / "big.csv")
    info = srv.upload_csv(csv.read_text(), label_column="label", name="big")
    res, grew = _with_peak(srv, lambda: _get_all(f"{srv.url}/api/datasets/{info['name']}", 6, {}))
    rows.append((f"6 concurrent previews of a {csv.stat().st_size / 1e6:.1f} MB uploaded CSV",
                 f"{max(b for _, b in res) / 2**20:.1f} MB each, {max(t for t, _ in res):.1f} s; server RSS "
                 f"+{grew:.0f} MiB", "capped", verdict(grew < 200)))
    with srv.client() as http:
        run = kit.create_run(http, dataset=info["name"], hidden_layers=[4], start=False)
    res, grew = _with_peak(srv, lambda: _get_all(f"{srv.url}/api/runs/{run['id']}/data", 6, {}))
    rows.append(("  6 concurrent GET …/data of a run on it (the whole data: made once, shared)",
                 f"{max(b for _, b in res) / 2**20:.1f} MB each, {max(t for t, _ in res):.1f} s; server RSS "
                 f"+{grew:.0f} MiB", "info", ""))
    return rows


def _page_through(srv: kit.Server, run_id: str) -> tuple[int, float]:
    t0, since, pages = time.perf_counter(), -1, 0
    with srv.client(timeout=120) as http:
        while since is not None:
            page = http.get(f"/api/runs/{run_id}/history", params={"since": since, "limit": 10_000}).json()
            since, pages = page["next"], pages + 1
    return pages, time.perf_counter() - t0


def _big_csv(path: Path, rows: int = 99_000, columns: int = 12) -> Path:
    """A ~10 MB CSV: ``columns`` numeric features and a label."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, columns)).round(4)
    y = (X[:, 0] > 0).astype(int)
    with open(path, "w") as f:
        f.write(",".join([*(f"f{i}" for i in range(columns)), "label"]) + "\n")
        for xr, yr in zip(X, y, strict=True):
            f.write(",".join(map(str, xr)) + f",{yr}\n")
    return path


# -- --distributed: a cluster on Redis + PostgreSQL ---------------------------------------------------------------
@contextlib.contextmanager
def a_cluster(tmp: Path) -> Iterator[Cluster]:
    """As the cluster tests start one (tests/cluster/conftest.py): our own redis-server and PostgreSQL on free
    loopback ports, replicas A and B (``serve`` with BPV_BROKER_URL / BPV_DATABASE_URL), two workers."""
    from tests.cluster.conftest import a_cluster as start

    with start(tmp / "cluster") as c:
        yield c


def _logs(c: Cluster) -> dict[str, str]:
    return {**{f"replica {n}": s.log() for n, s in zip("AB", c.replicas, strict=True)},
            **{f"worker {w.pid}": w.log() for w in c.workers}}


def _errors_since(c: Cluster, marks: dict[str, int]) -> list[str]:
    """The error lines the cluster's parts logged since ``marks`` (each log's length then)."""
    return [f"{name}: {line}" for name, text in _logs(c).items() for line in text[marks.get(name, 0):].splitlines()
            if any(m in line for m in kit.ERROR_MARKERS)]


@contextlib.contextmanager
def _broker(c: Cluster) -> Iterator[Any]:
    """A client of the cluster's Redis (redis-py's types are too loose to name)."""
    import redis

    r = redis.Redis.from_url(c.redis.url, socket_timeout=10)
    try:
        yield r
    finally:
        r.close()


def _registry(c: Cluster, run_id: str) -> dict[str, str]:
    with _broker(c) as r:
        return bus.registry_out(r.hgetall(bus.run_key(run_id)))


def cluster_class_rows(c: Cluster, watchers: int, seconds: float, procs: int) -> list[Row]:
    """Part 1 against the cluster: the runs made on A, the demo's watchers half on A, half on B; the baseline
    is the same cluster with 1 watcher (on A) and the demo run alone."""
    marks = {k: len(v) for k, v in _logs(c).items()}
    a = c.replicas[0]
    pids = [w.pid for w in c.workers]
    base = class_phase(a, 1, 0, 0, min(seconds, 10), 1, replicas=c.replicas, workers=pids)
    load = class_phase(a, watchers, 16, 2, seconds, procs, replicas=c.replicas, workers=pids)
    errors = _errors_since(c, marks)
    for line in errors[:5]:
        print(f"  {line}")
    rows = class_table(base, load, seconds, ["replica A", "replica B"], "the cluster with 1 watcher, 1 run",
                       len(errors))
    p = kit.percentile
    lb, ll = _to_bus(c, base["demo"]), _to_bus(c, load["demo"])
    placed = collections.Counter(reg.get("worker", "?") for reg in _registries(c)).values()
    rows.insert(-1, ("  of it, epoch → the Redis stream p50 / p95 (baseline: 1 watcher); runs per worker (all so far)",
                     f"{p(ll, 50) * 1e3:.0f} / {p(ll, 95) * 1e3:.0f} ms (baseline {p(lb, 50) * 1e3:.0f} / "
                     f"{p(lb, 95) * 1e3:.0f}); {' / '.join(map(str, sorted(placed, reverse=True)))}", "info", ""))
    return rows


def _to_bus(c: Cluster, run_id: str) -> list[float]:
    """Seconds from each epoch's end to its entry in the run's Redis stream (the entry id is Redis's clock, in
    ms: same host): the worker's share of epoch → client."""
    with _broker(c) as r:
        entries = r.xrange(bus.events_key(run_id))
    return [int(eid.split(b"-")[0]) / 1e3 - json.loads(f[b"ended_at"])[-1] for eid, f in entries
            if f.get(b"k") == b"points"]


def _registries(c: Cluster) -> list[dict[str, str]]:
    """Every run's registry entry in Redis (a finished run's stays an hour)."""
    with _broker(c) as r:
        return [bus.registry_out(r.hgetall(k)) for k in r.scan_iter(match=bus.run_key("*"), count=1000)]


class Follower:
    """One client following a run across reconnects, as a page does: a connection after another, each one
    with ``?since=`` the last epoch it has."""

    def __init__(self, run_id: str) -> None:
        self.run_id, self.watches, self.tasks, self.stop = run_id, list[kit.Watch](), list[asyncio.Task[Any]](), \
            asyncio.Event()

    def connect(self, srv: kit.Server) -> None:
        last = self.last()
        url = f"{srv.ws_url}/ws/runs/{self.run_id}" + (f"?since={last}" if last is not None else "")
        self.watches.append(kit.Watch())
        self.tasks.append(asyncio.create_task(kit.watch(url, until_terminal=False, timeout=1800,
                                                        watch_out=self.watches[-1], stop=self.stop)))

    def epochs(self) -> list[int]:
        return [e for w in self.watches for e in w.all_epochs()]

    def last(self) -> int | None:
        seen = self.epochs()
        return seen[-1] if seen else None

    async def first_after(self, epoch: int, timeout: float) -> float | None:
        """time.time() once it has an epoch after ``epoch`` (looked at every 5 ms); None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.last() or -1) > epoch:
                return time.time()
            await asyncio.sleep(0.005)
        return None

    def gaps_and_duplicates(self) -> tuple[int, int, str]:
        seq = self.epochs()
        gaps = [(x, y) for x, y in zip(seq, seq[1:], strict=False) if y != x + 1]
        span = f"epochs {seq[0]}…{seq[-1]}" if seq else "no epoch"
        return len(gaps), len(seq) - len(set(seq)), span + (f", first gaps {gaps[:3]}" if gaps else "")

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _health(srv: kit.Server, want: str, timeout: float) -> tuple[float | None, str]:
    """time.time() once /healthz says ``want`` (asked every 50 ms; a refused connection is no answer), and
    its reason; None after ``timeout``."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=srv.url, timeout=5) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                h = kit.strict_loads((await http.get("/healthz")).text)
                if h["status"] == want:
                    return time.time(), str(h.get("reason", ""))
            await asyncio.sleep(0.05)
    return None, ""


async def _claimed(c: Cluster, run_id: str, owner: str, timeout: float) -> float | None:
    """time.time() once the registry names another worker than ``owner`` for the run (looked at every 50 ms);
    None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await asyncio.to_thread(_registry, c, run_id)).get("worker", owner) != owner:
            return time.time()
        await asyncio.sleep(0.05)
    return None


def _after(t: float | None, t0: float) -> str:
    return f"{t - t0:.2f} s" if t is not None else "not within the time-out"


async def _failover(c: Cluster, pace: float) -> list[Row]:
    """Faults while a watched run trains: kill -9 its worker, kill the watcher's replica, restart Redis."""
    a, b = c.replicas
    with a.client() as http:
        rid = kit.create_run(http, epochs=100_000, speed=pace, name="failover")["id"]
    f = Follower(rid)
    f.connect(b)
    if await f.first_after(int(3 * pace), 120) is None:
        raise RuntimeError(f"the run did not reach epoch {3 * pace:g} within 120 s")
    w0 = f.watches[0]
    beats = w0.receipt_times
    pace_ms = [(y - x) * 1e3 for x, y in zip(beats, beats[1:], strict=False)]
    baseline = (f"baseline before: an epoch every {(beats[-1] - beats[0]) / max(1, len(w0.epochs) - 1) * 1e3:.0f} ms"
                f", longest pause {max(pace_ms):.0f} ms")
    rows: list[Row] = []

    # 1. kill -9 the worker that trains the run (the registry says which)
    owner = _registry(c, rid)["worker"]
    victim = next(w for w in c.workers if f"-{w.pid}-" in owner)
    t_kill = time.time()
    await asyncio.to_thread(victim.kill)
    reached = int(_registry(c, rid)["epoch"])  # the newest epoch it published; nothing more comes from it
    claim = asyncio.create_task(_claimed(c, rid, owner, 120))
    t_new = await f.first_after(reached, 120)
    t_claim = await claim
    await f.first_after(reached + int(2 * pace), 60)
    gaps, dups, span = f.gaps_and_duplicates()
    rows += [
        (f"kill -9 the worker training a watched run ({pace:g} epochs/s, watched on replica B): seconds to the "
         "next new epoch at the watcher", f"{_after(t_new, t_kill)} (another worker claimed it after "
         f"{_after(t_claim, t_kill)}; epoch {reached} was the newest at the kill; state messages seen: "
         f"{f.watches[0].states or 'none'}; {baseline})", "≤ 10 s",
         verdict(t_new is not None and t_new - t_kill <= 10)),
        ("  the watcher's history across it: gaps, duplicates", f"{gaps}, {dups} ({span})", "0, 0",
         verdict(gaps == dups == 0)),
    ]
    await asyncio.to_thread(c.heal)  # a new worker in place of the dead one

    # 2. kill -9 replica B (the watcher's); the client reconnects to A with ?since=<its last epoch>
    t_kill = time.time()
    await asyncio.to_thread(b.kill)
    await asyncio.wait_for(asyncio.gather(f.tasks[-1], return_exceptions=True), 60)
    t_closed, last = time.time(), f.last() or 0
    f.connect(a)
    t_new = await f.first_after(last, 60)
    await f.first_after(last + int(2 * pace), 60)
    gaps, dups, span = f.gaps_and_duplicates()
    rows += [
        ("kill -9 replica B (the watcher's), reconnect to A with ?since=<last epoch>: seconds to the next epoch",
         f"{_after(t_new, t_kill)} (the connection ended after {t_closed - t_kill:.2f} s; {baseline})", "info", ""),
        ("  the watcher's history across it: gaps, duplicates", f"{gaps}, {dups} ({span})", "0, 0",
         verdict(gaps == dups == 0)),
    ]
    await asyncio.to_thread(c.heal)  # replica B again

    # 3. restart Redis (SIGTERM, start again on its port; appendonly keeps what it had)
    seen_before = f.last() or 0
    t_stop = time.time()
    await asyncio.to_thread(c.redis.stop)
    t_degraded, reason = await _health(a, "degraded", 60)
    t_start = time.time()
    await asyncio.to_thread(c.redis.start)
    t_up = time.time()
    ok_a, ok_b = await asyncio.gather(_health(a, "ok", 120), _health(b, "ok", 120))
    if f.tasks[-1].done():  # the connection ended meanwhile: the client comes back, as after a replica's end
        f.connect(a)
    t_new = await f.first_after(max(seen_before, f.last() or 0), 120)
    await f.first_after((f.last() or 0) + int(2 * pace), 60)
    await f.close()
    gaps, dups, span = f.gaps_and_duplicates()
    reconnects = len(f.watches) - 2
    with a.client() as http:
        http.post(f"/api/runs/{rid}/stop")
        settled = _stored_whole(http, rid)
    rows += [
        ("restart Redis: /healthz degraded after; ok again on A / B after its start (baseline: redis-server "
         "answering); the watched run's next new epoch at the watcher after its start",
         f"{_after(t_degraded, t_stop)} ({reason[:70]}…); {_after(ok_a[0], t_start)} / {_after(ok_b[0], t_start)} "
         f"(redis-server {t_up - t_start:.2f} s); {_after(t_new, t_start)} (down {t_start - t_stop:.1f} s)",
         "recovers by itself", verdict(None not in (t_degraded, ok_a[0], ok_b[0], t_new))),
        ("  the watcher's history across it: gaps, duplicates; reconnects; stored history after a stop",
         f"{gaps}, {dups} ({span}); {reconnects}; {settled}", "0, 0; whole",
         verdict(gaps == dups == 0 and settled.startswith("whole"))),
    ]
    return rows


def _stored_whole(http: httpx.Client, run_id: str) -> str:
    """Whether the store holds every epoch of the run once, up to its last (waits up to 60 s for it)."""
    got: list[int] = []

    def whole() -> bool:
        got[:] = [pt["epoch"] for pt in kit.strict_loads(http.get(f"/api/runs/{run_id}/history").text)["points"]]
        return got == list(range(len(got))) and got[-1] == kit.strict_loads(http.get(f"/api/runs/{run_id}").text)[
            "epoch"]

    try:
        kit.wait_for(whole, timeout=60, interval=0.25, what="the whole history stored")
        return f"whole (epochs 0…{got[-1]})"
    except AssertionError:
        return f"NOT whole: {len(got)} points, {len(got) - len(set(got))} duplicates"


def distributed_rows(tmp: Path, parts: set[str], watchers: int, seconds: float, procs: int) -> list[Row]:
    rows: list[Row] = []
    with a_cluster(tmp) as c:
        print(f"cluster: redis {c.redis.url}, postgres {c.pg.url}, replicas "
              f"{', '.join(f'{s.url} (pid {s.pid})' for s in c.replicas)}, workers "
              f"{', '.join(str(w.pid) for w in c.workers)}", flush=True)
        if "class" in parts:
            rows += cluster_class_rows(c, watchers, seconds, procs)
            print(f"load average: {load_average()}", flush=True)
        if "failover" in parts:
            marks = {k: len(v) for k, v in _logs(c).items()}
            rows += asyncio.run(_failover(c, 20.0))
            errors = _errors_since(c, marks)
            for line in errors:
                print(f"  {line}")
            rows.append(("  error lines the parts logged during the faults (printed above)", str(len(errors)),
                         "info", ""))
            print(f"load average: {load_average()}", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer watchers, shorter runs")
    ap.add_argument("--only", default=None, help="comma-separated parts to run (default: all; embedded: "
                    "class,abuse,length,history; --distributed: class,failover)")
    ap.add_argument("--watchers", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--distributed", action="store_true", help="a cluster on Redis + PostgreSQL (2 replicas, "
                    "2 workers) instead of the embedded server")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    parts = set((args.only or ("class,failover" if args.distributed else "class,abuse,length,history")).split(","))
    watchers = args.watchers or (100 if args.quick else 200)
    seconds = args.seconds or (15.0 if args.quick else 30.0)
    rows: list[Row] = []
    print(f"load average before: {load_average()} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="bench_class_") as tmp:
        if args.distributed:
            rows += distributed_rows(Path(tmp), parts, watchers, seconds, 4)
        elif "class" in parts:
            rows += class_rows(Path(tmp), watchers, seconds, 4)
            print(f"load average: {load_average()}")
        if not args.distributed and ("length" in parts or "history" in parts):
            rows_l, srv, long_id, short_id = length_rows(Path(tmp), 20_000 if args.quick else 100_000, 20)
            try:
                if "length" in parts:
                    rows += rows_l
                if "history" in parts:
                    rows += history_rows(srv, long_id, short_id, Path(tmp))
            finally:
                srv.stop()
            print(f"load average: {load_average()}")
        if not args.distributed and "abuse" in parts:
            rows += abuse_rows(Path(tmp), 50 if args.quick else 100, 10 if args.quick else 20, 10 if args.quick
                               else 20, 5.0 if args.quick else 20.0)
            print(f"load average: {load_average()}")
    width = max(len(r[0]) for r in rows) if rows else 0
    for what, value, target, ok in rows:
        print(f"{what:<{width}}  {value}  [{target}] {ok}")
    print(f"load average after: {load_average()}")
    return 1 if args.strict and any(r[3] == "MISSED" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
