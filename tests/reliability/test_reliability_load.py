"""Load: many watchers on one run while others train, slow readers beside fast ones, the run queue.

Only what holds however busy the machine is, is asserted here (no gaps, order, bounded memory, nothing
lost), and every wait is for an event. Speed — latency p95 ≤ 50 ms, training speed watched vs unwatched — is
measured by ``benchmarks/bench_load.py``; the latencies measured here are printed in pytest's terminal
summary, not asserted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests import support as kit

N_WATCHERS = 50
SPEED = 20.0  # epochs per second: the page's watchable speed
EPOCHS = 80


async def _all_hello(watches: list[Any], tasks: list[asyncio.Task[Any]], timeout: float = 120.0) -> None:
    async def every_hello() -> bool:
        failed = [t for t in tasks if t.done()]
        if failed:
            failed[0].result()  # raises what went wrong
            raise AssertionError("a watcher ended before its hello")
        return all(w.hello for w in watches)

    await kit.wait_async(every_hello, timeout=timeout, what="every watcher's hello")


def test_fifty_watchers_get_every_epoch_in_order_while_four_runs_train(make_server: Any) -> None:
    srv = make_server()
    with srv.client() as http:
        others = [kit.create_run(http, dataset="spiral", hidden_layers=[8, 8, 8], seed=i, epochs=100_000)
                  for i in range(3)]
        run = kit.create_run(http, start=False, epochs=EPOCHS, speed=SPEED, name="watched by a class")
        url = f"{srv.ws_url}/ws/runs/{run['id']}"

        async def main() -> list[Any]:
            watches = [kit.Watch() for _ in range(N_WATCHERS)]
            tasks = [asyncio.create_task(kit.watch(url, timeout=180, watch_out=w)) for w in watches]
            await _all_hello(watches, tasks)
            r = await asyncio.to_thread(http.post, f"/api/runs/{run['id']}/resume")
            assert r.status_code == 200, r.text
            return list(await asyncio.gather(*tasks))

        watches = asyncio.run(main())
        busy = [kit.wait_epoch(http, o["id"], 1, timeout=60) for o in others]
        for o in others:
            http.post(f"/api/runs/{o['id']}/stop")

    expected = list(range(0, EPOCHS + 1))
    for i, w in enumerate(watches):
        assert w.all_epochs() == expected, f"watcher {i}: gaps {w.gaps()[:5]}, last {w.all_epochs()[-3:]}"
        assert w.states[-1] == "done", f"watcher {i}: {w.states}"
        assert w.close is None or w.close[0] in (1000, 1005), w.close
        assert w.frames >= 1
    assert all(b["state"] == "running" and b["epoch"] > 0 for b in busy), "the other runs did not train"
    latencies = [x for w in watches for x in w.latencies]
    p50, p95 = kit.percentile(latencies, 50), kit.percentile(latencies, 95)
    kit.FIGURES["50 watchers + 4 runs: epoch→client latency p50/p95/max (ms)"] = (
        f"{p50 * 1e3:.1f} / {p95 * 1e3:.1f} / {max(latencies) * 1e3:.1f} over {len(latencies)} messages")
    kit.FIGURES["50 watchers: snapshots received per client (of epochs)"] = (
        f"min {min(w.frames for w in watches)} / {EPOCHS + 1}")


def test_slow_readers_cost_memory_boundedly_and_fast_ones_keep_up(make_server: Any) -> None:
    """10 clients that take one message a second (a slowness on purpose) beside 2 that read at once, on a run
    with ~100 kB frames, while the run trains ``trained`` epochs."""
    srv = make_server()
    with srv.client() as http:
        run = kit.create_run(http, start=False, dataset="digits", hidden_layers=[128, 64], speed=SPEED,
                             epochs=100_000)
        url = f"{srv.ws_url}/ws/runs/{run['id']}"
        trained = int(6 * SPEED)

        async def main() -> tuple[list[Any], list[Any], float, float, int]:
            slow = [kit.Watch() for _ in range(10)]
            fast = [kit.Watch() for _ in range(2)]
            stop = asyncio.Event()
            # read_delay: a sleep after each message is the slowness under test; what follows waits for events
            tasks = [asyncio.create_task(kit.watch(url, timeout=180, read_delay=1.0, until_terminal=False,
                                                   watch_out=w, stop=stop)) for w in slow]
            tasks += [asyncio.create_task(kit.watch(url, timeout=180, until_terminal=False, watch_out=w, stop=stop))
                      for w in fast]
            await _all_hello(slow + fast, tasks)
            rss0 = srv.rss_mb()
            r = await asyncio.to_thread(http.post, f"/api/runs/{run['id']}/resume")
            assert r.status_code == 200, r.text
            peak = rss0

            async def trained_enough() -> bool:  # the memory is sampled while the run trains
                nonlocal peak
                peak = max(peak, srv.rss_mb())
                return any(w.all_epochs()[-1:] >= [trained] for w in fast)

            await kit.wait_async(trained_enough, timeout=120, interval=0.25, what=f"{trained} epochs")
            r = await asyncio.to_thread(http.post, f"/api/runs/{run['id']}/pause")
            epochs = int(kit.strict_loads(r.text)["epoch"])

            async def caught_up() -> bool:  # the fast ones get the last epoch
                return all(w.all_epochs()[-1:] >= [epochs] for w in fast)

            await kit.wait_async(caught_up, timeout=60, what="the fast clients to get the last epoch")
            stop.set()
            await asyncio.gather(*tasks)
            return slow, fast, rss0, peak, epochs

        slow, fast, rss0, peak, epochs = asyncio.run(main())
        http.post(f"/api/runs/{run['id']}/stop")
    kit.FIGURES["10 slow + 2 fast readers: server RSS before → peak (MiB)"] = f"{rss0:.0f} → {peak:.0f}"
    kit.FIGURES["10 slow + 2 fast readers: fast clients' snapshots (of epochs)"] = (
        f"{[w.frames for w in fast]} / {epochs}")
    assert peak - rss0 <= 50, f"RSS grew by {peak - rss0:.0f} MiB"
    for w in fast:
        seq = w.all_epochs()
        assert w.gaps() == [] and seq[0] == 0 and seq[-1] >= epochs, (seq[-3:], epochs)
        assert w.frames >= 1, "a fast client gets snapshots (how many depends on the machine: bench_stream.py)"
    for w in slow:  # what each slow one took came in order, without a gap (how much: the machine's speed)
        assert w.all_epochs() and w.gaps() == [], w.gaps()[:5]


def test_runs_beyond_the_limit_queue_then_run_and_the_full_queue_answers_429(make_server: Any) -> None:
    srv = make_server(BPV_MAX_RUNNING="2", BPV_MAX_QUEUED="2")
    with srv.client() as http:
        long = [kit.create_run(http, epochs=100_000, speed=10, seed=i) for i in range(2)]
        queued = [kit.create_run(http, epochs=20, seed=10 + i, name=f"queued {i}") for i in range(2)]
        assert [r["state"] for r in long] == ["running", "running"]
        assert [r["state"] for r in queued] == ["queued", "queued"]
        refused = http.post("/api/runs", json={"epochs": 5})
        assert refused.status_code == 429, refused.text
        assert "too many" in kit.strict_loads(refused.text)["detail"]
        assert kit.strict_loads(http.get("/healthz").text)["runs_active"] == 2

        # a queued run can be paused: it leaves the queue and keeps out of the slots until resumed
        paused = kit.strict_loads(http.post(f"/api/runs/{queued[1]['id']}/pause").text)
        assert paused["state"] == "paused"
        for r in long:
            assert http.post(f"/api/runs/{r['id']}/stop").status_code == 200
        kit.wait_state(http, queued[0]["id"], {"running", "done"})
        assert kit.strict_loads(http.get(f"/api/runs/{queued[1]['id']}").text)["state"] == "paused"
        assert http.post(f"/api/runs/{queued[1]['id']}/resume").status_code == 200
        for r in queued:
            done = kit.wait_state(http, r["id"], "done", timeout=60)
            assert done["epoch"] == 20
            history = kit.strict_loads(http.get(f"/api/runs/{r['id']}/history").text)["points"]
            assert [p["epoch"] for p in history] == list(range(21))
        listed = kit.strict_loads(http.get("/api/runs", params={"limit": 50}).text)
        assert listed["total"] == 4
        assert {r["id"] for r in listed["items"]} == {r["id"] for r in long + queued}
        assert kit.strict_loads(http.post("/api/runs", json={"epochs": 5}).text)["state"] == "running"
