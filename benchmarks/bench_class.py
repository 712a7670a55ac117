"""A server a whole class can share (issue 10), embedded mode: one machine, no extra service. Against a REAL
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

Targets (the issue's): no gap; /healthz p99 ≤ 200 ms; epoch → client p95 ≤ 100 ms; all runs train; server
RSS ≤ 500 MB whatever the clients do; hello ≤ 1 s and ≤ 10 MB; history memory independent of run length.

The machine is shared: every figure is printed beside its baseline from the same run, with the load average.

    .venv/bin/python benchmarks/bench_class.py            # ~12 minutes
    .venv/bin/python benchmarks/bench_class.py --quick    # ~6 minutes: 100 watchers, shorter runs, 20 000 epochs
    .venv/bin/python benchmarks/bench_class.py --only class,abuse,length,history
    .venv/bin/python benchmarks/bench_class.py --strict   # exit 1 when a target is missed

``--distributed`` (Redis + PostgreSQL) is reserved for the scale-out mode.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import support as kit  # noqa: E402

Row = tuple[str, str, str, str]  # what, value, target, verdict


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def load_average() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


# -- client processes ------------------------------------------------------------------------------------------
def _watch_process(urls: list[str], go: Any, out: Any, timeout: float) -> None:
    """A client process: one watcher per url; reports per watcher (epochs, latencies, frames, gaps, states,
    seconds between its first and last message)."""

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
    out.put([(w.all_epochs(), w.latencies, w.frames, w.gaps(), w.states, w.errors,
             (w.receipt_times[0], w.receipt_times[-1]) if w.receipt_times else (0.0, 0.0), cpu if i == 0 else 0.0)
             for i, w in enumerate(watches)])


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


def _probe_process(url: str, seconds: float, out: Any) -> None:
    stop = threading.Event()
    lat: list[float] = []
    t = threading.Thread(target=_probe, args=(url, stop, lat))
    t.start()
    time.sleep(seconds)
    stop.set()
    t.join()
    out.put(lat)


# -- 1. a class -----------------------------------------------------------------------------------------------
def class_phase(srv: kit.Server, watchers: int, students: int, flat_out: int, seconds: float,
                procs: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    epochs = int(seconds * 20)
    with srv.client() as http:
        busy = [kit.create_run(http, dataset="spiral", hidden_layers=[8, 8, 8], seed=s, epochs=100_000)
                for s in range(flat_out)]
        runs = [kit.create_run(http, start=False, epochs=epochs, speed=20.0, seed=s, name=f"student {s}")
                for s in range(students)]
        demo = kit.create_run(http, start=False, epochs=epochs, speed=20.0, name="the teacher's demo")
        demo_url = f"{srv.ws_url}/ws/runs/{demo['id']}"
        groups = [[demo_url] * (watchers // procs + (i < watchers % procs)) for i in range(procs)]
        groups.append([f"{srv.ws_url}/ws/runs/{r['id']}" for r in runs])
        groups = [g for g in groups if g]
        go, out, probe_out = ctx.Semaphore(0), ctx.Queue(), ctx.Queue()
        ps = [ctx.Process(target=_watch_process, args=(g, go, out, seconds + 240)) for g in groups]
        for p in ps:
            p.start()
        for _ in ps:
            if not go.acquire(timeout=120):
                raise RuntimeError("the watchers did not connect")
        probe = ctx.Process(target=_probe_process, args=(srv.url, seconds, probe_out))
        cpu0 = srv.cpu()
        t0 = time.monotonic()
        for r in [*runs, demo]:
            http.post(f"/api/runs/{r['id']}/resume").raise_for_status()
        probe.start()
        rss_peak = srv.rss_mb()
        states: dict[str, str] = {}
        while time.monotonic() - t0 < seconds * 0.9:
            time.sleep(0.5)
            rss_peak = max(rss_peak, srv.rss_mb())
            states = {r["id"]: kit.strict_loads(http.get(f"/api/runs/{r['id']}").text)["state"]
                      for r in [*runs, demo]}
        results = [x for _ in ps for x in out.get(timeout=seconds + 300)]
        t1 = time.monotonic()
        cpu1 = srv.cpu()
        health = probe_out.get(timeout=60)
        for p in [*ps, probe]:
            p.join(30)
        ended = [kit.strict_loads(http.get(f"/api/runs/{r['id']}").text) for r in [*runs, demo]]
        flat = [kit.strict_loads(http.get(f"/api/runs/{b['id']}").text)["epoch"] for b in busy]
        for b in busy:
            http.post(f"/api/runs/{b['id']}/stop")
    demo_results = results[:watchers]
    lat = [x for r in demo_results for x in r[1]]
    span = t1 - t0
    return {
        "watchers": watchers,
        "gaps": sum(len(r[3]) for r in results),
        "incomplete": sum(1 for r in demo_results if r[0] != list(range(epochs + 1))),
        "errors": [e for r in results for e in r[5]][:3],
        "lat": lat,
        "health": health,
        "frames": [r[2] / max(1e-9, (r[6][1] - r[6][0])) if r[6][1] > r[6][0] else 0.0 for r in demo_results],
        "running": sum(1 for s in states.values() if s == "running"),
        "runs": len(states),
        "rates": [e["epoch"] / span for e in ended],
        "done": sum(1 for e in ended if e["state"] == "done"),
        "flat": [f / span for f in flat],
        "loop_cpu": (cpu1[0] - cpu0[0]) / span,
        "per_message": (cpu1[0] - cpu0[0]) / max(1, sum(len(r[1]) + r[2] for r in results)),
        "worker_cpu": (cpu1[2] - cpu0[2]) / span,
        "client_cpu": sum(r[7] for r in results) / span,
        "rss_peak": rss_peak,
    }


def class_rows(tmp: Path, watchers: int, seconds: float, procs: int) -> list[Row]:
    srv = kit.Server(tmp / "class", tmp / "class.log").start()
    print(f"class: server pid {srv.pid}", flush=True)
    try:
        base = class_phase(srv, 1, 0, 0, min(seconds, 10), 1)
        load = class_phase(srv, watchers, 16, 2, seconds, procs)
        errors = srv.errors()
    finally:
        srv.stop()
    p = kit.percentile
    hb, hl = base["health"], load["health"]
    lb, ll = base["lat"], load["lat"]
    fr = load["frames"]
    return [
        (f"{watchers} watchers on a 20 epochs/s run + 16 students' runs at 20/s (watched) + 2 flat out, "
         f"{seconds:g} s: gaps, incomplete watchers", f"{load['gaps']} gaps; {load['incomplete']} of {watchers} "
         f"incomplete {load['errors'] or ''}", "0; 0", verdict(load["gaps"] == 0 and load["incomplete"] == 0)),
        ("  /healthz p50 / p95 / p99 (baseline: 1 watcher, 1 run)",
         f"{p(hl, 50) * 1e3:.0f} / {p(hl, 95) * 1e3:.0f} / {p(hl, 99) * 1e3:.0f} ms (baseline {p(hb, 50) * 1e3:.0f}"
         f" / {p(hb, 95) * 1e3:.0f} / {p(hb, 99) * 1e3:.0f}; {len(hl)} probes)", "p99 ≤ 200 ms",
         verdict(p(hl, 99) <= 0.2)),
        ("  epoch → client p50 / p95 / max (baseline: 1 watcher)",
         f"{p(ll, 50) * 1e3:.0f} / {p(ll, 95) * 1e3:.0f} / {max(ll, default=0) * 1e3:.0f} ms (baseline "
         f"{p(lb, 50) * 1e3:.0f} / {p(lb, 95) * 1e3:.0f}; ×{p(ll, 95) / max(1e-9, p(lb, 95)):.1f} at p95)",
         "p95 ≤ 100 ms", verdict(p(ll, 95) <= 0.1)),
        ("  snapshots per watcher per second: min / median (baseline: 1 watcher)",
         f"{min(fr, default=0):.1f} / {statistics.median(fr) if fr else 0:.1f} (baseline "
         f"{statistics.median(base['frames']) if base['frames'] else 0:.1f})", "info", ""),
        ("  runs training at once; paced runs' epochs/s min / median; flat-out runs' epochs/s",
         f"{load['running']} of {load['runs']} (then {load['done']} done); "
         f"{min(load['rates']):.1f} / {statistics.median(load['rates']):.1f}; "
         f"{', '.join(f'{r:.0f}' for r in load['flat'])}", "all train", verdict(load["running"] == load["runs"])),
        ("  CPU: event-loop thread (per message sent); training workers; client processes; server RSS peak",
         f"{load['loop_cpu'] * 100:.0f} % of a core ({load['per_message'] * 1e6:.0f} µs; baseline "
         f"{base['loop_cpu'] * 100:.0f} %, {base['per_message'] * 1e6:.0f} µs); "
         f"{load['worker_cpu'] * 100:.0f} %; {load['client_cpu'] * 100:.0f} %; "
         f"{load['rss_peak']:.0f} MiB", "info", ""),
        ("  errors in the server log", str(len(errors)), "0", verdict(not errors)),
    ]


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer watchers, shorter runs")
    ap.add_argument("--only", default="class,abuse,length,history", help="comma-separated parts to run")
    ap.add_argument("--watchers", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--distributed", action="store_true", help="Redis + PostgreSQL mode (not built yet)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    if args.distributed:
        print("bench_class: --distributed is not available yet; this benchmark measures the embedded mode")
        return 2
    parts = set(args.only.split(","))
    watchers = args.watchers or (100 if args.quick else 200)
    seconds = args.seconds or (15.0 if args.quick else 30.0)
    rows: list[Row] = []
    print(f"load average before: {load_average()} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="bench_class_") as tmp:
        if "class" in parts:
            rows += class_rows(Path(tmp), watchers, seconds, 4)
            print(f"load average: {load_average()}")
        if "length" in parts or "history" in parts:
            rows_l, srv, long_id, short_id = length_rows(Path(tmp), 20_000 if args.quick else 100_000, 20)
            try:
                if "length" in parts:
                    rows += rows_l
                if "history" in parts:
                    rows += history_rows(srv, long_id, short_id, Path(tmp))
            finally:
                srv.stop()
            print(f"load average: {load_average()}")
        if "abuse" in parts:
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
