"""Load, faults and fuzzing at full size (issue 6): the larger variants of tests/reliability, against a REAL
uvicorn on loopback (started as ``backprop-viz serve`` starts it: tests/support.py ``Server``).

1. **50 watchers while 4 runs train.** One run at the page's watchable speed (20 epochs/s) is watched by 50
   ``websockets`` clients, spread over 5 client processes so that the clients' own Python does not become
   what is measured; 3 more runs (spiral, 2-8-8-8-1) train as fast as they go. Every client must get every
   epoch's metrics, in order, without a gap. Latency = receipt ``time.time()`` − the message's ``ended_at``
   (the server's clock at the end of the newest epoch in it; same host, same clock). Repeated ``--repeat``
   times; the table shows the median of the repetitions' p50/p95 and the worst max.
2. **10 slow readers (1 message/s) beside 2 fast ones** on a digits run (64-128-64-10, ~100 kB frames):
   server RSS growth (VmRSS), the fast clients' metrics and snapshot rates next to the run's epoch rate, and
   the training speed watched vs unwatched at unlimited speed. The machine is shared and noisy, so the
   unwatched and watched phases alternate (``--repeat`` cycles, each on a fresh run) and the ratio is the
   median of each watched phase over the mean of the unwatched phases around it.
3. **The queue**: 40 runs (30 epochs at 20/s) created at once with the default limits (4 training, 32
   queued): 36 are accepted (4 running, 32 queued), 4 refused with 429 and a message; all 36 end ``done``
   with every epoch stored, 4 at a time.
4. **SIGKILL, restart, again** (``--kills`` times) on one data dir: a run trains at 40 epochs/s with a client
   watching; the server is killed at a random moment and restarted. Each time: every run is listed, the
   interrupted one's stored history has no gap, the newest stored epoch ended ≤ 1 s before the kill
   ("commit lag"), ``PRAGMA integrity_check`` is ok, and a new run completes.
5. With ``--fuzz``: tests/reliability/test_reliability_schema.py with 15× the examples (Schemathesis
   ``--checks all``, ≥ 5 000 cases with and without a token).

Targets: no gap anywhere; p95 ≤ 50 ms; RSS growth ≤ 50 MB; fast clients keep the run's rate (≥ 0.9× the
epochs as metrics, ≥ 0.75× as snapshots); watched ≥ 0.75× unwatched; none of the queued runs lost; commit
lag ≤ 1 s; integrity ok.

    .venv/bin/python benchmarks/bench_load.py            # ~3 minutes
    .venv/bin/python benchmarks/bench_load.py --quick    # ~1.5 minutes
    .venv/bin/python benchmarks/bench_load.py --fuzz     # + ~10 minutes of Schemathesis
    .venv/bin/python benchmarks/bench_load.py --strict   # exit 1 when a target is missed
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


sys.path.insert(0, str(ROOT))
from tests import support as kit  # noqa: E402

Row = tuple[str, str, str, str]  # what, value, target, verdict


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# -- 1. fifty watchers -------------------------------------------------------------------------------------------
def _watch_process(url: str, n: int, go: Any, out: Any) -> None:
    """A client process: n watchers of url; reports per watcher (epochs, latencies, frames, gaps, states)."""

    async def main() -> list[Any]:
        watches = [kit.Watch() for _ in range(n)]
        tasks = [asyncio.create_task(kit.watch(url, timeout=180, watch_out=w)) for w in watches]
        while not all(w.hello for w in watches):
            await asyncio.sleep(0.02)
        go.release()
        return list(await asyncio.gather(*tasks))

    watches = asyncio.run(main())
    out.put([(w.all_epochs(), w.latencies, w.frames, w.gaps(), w.states) for w in watches])


def fifty_watchers(tmp: Path, seconds: float, repeat: int) -> list[Row]:
    ctx = mp.get_context("spawn")
    p50s, p95s, worst, messages, gaps, incomplete, frames_min = [], [], 0.0, 0, 0, 0, 10**9
    epochs = int(seconds * 20)
    errors: list[str] = []
    for i in range(repeat):
        srv = kit.Server(tmp / f"watch{i}", tmp / f"watch{i}.log").start()
        try:
            with srv.client() as http:
                others = [kit.create_run(http, dataset="spiral", hidden_layers=[8, 8, 8], seed=s, epochs=100_000)
                          for s in range(3)]
                run = kit.create_run(http, start=False, epochs=epochs, speed=20.0)
                url = f"{srv.ws_url}/ws/runs/{run['id']}"
                go, out = ctx.Semaphore(0), ctx.Queue()
                procs = [ctx.Process(target=_watch_process, args=(url, 10, go, out)) for _ in range(5)]
                for p in procs:
                    p.start()
                for _ in procs:
                    if not go.acquire(timeout=60):
                        raise RuntimeError("the watchers did not connect")
                http.post(f"/api/runs/{run['id']}/resume").raise_for_status()
                results = [x for _ in procs for x in out.get(timeout=seconds + 120)]
                for p in procs:
                    p.join(30)
                for o in others:
                    http.post(f"/api/runs/{o['id']}/stop")
            lat = [x for r in results for x in r[1]]
            p50s.append(kit.percentile(lat, 50))
            p95s.append(kit.percentile(lat, 95))
            worst = max(worst, max(lat))
            messages += len(lat)
            gaps += sum(len(r[3]) for r in results)
            incomplete += sum(1 for r in results if r[0] != list(range(epochs + 1)) or r[4][-1:] != ["done"])
            frames_min = min(frames_min, *(r[2] for r in results))
            errors += srv.errors()
        finally:
            srv.stop()
    p50, p95 = statistics.median(p50s) * 1e3, statistics.median(p95s) * 1e3
    n = repeat * 50
    return [
        (f"50 watchers × {epochs} epochs at 20/s, 3 more runs unlimited ({repeat}×): gaps, incomplete clients",
         f"{gaps} gaps; {incomplete} of {n} clients incomplete", "0; 0", verdict(gaps == 0 and incomplete == 0)),
        ("  epoch end → client latency p50 / p95 / max", f"{p50:.1f} / {p95:.1f} / {worst * 1e3:.0f} ms "
         f"({messages} msgs; p95 per repetition {', '.join(f'{x * 1e3:.0f}' for x in p95s)})", "p95 ≤ 50 ms",
         verdict(p95 <= 50)),
        ("  snapshots per client (latest wins)", f"≥ {frames_min} of {epochs + 1}", "info", ""),
        ("  errors in the server logs", str(len(errors)), "0", verdict(not errors)),
    ]


# -- 2. slow and fast readers, memory and speed -------------------------------------------------------------------
def slow_and_fast(tmp: Path, seconds: float, repeat: int) -> list[Row]:
    srv = kit.Server(tmp / "slow", tmp / "slow.log").start()
    config = {"dataset": "digits", "hidden_layers": [128, 64], "epochs": 100_000}
    unwatched: list[float] = []
    ratios: list[float] = []
    growth: list[float] = []
    fast_metrics: list[float] = []
    fast_frames: list[float] = []
    gaps = 0
    try:
        with srv.client() as http:

            def phase_rate(watched: bool) -> tuple[float, Any]:
                run = kit.create_run(http, start=False, **config)
                url = f"{srv.ws_url}/ws/runs/{run['id']}"

                async def go() -> tuple[float, Any]:
                    stop = asyncio.Event()
                    slow = [kit.Watch() for _ in range(10 if watched else 0)]
                    fast = [kit.Watch() for _ in range(2 if watched else 0)]
                    tasks = [asyncio.create_task(kit.watch(url, timeout=600, read_delay=1.0, until_terminal=False,
                                                           watch_out=w, stop=stop)) for w in slow]
                    tasks += [asyncio.create_task(kit.watch(url, timeout=600, until_terminal=False, watch_out=w,
                                                            stop=stop)) for w in fast]
                    while not all(w.hello for w in slow + fast):
                        await asyncio.sleep(0.02)
                    rss0 = srv.rss_mb()
                    await asyncio.to_thread(http.post, f"/api/runs/{run['id']}/resume")
                    await asyncio.sleep(1.0)  # warm up
                    e0, t0 = kit.strict_loads((await asyncio.to_thread(http.get, f"/api/runs/{run['id']}")).text)[
                        "epoch"], time.monotonic()
                    m0 = [len(w.epochs) for w in fast]
                    f0 = [w.frames for w in fast]
                    peak = rss0
                    while time.monotonic() - t0 < seconds:
                        await asyncio.sleep(0.25)
                        peak = max(peak, srv.rss_mb())
                    e1, t1 = kit.strict_loads((await asyncio.to_thread(http.get, f"/api/runs/{run['id']}")).text)[
                        "epoch"], time.monotonic()
                    rate = (e1 - e0) / (t1 - t0)
                    detail = None
                    if watched:
                        per_epoch = (t1 - t0) * rate
                        detail = (peak - rss0, [(len(w.epochs) - m) / per_epoch for w, m in zip(fast, m0, strict=True)],
                                  [(w.frames - f) / per_epoch for w, f in zip(fast, f0, strict=True)])
                    await asyncio.to_thread(http.post, f"/api/runs/{run['id']}/stop")
                    await asyncio.sleep(0.3)
                    stop.set()
                    watches = await asyncio.gather(*tasks)
                    nonlocal gaps
                    gaps += sum(len(w.gaps()) for w in watches)
                    return rate, detail

                return asyncio.run(go())

            unwatched.append(phase_rate(False)[0])
            for _ in range(repeat):
                rate, (grew, metrics, frames) = phase_rate(True)
                after = phase_rate(False)[0]
                ratios.append(rate / statistics.mean([unwatched[-1], after]))
                unwatched.append(after)
                growth.append(grew)
                fast_metrics += metrics
                fast_frames += frames
        errors = srv.errors()
    finally:
        srv.stop()
    ratio = statistics.median(ratios)
    return [
        (f"10 slow (1 msg/s) + 2 fast readers, digits 64-128-64-10 unlimited ({repeat}×{seconds:g} s): "
         "RSS growth", f"max +{max(growth):.1f} MB", "≤ +50 MB", verdict(max(growth) <= 50)),
        ("  fast clients: metrics / snapshots per epoch trained",
         f"{min(fast_metrics):.2f} / {min(fast_frames):.2f} (worst)", "≥ 0.9 / ≥ 0.75",
         verdict(min(fast_metrics) >= 0.9 and min(fast_frames) >= 0.75)),
        ("  training speed watched / unwatched",
         f"{ratio:.2f} (each: {', '.join(f'{r:.2f}' for r in ratios)}; unwatched "
         f"{statistics.median(unwatched):.1f} epochs/s)", "≥ 0.75", verdict(ratio >= 0.75)),
        ("  gaps in any client's metrics; errors in the log", f"{gaps}; {len(errors)}", "0; 0",
         verdict(gaps == 0 and not errors)),
    ]


# -- 3. the queue ---------------------------------------------------------------------------------------------------
def queue(tmp: Path) -> list[Row]:
    srv = kit.Server(tmp / "queue", tmp / "queue.log").start()
    try:
        with srv.client() as http:
            t0 = time.monotonic()
            answers = [http.post("/api/runs", json={"epochs": 30, "speed": 20, "seed": i, "name": f"pupil {i}"})
                       for i in range(40)]
            accepted = [kit.strict_loads(r.text) for r in answers if r.status_code == 201]
            refused = [r for r in answers if r.status_code == 429]
            states = [r["state"] for r in accepted]
            messages_ok = all("too many" in kit.strict_loads(r.text)["detail"] for r in refused)
            lost = 0
            for r in accepted:
                kit.wait_state(http, r["id"], "done", timeout=300)
                points = kit.strict_loads(http.get(f"/api/runs/{r['id']}/history").text)["points"]
                lost += [p["epoch"] for p in points] != list(range(31))
            took = time.monotonic() - t0
            listed = kit.strict_loads(http.get("/api/runs", params={"limit": 100}).text)["total"]
        errors = srv.errors()
    finally:
        srv.stop()
    ok = (len(accepted) == 36 and states.count("running") == 4 and states.count("queued") == 32
          and len(refused) == 4 and messages_ok and lost == 0 and listed == 36 and not errors)
    return [("40 runs at once, limits 4 + 32 queued: accepted (running/queued) / 429 / all done, none lost",
             f"{len(accepted)} ({states.count('running')}/{states.count('queued')}) / {len(refused)} / "
             f"{len(accepted) - lost} of {len(accepted)} in {took:.0f} s", "36 (4/32) / 4 / all", verdict(ok))]


# -- 4. kill, restart, again -----------------------------------------------------------------------------------------
def kill_loop(tmp: Path, kills: int) -> list[Row]:
    data = tmp / "kills"
    rng = random.Random(6)
    lags: list[float] = []
    problems: list[str] = []
    expected: set[str] = set()
    for i in range(kills):
        srv = kit.Server(data, tmp / f"kill{i}.log").start()
        with srv.client() as http:
            listed = {r["id"]: r for r in kit.strict_loads(http.get("/api/runs", params={"limit": 200}).text)["items"]}
            if set(listed) != expected:
                problems.append(f"restart {i}: runs listed {len(listed)}, expected {len(expected)}")
            if any(r["state"] in ("running", "queued", "paused") for r in listed.values()):
                problems.append(f"restart {i}: a run still live after a restart")
            run = kit.create_run(http, epochs=100_000, speed=40, name=f"killed {i}")
            expected.add(run["id"])
        ended: dict[int, float] = {}

        async def follow(url: str, srv: Any, ended: dict[int, float], wait: float) -> float:
            import websockets

            async with websockets.connect(url, compression=None, max_size=2**26) as ws:
                t_end = time.monotonic() + wait
                while True:
                    msg = await asyncio.wait_for(ws.recv(), 10)
                    if isinstance(msg, str):
                        m = kit.strict_loads(msg)
                        if m["type"] == "metrics":
                            for p in m["points"]:
                                ended[p["epoch"]] = m["ended_at"]
                    if time.monotonic() >= t_end:
                        t_kill = time.time()
                        srv.kill()
                        return t_kill

        t_kill = asyncio.run(follow(f"{srv.ws_url}/ws/runs/{run['id']}", srv, ended, rng.uniform(1.0, 4.0)))
        with contextlib.closing(sqlite3.connect(srv.db_path)) as db:
            check = db.execute("PRAGMA integrity_check").fetchone()[0]
            stored = [r[0] for r in db.execute("SELECT epoch FROM epochs WHERE run_id=? ORDER BY epoch",
                                               (run["id"],))]
        if check != "ok":
            problems.append(f"kill {i}: integrity_check {check}")
        if stored != list(range(len(stored))):
            problems.append(f"kill {i}: a gap in the stored history")
        if stored and stored[-1] in ended:
            lags.append(t_kill - ended[stored[-1]])
        else:
            problems.append(f"kill {i}: the newest stored epoch {stored[-1:]} was never streamed")
    srv = kit.Server(data, tmp / "kill-final.log").start()
    try:
        with srv.client() as http:
            items = kit.strict_loads(http.get("/api/runs", params={"limit": 200}).text)["items"]
            if {r["id"] for r in items} != expected or any(r["state"] != "interrupted" for r in items):
                problems.append("after the last restart: not every run listed as interrupted")
            fresh = kit.create_run(http, epochs=10)
            if kit.wait_state(http, fresh["id"], "done")["epoch"] != 10:
                problems.append("a new run after the restarts did not complete")
    finally:
        srv.stop()
    lag = max(lags) if lags else float("nan")
    return [(f"SIGKILL at a random moment, restart ({kills}×): commit lag of the newest stored epoch",
             f"max {lag:.2f} s (each: {', '.join(f'{x:.2f}' for x in lags)})", "≤ 1 s", verdict(lag <= 1.0)),
            ("  runs listed, no gap, integrity_check, new run after", "; ".join(problems) or "all ok", "all ok",
             verdict(not problems))]


# -- 5. fuzzing -----------------------------------------------------------------------------------------------------
def fuzz() -> list[Row]:
    env = {**os.environ, "BPV_FUZZ_SCALE": "15"}
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
                        "tests/reliability/test_reliability_schema.py"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=3600)
    figures = [line for line in r.stdout.splitlines() if line.startswith("schemathesis --checks all")]
    return [("Schemathesis --checks all, 15× the test's examples",
             "; ".join(figures) + f" ({time.monotonic() - t0:.0f} s)",
             "no failure", verdict(r.returncode == 0))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases, fewer repetitions")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions of sections 1 and 2")
    parser.add_argument("--kills", type=int, default=None, help="kill/restart cycles")
    parser.add_argument("--fuzz", action="store_true", help="also run Schemathesis with 15× the examples")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    kills = args.kills or (3 if args.quick else 6)
    started = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp_name:
        tmp = Path(tmp_name)
        rows += fifty_watchers(tmp, 6.0 if args.quick else 10.0, repeat)
        print("watchers done", flush=True)
        rows += slow_and_fast(tmp, 5.0 if args.quick else 8.0, repeat)
        print("slow/fast done", flush=True)
        rows += queue(tmp)
        print("queue done", flush=True)
        rows += kill_loop(tmp, kills)
        print("kills done", flush=True)
        if args.fuzz:
            rows += fuzz()
    width = max(len(r[0]) for r in rows)
    print()
    print(f"bench_load: uvicorn on loopback, {os.cpu_count()} CPUs, load average at the end "
          f"{os.getloadavg()[0]:.1f}, took {time.monotonic() - started:.0f} s")
    for what, value, target, ok in rows:
        print(f"{what:<{width}}  {value}  [{target}] {ok}")
    missed = [r[0].strip() for r in rows if r[3] == "MISSED"]
    print("\nall targets met" if not missed else "\nmissed: " + "; ".join(missed))
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
