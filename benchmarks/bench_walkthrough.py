"""What one walkthrough, gradient check and what-if cost at the limits, against one batch step (issue 14).

A 64-180-40-10 network on the digits (19 120 weights, just under the walkthrough's MAX_WEIGHTS), batch 32,
float32, with and without L2 (L2 adds ∂C/∂W's two terms: six weight-sized arrays instead of four). Printed:
the answer's JSON size, and the time of ``walk`` (JSON text included, as the worker makes it),
``check_gradient`` of one whole layer of at most MAX_CHECK_PARAMS parameters and ``what_if`` as multiples of
one ``step_batch`` measured in the same run (the machine is shared and noisy: medians of interleaved
repetitions, CPU time with BLAS pinned to one thread).

    python benchmarks/bench_walkthrough.py
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from threadpoolctl import threadpool_limits

from backprop_core import MLP, Trainer, check_gradient, datasets, prepare, walk, what_if
from backprop_core.walkthrough import MAX_CHECK_PARAMS, MAX_WEIGHTS


def median_cpu(t: Trainer, jobs: dict[str, tuple[Callable[[Trainer], object], int]],
               rounds: int) -> dict[str, float]:
    """Median CPU seconds of each job (called ``reps`` times a round), the jobs interleaved round by round."""
    times: dict[str, list[float]] = {key: [] for key in jobs}
    for _ in range(rounds):
        for key, (job, reps) in jobs.items():
            start = time.process_time()
            for _ in range(reps):
                job(t)
            times[key].append((time.process_time() - start) / reps)
    return {key: statistics.median(v) for key, v in times.items()}


def step(t: Trainer) -> object:
    return t.step_batch(tensors=False)


def report(title: str, times: dict[str, float]) -> None:
    base = times.pop("step")
    print(f"{title}; one step_batch {base * 1e3:.2f} ms CPU")
    for key, m in times.items():
        print(f"  {key:<10} {m * 1e3:8.1f} ms = {m / base:7.1f} × one batch step")


def main() -> None:
    threadpool_limits(1)
    data = prepare(datasets.load("digits", seed=0))
    for reg in (None, "l2"):
        net = MLP([64, 180, 40, 10], "tanh", "softmax", "cross_entropy", regularization=reg,
                  regularization_rate=0.001 if reg else 0.0)
        t = Trainer(net, data, batch_size=32, learning_rate=0.1)
        weights = sum(w.size for w in net.weights)
        assert weights <= MAX_WEIGHTS
        text = json.dumps(walk(t).answer, separators=(",", ":"), allow_nan=False)
        times = median_cpu(t, {"step": (step, 50), "walk": (lambda t: json.dumps(walk(t).answer), 3),
                               "whatif": (lambda t: what_if(t, 1, 0.1, index=(0, 0)), 10)}, 5)
        report(f"64-180-40-10, {weights:,} weights, batch 32, regularization {reg}: walkthrough JSON "
               f"{len(text) / 2**20:.2f} MiB", times)
    # the gradient check's worst case: a whole layer of nearly MAX_CHECK_PARAMS parameters
    t = Trainer(MLP([64, 60, 40, 10], "tanh", "softmax", "cross_entropy"), data, batch_size=32, learning_rate=0.1)
    k = t.net.weights[0].size + t.net.biases[0].size
    assert k <= MAX_CHECK_PARAMS
    times = median_cpu(t, {"step": (step, 50), "gradcheck": (lambda t: check_gradient(t, 1), 1)}, 3)
    report(f"64-60-40-10, batch 32: gradient check of layer 1's {k:,} parameters", times)


if __name__ == "__main__":
    main()
