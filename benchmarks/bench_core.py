"""Epochs per second of backprop_core's Trainer against a minimal hand-written NumPy loop (issue 2).

Three networks, each in float32 and float64:

    (a) 2-8-8-1       tanh / tanh output, quadratic cost          500 training examples, batch 10
    (b) 2-64-64-64-2  ReLU / softmax output, cross-entropy      2 000 training examples, batch 32
    (c) 784-128-64-10 sigmoid / softmax output, cross-entropy  10 000 training examples, batch 64

The data is random (normal inputs, random labels) with a test set of a fifth of the training size. One
epoch is the same work in all three variants: shuffle the training set, one forward/backward/update per
mini-batch, then the training and test cost (and accuracy) at the end of the epoch.

- ``minimal``: the hand-written loop below (``Minimal.epoch``), the yardstick;
- ``off``: ``Trainer(..., snapshots=False)``;
- ``metrics``: ``step_epoch(tensors=False)`` — what the server computes every epoch: ``off`` plus the
  full-set gradient (≤ 1 024 examples) for the per-layer norms ‖δˡ‖ and ‖∂C/∂Wˡ‖;
- ``on``: ``Trainer(..., snapshots=True)`` — a snapshot with every tensor every epoch (the probe's zˡ, aˡ,
  δˡ, the per-neuron grids for 2-D inputs and read-only copies of every tensor); the server builds those
  only when a watcher or storage will read them.

Targets: off/minimal ≥ 1.0, on/off ≥ 0.75. The machine is shared and noisy, so the three variants are
interleaved (the order rotates every repetition), each repetition runs enough epochs to take about
``--rep-seconds``, and the table shows medians. With BLAS pinned to 1 thread (threadpoolctl) the time is
this process's CPU time, which other processes on the machine barely disturb; with 2 threads, wall-clock
time.

    python benchmarks/bench_core.py            # ~2 minutes on an idle 2-core machine
    python benchmarks/bench_core.py --quick    # ~40 seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from backprop_core import MLP, Trainer
from backprop_core.datasets import Dataset

Array = np.ndarray


@dataclass(frozen=True)
class Case:
    key: str
    sizes: tuple[int, ...]
    activation: str
    output: str
    cost: str
    n_train: int
    batch: int

    @property
    def label(self) -> str:
        return f"({self.key}) {'-'.join(map(str, self.sizes))} {self.activation}/{self.output}"


CASES = (
    Case("a", (2, 8, 8, 1), "tanh", "tanh", "quadratic", 500, 10),
    Case("b", (2, 64, 64, 64, 2), "relu", "softmax", "cross_entropy", 2000, 32),
    Case("c", (784, 128, 64, 10), "sigmoid", "softmax", "cross_entropy", 10_000, 64),
)
LEARNING_RATE = 0.01


def make_dataset(case: Case, seed: int = 0) -> Dataset:
    """Random inputs N(0, 1) and random labels; n_train training and n_train / 5 test examples."""
    rng = np.random.default_rng(seed)
    n_test = case.n_train // 5
    n, d = case.n_train + n_test, case.sizes[0]
    k = max(case.sizes[-1], 2)
    X, y = rng.normal(size=(n, d)), rng.integers(0, k, n)
    return Dataset("bench", "classification", X[: case.n_train], y[: case.n_train], X[case.n_train:],
                   y[case.n_train:], k, tuple(f"x{i}" for i in range(d)), tuple(str(i) for i in range(k)))


# -- the minimal loop: the same epoch, written out by hand -------------------------------------------------

def _sigmoid(z: Array) -> Array:
    out: Array = 1.0 / (1.0 + np.exp(-z))
    return out


def _softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: Array = e / e.sum(axis=1, keepdims=True)
    return out


# σ and σ' written in terms of a = σ(z) (for ReLU, z > 0 ⇔ a > 0).
HIDDEN: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "tanh": (np.tanh, lambda a: 1 - a * a),
    "sigmoid": (_sigmoid, lambda a: a * (1 - a)),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(a.dtype)),
}


class Minimal:
    """A plain NumPy MLP trainer for one Case: what someone would write without a library."""

    def __init__(self, case: Case, data: Dataset, dtype: type, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.case, self.rng = case, np.random.default_rng([seed, 1])
        self.f, self.fprime = HIDDEN[case.activation]
        self.X, self.X_test = data.X_train.astype(dtype), data.X_test.astype(dtype)
        self.Y, self.Y_test = (self._targets(y, dtype) for y in (data.y_train, data.y_test))
        pairs = zip(case.sizes, case.sizes[1:], strict=False)
        self.W = [rng.uniform(-0.5, 0.5, (a, b)).astype(dtype) for a, b in pairs]
        self.b = [np.zeros(b, dtype) for b in case.sizes[1:]]

    def _targets(self, y: Array, dtype: type) -> Array:
        k = self.case.sizes[-1]
        if k == 1:
            return np.where(y == 1, 1.0, -1.0).reshape(-1, 1).astype(dtype)
        Y = np.zeros((y.size, k), dtype)
        Y[np.arange(y.size), y] = 1
        return Y

    def _forward(self, X: Array) -> list[Array]:
        acts = [X]
        for i, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            z = acts[-1] @ W + b
            last = i == len(self.W) - 1
            acts.append((np.tanh(z) if self.case.output == "tanh" else _softmax(z)) if last else self.f(z))
        return acts

    def _cost(self, X: Array, Y: Array) -> tuple[float, float]:
        a = self._forward(X)[-1]
        if self.case.cost == "quadratic":
            cost = 0.5 * float(np.sum((a - Y) ** 2)) / len(X)
            acc = float(np.mean((a[:, 0] > 0) == (Y[:, 0] > 0)))
        else:
            cost = -float(np.sum(Y * np.log(np.clip(a, 1e-12, None)))) / len(X)
            acc = float(np.mean(a.argmax(1) == Y.argmax(1)))
        return cost, acc

    def epoch(self) -> tuple[float, float]:
        perm = self.rng.permutation(len(self.X))
        X, Y = self.X[perm], self.Y[perm]
        bs, lr = self.case.batch, LEARNING_RATE
        for s in range(0, len(X), bs):
            acts = self._forward(X[s:s + bs])
            a = acts[-1]
            delta = (a - Y[s:s + bs]) * (1 - a * a) if self.case.cost == "quadratic" else a - Y[s:s + bs]
            m = len(a)
            for i in range(len(self.W) - 1, -1, -1):
                gw, gb = acts[i].T @ delta / m, delta.sum(axis=0) / m
                if i:
                    delta = (delta @ self.W[i].T) * self.fprime(acts[i])
                self.W[i] -= lr * gw
                self.b[i] -= lr * gb
        self._cost(X, Y)
        return self._cost(self.X_test, self.Y_test)


class Core:
    """backprop_core's Trainer: snapshots off, metrics only (the server's every epoch), or full snapshots."""

    def __init__(self, case: Case, data: Dataset, dtype: type, mode: str) -> None:
        net = MLP(list(case.sizes), case.activation, case.output, case.cost, init="uniform", seed=0,
                  dtype=dtype)
        self.trainer = Trainer(net, data, learning_rate=LEARNING_RATE, batch_size=case.batch,
                               snapshots=mode != "off", seed=0)
        self.tensors = mode == "on"

    def epoch(self) -> None:
        self.trainer.step_epoch(tensors=self.tensors)


def measure(case: Case, dtype: type, reps: int, rep_seconds: float, clock: Callable[[], float]
            ) -> dict[str, float]:
    """Median epochs/s of minimal, off and on, interleaved, timed with ``clock``."""
    data = make_dataset(case)
    runners: dict[str, Minimal | Core] = {
        "minimal": Minimal(case, data, dtype),
        "off": Core(case, data, dtype, "off"),
        "metrics": Core(case, data, dtype, "metrics"),
        "on": Core(case, data, dtype, "on"),
    }
    epochs: dict[str, int] = {}
    for name, r in runners.items():  # warm up, then size each repetition to ~rep_seconds
        r.epoch()
        t = clock()
        r.epoch()
        epochs[name] = max(1, round(rep_seconds / max(clock() - t, 1e-6)))
    rates: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            r, k = runners[name], epochs[name]
            t = clock()
            for _ in range(k):
                r.epoch()
            rates[name].append(k / max(clock() - t, 1e-9))
    return {name: statistics.median(v) for name, v in rates.items()}


CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer and shorter repetitions (~40 s)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per variant (default 9, quick 3)")
    parser.add_argument("--rep-seconds", type=float, default=None,
                        help="target length of one repetition (default 0.15 s, quick 0.1 s)")
    parser.add_argument("--threads", default="1,2", help="BLAS thread counts to try, e.g. 1 or 1,2")
    parser.add_argument("--cases", default="abc", help="which cases to run, e.g. ac")
    parser.add_argument("--clock", choices=["auto", "cpu", "wall"], default="auto",
                        help="auto: CPU time of this process with 1 BLAS thread (robust to other load on a "
                             "shared machine), wall-clock time with more (CPU time cannot show their speed-up)")
    parser.add_argument("--budget", type=float, default=150.0,
                        help="seconds (wall) after which the remaining measurements are skipped")
    args = parser.parse_args(argv)
    reps = args.reps or (3 if args.quick else 9)
    rep_seconds = args.rep_seconds or (0.1 if args.quick else 0.15)
    threads = [int(t) for t in args.threads.split(",")]
    print(f"numpy {np.__version__}; epochs/s, median of {reps} interleaved repetitions of ~{rep_seconds:g} s")
    header = (f"{'case':<36} {'dtype':<8} {'BLAS':>4} {'clock':>5} {'minimal':>9} {'core off':>9} "
              f"{'metrics':>9} {'core on':>9} {'off/min':>8} {'met/off':>8} {'on/off':>7}")
    print(header)
    print("-" * len(header))
    misses = []
    started = time.perf_counter()
    skipped = []
    for n_threads in threads:
        clock_name = args.clock if args.clock != "auto" else "cpu" if n_threads == 1 else "wall"
        with threadpool_limits(limits=n_threads):
            for case in CASES:
                if case.key not in args.cases:
                    continue
                for dtype in (np.float32, np.float64):
                    if time.perf_counter() - started > args.budget:
                        skipped.append(f"{case.key} {np.dtype(dtype).name} {n_threads} thr")
                        continue
                    m = measure(case, dtype, reps, rep_seconds, CLOCKS[clock_name])
                    off_min, on_off = m["off"] / m["minimal"], m["on"] / m["off"]
                    flags = ("" if off_min >= 1.0 else " <off") + ("" if on_off >= 0.75 else " <on")
                    name = np.dtype(dtype).name
                    if flags:
                        misses.append(f"{case.key} {name} {n_threads} thr:{flags}")
                    print(f"{case.label:<36} {name:<8} {n_threads:>4} {clock_name:>5} {m['minimal']:>9.1f} "
                          f"{m['off']:>9.1f} {m['metrics']:>9.1f} {m['on']:>9.1f} {off_min:>8.2f} "
                          f"{m['metrics'] / m['off']:>8.2f} {on_off:>7.2f}{flags}", flush=True)
    print(f"\ntargets: off/min ≥ 1.0, on/off ≥ 0.75 (met/off: information); load average "
          f"{os.getloadavg()[0]:.1f}; took {time.perf_counter() - started:.0f} s")
    if skipped:
        print(f"skipped (over the {args.budget:g} s budget): " + "; ".join(skipped))
    print("all targets met" if not misses else "missed: " + "; ".join(misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
