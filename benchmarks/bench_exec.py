"""Execution model for training runs: worker threads or worker processes?

Trains k concurrent Playground runs (circle, 2-4-2-1 tanh, batch 10, snapshots on, as the server does)
for a fixed time, once in k threads of this process and once in k processes, and prints the aggregate
epochs/s of each, as a ratio to one run alone in a thread (measured in the same run). BLAS is pinned to
one thread, as in the server. A second table does the same for a bigger net (2-64-64-64-2 ReLU/softmax,
2 000 samples, batch 32) whose matrix products release the GIL for longer.

    python benchmarks/bench_exec.py [--seconds 3] [--runs 1,2,4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import threading
import time

import numpy as np
from threadpoolctl import threadpool_limits

from backprop_core import MLP, Trainer, datasets

CASES = {
    "2-4-2-1 tanh (circle)": dict(sizes=[2, 4, 2, 1], act="tanh", out="tanh", cost="quadratic", data="circle",
                                  n=500, batch=10),
    "2-64-64-64-2 relu/softmax": dict(sizes=[2, 64, 64, 64, 2], act="relu", out="softmax",
                                      cost="cross_entropy", data="spiral", n=2000, batch=32),
}


def _trainer(case: dict, seed: int) -> Trainer:
    ds = datasets.load(case["data"], n_samples=case["n"], seed=seed)
    net = MLP(case["sizes"], case["act"], case["out"], case["cost"], init="uniform", seed=seed)
    return Trainer(net, ds, learning_rate=0.03, batch_size=case["batch"], seed=seed)


def _count(case: dict, seed: int, seconds: float, start: float) -> int:
    with threadpool_limits(1):
        t = _trainer(case, seed)
        while time.monotonic() < start:
            time.sleep(0.001)
        n = 0
        while time.monotonic() < start + seconds:
            t.step_epoch()
            n += 1
        return n


def _proc(case: dict, seed: int, seconds: float, start: float, q: mp.Queue) -> None:
    q.put(_count(case, seed, seconds, start))


def threads(case: dict, k: int, seconds: float) -> float:
    out = [0] * k
    start = time.monotonic() + 0.5

    def work(i: int) -> None:
        out[i] = _count(case, i, seconds, start)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(out) / seconds


def processes(case: dict, k: int, seconds: float) -> float:
    ctx = mp.get_context("fork")
    q: mp.Queue = ctx.Queue()
    start = time.monotonic() + 1.0
    ps = [ctx.Process(target=_proc, args=(case, i, seconds, start, q)) for i in range(k)]
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    return total / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", default="1,2,4")
    a = ap.parse_args()
    ks = [int(k) for k in a.runs.split(",")]
    np.seterr(all="ignore")
    for name, case in CASES.items():
        base = threads(case, 1, a.seconds)
        print(f"\n{name}: one run alone in a thread = {base:.0f} epochs/s (baseline 1.00)")
        print(f"{'runs':>5} {'threads ep/s':>13} {'ratio':>6} {'processes ep/s':>15} {'ratio':>6}")
        for k in ks:
            th, pr = threads(case, k, a.seconds), processes(case, k, a.seconds)
            print(f"{k:>5} {th:>13.0f} {th / base:>6.2f} {pr:>15.0f} {pr / base:>6.2f}")


if __name__ == "__main__":
    main()
