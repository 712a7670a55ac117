"""What the walkthrough's numbers should be, recomputed in float64 from what the server stores of a paused run
(its weights from GET …/export, its data from GET …/data) and the batch and probe the page names — with the
core tests' own by-hand arithmetic (``tests/core/test_walkthrough.by_hand``), which shares no code with the
network. And the numbers the page shows, read back from their data- attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backprop_core import MLP
from backprop_core.activations import ACTIVATIONS
from tests.core.test_walkthrough import by_hand, sigma_prime
from tests.support import Server

F64 = np.float64
RTOL, ATOL = 2e-4, 2e-6  # the page shows the run's float32 numbers; these are float64

SHOWN = """sel => Array.from(document.querySelectorAll(sel + ' [data-q]'), el => ({
  q: el.dataset.q, l: el.dataset.l === undefined ? null : Number(el.dataset.l),
  j: el.dataset.j === undefined ? null : Number(el.dataset.j),
  k: el.dataset.k === undefined ? null : Number(el.dataset.k),
  value: el.dataset.value === 'null' ? null : Number(el.dataset.value), text: el.textContent }))"""


def shown(page: Any, selector: str) -> list[dict[str, Any]]:
    """Every number shown under ``selector``: {q, l, j, k, value (exact), text (as shown)}."""
    out: list[dict[str, Any]] = page.evaluate(SHOWN, selector)
    return out


def as_shown_text(value: float) -> float:
    """The shown text of a number, read back ("−0.6966" → -0.6966)."""
    return float(str(value).replace("\u2212", "-"))


def check_text(n: dict[str, Any]) -> None:
    """The text shown is the exact value to 4 significant digits."""
    if n["value"] is None:
        assert n["text"] == "–", n
        return
    assert abs(as_shown_text(n["text"]) - n["value"]) <= 5e-4 * abs(n["value"]), n


@dataclass
class Run:
    """A paused run as the server stores it, in float64: its network, inputs X and targets Y."""

    sizes: list[int]
    acts: list[str]
    cost: str
    reg: str | None
    lam: float
    eta: float
    Ws: list[np.ndarray]
    bs: list[np.ndarray]
    X: np.ndarray
    Y: np.ndarray

    def net64(self) -> MLP:
        net = MLP(self.sizes, self.acts[:-1], self.acts[-1], self.cost, dtype=F64, regularization=self.reg,
                  regularization_rate=self.lam)
        net.weights = [W.copy() for W in self.Ws]
        net.biases = [b.copy() for b in self.bs]
        return net


def stored_run(server: Server, run_id: str) -> Run:
    run = server.get(f"/api/runs/{run_id}")
    export = server.get(f"/api/runs/{run_id}/export")
    data = server.get(f"/api/runs/{run_id}/data")
    cfg = run["config"]
    assert cfg["features"] == ["x1", "x2"] or data["feature_names"] == data["column_names"], "raw columns only"
    # a⁰ = (x − μ) / s, computed as the server does and held in float32 as the run trains
    X = ((np.asarray(data["train"]["X"], F64) - np.asarray(data["mean"])) / np.asarray(data["scale"]))
    X = X.astype(np.float32).astype(F64)
    y = np.asarray(data["train"]["y"])
    low, high = ACTIVATIONS[run["activations"][-1]].targets
    n_out = run["layer_sizes"][-1]
    if n_out == 1:
        Y = np.where(y == 1, high, low).reshape(-1, 1).astype(F64)
    else:
        Y = np.full((y.size, n_out), low, F64)
        Y[np.arange(y.size), y.astype(int)] = high
    return Run(run["layer_sizes"], run["activations"], cfg["cost"], cfg["regularization"],
               cfg["regularization_rate"], cfg["learning_rate"], [np.asarray(w, F64) for w in export["weights"]],
               [np.asarray(b, F64) for b in export["biases"]], X, Y)


def expected_walk(r: Run, batch: list[int], probe: int) -> dict[tuple[str, int | None], np.ndarray | float]:
    """Every quantity of the walkthrough, keyed by (data-q, layer): vectors by neuron k, matrices [j, k]."""
    idx = np.asarray(batch)
    b = by_hand(r.acts, r.cost, r.Ws, r.bs, r.X[idx], r.Y[idx], r.reg, r.lam)
    p = by_hand(r.acts, r.cost, r.Ws, r.bs, r.X[probe:probe + 1], r.Y[probe:probe + 1], None, 0.0)
    W_after = [W - r.eta * dW for W, dW in zip(r.Ws, b["dW"], strict=True)]
    b_after = [bb - r.eta * db for bb, db in zip(r.bs, b["db"], strict=True)]
    after = by_hand(r.acts, r.cost, W_after, b_after, r.X[idx], r.Y[idx], r.reg, r.lam)
    L = len(r.Ws)
    out: dict[tuple[str, int | None], Any] = {
        ("a", 0): r.X[probe], ("cost_probe", None): p["C"], ("cost_before", None): b["C"],
        ("cost_after", None): after["C"], ("penalty_before", None): b["penalty"],
        ("penalty_after", None): after["penalty"], ("eta", None): r.eta, ("y", L): r.Y[probe],
    }
    for l in range(1, L + 1):
        a_prev = r.X[probe] if l == 1 else p["a"][l - 2][0]
        delta = p["delta"][l - 1][0]
        out |= {("z", l): p["z"][l - 1][0], ("a", l): p["a"][l - 1][0], ("delta", l): delta,
                ("sp", l): sigma_prime(r.acts[l - 1], p["z"][l - 1][0]) if r.acts[l - 1] != "softmax" else None,
                ("W", l): r.Ws[l - 1], ("b", l): r.bs[l - 1], ("dWp", l): np.outer(a_prev, delta), ("dbp", l): delta,
                ("dW", l): b["dW"][l - 1], ("db", l): b["db"][l - 1], ("dWdata", l): b["dW_data"][l - 1],
                ("dWpen", l): b["dW_penalty"][l - 1], ("Wafter", l): W_after[l - 1], ("bafter", l): b_after[l - 1]}
    return out


def want(expected: dict[tuple[str, int | None], Any], n: dict[str, Any]) -> float:
    """The expected value of one shown number."""
    v = expected[(n["q"], n["l"])]
    if n["j"] is not None:
        return float(v[n["j"], n["k"]])
    if n["k"] is not None:
        return float(v[n["k"]])
    return float(v)


def batch_cost(r: Run, batch: list[int], layer: int, index: tuple[int, int] | None = None, bias: int | None = None,
               delta: float = 0.0) -> float:
    """C of the batch (penalty included), in float64, with one parameter moved by ``delta``."""
    Ws = [W.copy() for W in r.Ws]
    bs = [b.copy() for b in r.bs]
    if index is not None:
        Ws[layer - 1][index] += delta
    if bias is not None:
        bs[layer - 1][bias] += delta
    idx = np.asarray(batch)
    return float(by_hand(r.acts, r.cost, Ws, bs, r.X[idx], r.Y[idx], r.reg, r.lam)["C"])
