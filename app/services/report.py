"""A run's report: one self-contained HTML file of Plotly figures (plotly's Python API; Plotly.js embedded,
nothing fetched) — cost and accuracy curves, per-layer ‖δˡ‖ and ‖∂C/∂Wˡ‖, each layer's final Wˡ and ∂C/∂Wˡ,
the decision map (2-D inputs) or the confusion matrix, the config and the equations.

The route reads the run through the read service (``RunReader``) like every other read and builds the page
off the event loop.
Long histories are thinned to at most ``MAX_POINTS`` epochs per curve (each bucket keeps its lowest and highest
training cost, so spikes survive), big matrices to ``MAX_SIDE`` rows and columns.

Every string that comes from a user (run name, dataset, feature and class names) is escaped; the figures travel
as a JSON data block (never executed) and the page's two scripts are allowed by their hashes in the report's
own Content-Security-Policy, so an injected tag can neither render nor run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backprop_core import activations, costs, vocabulary
from backprop_core.datasets import Dataset

from ..paths import PLOTLY_JS
from ..worker import frames

MAX_POINTS = 2000  # epochs per curve at most
MAX_SIDE = 256  # rows / columns of a heatmap at most
# Playground's diverging scale: orange (−) → light grey (0) → blue (+)
DIVERGING: list[list[object]] = [[0.0, "#f59322"], [0.5, "#e8eaeb"], [1.0, "#0877bd"]]
def equations(cost_name: str) -> str:
    """The equations as the page states them (the core's vocabulary), with this run's cost and its δᴸ."""
    cost = costs.get(cost_name)
    return "\n".join([*vocabulary.EQUATIONS.values(), f"{cost.label}: {cost.formula},  {cost.delta_text}", "",
                      f"Shapes: {vocabulary.CONVENTION}.", f"The text's notation: {vocabulary.SEED_CONVENTION}."])


@dataclass(frozen=True)
class Report:
    html: str
    csp: str  # the Content-Security-Policy that lets exactly this page's scripts run


def build_report(out: dict[str, Any], meta: dict[str, Any], points: list[dict[str, Any]], frame: bytes | None,
                 dataset: Dataset) -> Report:
    """The report of a run: ``RunOut``, its meta, its history, its newest frame, its dataset."""
    header, tensors = frames.decode(frame) if frame else ({}, {})
    n_layers = len(meta["layer_sizes"]) - 1
    figures: list[tuple[str, go.Figure]] = []
    if points:
        rows = thin(points)
        figures.append(("Cost", _curves(rows, {"train cost": "train_cost", "test cost": "test_cost"}, "cost")))
        if out["task"] == "classification":
            figures.append(("Accuracy", _curves(rows, {"train accuracy": "train_accuracy",
                                                       "test accuracy": "accuracy"}, "accuracy")))
        figures.append(("Per-layer norms", _norms(rows, n_layers)))
    if tensors:
        epoch = header.get("epoch")
        for l in range(1, n_layers + 1):
            figures.append((f"Layer {l}: W{_sup(l)} and ∂C/∂W{_sup(l)} at epoch {epoch}", _layer(tensors, l)))
        second = _decision_map(tensors, meta, dataset) or _outcome(tensors, out, dataset)
        if second is not None:
            figures.append(second)
    return _page(out, points, figures)


# -- figures -------------------------------------------------------------------------------------------------

def thin(points: list[dict[str, Any]], limit: int = MAX_POINTS) -> list[dict[str, Any]]:
    """At most ``limit`` points: the first, the last, and per bucket the lowest and highest training cost."""
    n = len(points)
    if n <= limit:
        return points
    cost = np.array([np.nan if p["train_cost"] is None else p["train_cost"] for p in points], dtype=np.float64)
    keep = {0, n - 1}
    for chunk in np.array_split(np.arange(n), max(1, (limit - 2) // 2)):
        values = cost[chunk]
        if np.isnan(values).all():
            keep.add(int(chunk[0]))
            continue
        keep.add(int(chunk[np.nanargmin(values)]))
        keep.add(int(chunk[np.nanargmax(values)]))
    return [points[i] for i in sorted(keep)]


def _column(rows: list[dict[str, Any]], key: str, index: int | None = None) -> np.ndarray:
    values = [r[key] if index is None else r[key][index] for r in rows]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _curves(rows: list[dict[str, Any]], series: dict[str, str], y_title: str) -> go.Figure:
    epochs = np.array([r["epoch"] for r in rows])
    fig = go.Figure([go.Scatter(x=epochs, y=_column(rows, key), name=label, mode="lines")
                     for label, key in series.items()])
    return fig.update_layout(xaxis_title="epoch", yaxis_title=y_title, height=340)


def _norms(rows: list[dict[str, Any]], n_layers: int) -> go.Figure:
    epochs = np.array([r["epoch"] for r in rows])
    fig = make_subplots(rows=1, cols=2, subplot_titles=("‖δˡ‖ (error of each layer)", "‖∂C/∂Wˡ‖"))
    for l in range(1, n_layers + 1):
        fig.add_trace(go.Scatter(x=epochs, y=_column(rows, "delta_norms", l - 1), name=f"‖δ{_sup(l)}‖",
                                 mode="lines", legendgroup="delta"), 1, 1)
        fig.add_trace(go.Scatter(x=epochs, y=_column(rows, "grad_norms", l - 1), name=f"‖∂C/∂W{_sup(l)}‖",
                                 mode="lines", legendgroup="grad"), 1, 2)
    fig.update_yaxes(type="log")
    return fig.update_layout(height=360).update_xaxes(title_text="epoch")


def _shrink(a: np.ndarray) -> np.ndarray:
    """Every k-th row and column so that neither side exceeds MAX_SIDE."""
    rs, cs = -(-a.shape[0] // MAX_SIDE), -(-a.shape[1] // MAX_SIDE)
    return a[::rs, ::cs]


def _layer(tensors: dict[str, np.ndarray], l: int) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"W{_sup(l)}", f"∂C/∂W{_sup(l)}"), horizontal_spacing=0.12)
    for col, name in ((1, f"W{l}"), (2, f"dW{l}")):
        a = _shrink(np.asarray(tensors[name]))
        bound = float(np.abs(a).max()) or 1.0
        fig.add_trace(go.Heatmap(z=a, zmin=-bound, zmax=bound, colorscale=DIVERGING,
                                 colorbar={"x": 0.44 if col == 1 else 1.0, "len": 0.9},
                                 hovertemplate="from %{y} to %{x}: %{z:.4g}<extra></extra>"), 1, col)
    fig.update_xaxes(title_text=f"neuron of layer {l}", tickformat="d")
    fig.update_yaxes(title_text=f"neuron of layer {l - 1}", autorange="reversed", tickformat="d")
    return fig.update_layout(height=380)


def _predicted_classes(outputs: np.ndarray, output_activation: str) -> np.ndarray:
    """Class indices from output activations, as the core scores accuracy: argmax, or for one output neuron
    the midpoint of its two targets."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > activations.get(output_activation, output=True).threshold).astype(np.int64)
    return np.asarray(outputs.argmax(axis=1), dtype=np.int64)


def _decision_map(tensors: dict[str, np.ndarray], meta: dict[str, Any],
                  dataset: Dataset) -> tuple[str, go.Figure] | None:
    n_layers = len(meta["layer_sizes"]) - 1
    grid, spec = tensors.get(f"grid{n_layers}"), meta.get("grid")
    if grid is None or not spec:
        return None
    x1min, x1max, x2min, x2max = spec["extent"]
    size = grid.shape[-1]
    xs, ys = np.linspace(x1min, x1max, size), np.linspace(x2max, x2min, size)  # row 0 is the top (largest x₂)
    out_act = meta["activations"][-1]
    scale: str | list[list[object]]
    if dataset.task == "classification" and grid.shape[0] > 1:
        z, scale, title = np.argmax(grid, axis=0), "Viridis", "predicted class"
        zmin, zmax = 0.0, float(grid.shape[0] - 1)
    else:
        z, scale, title = grid[0], DIVERGING, "output aᴸ"
        mid = activations.get(out_act, output=True).threshold if dataset.task == "classification" else 0.0
        half = float(np.abs(z - mid).max()) or 1.0
        zmin, zmax = mid - half, mid + half
    fig = go.Figure(go.Heatmap(x=xs, y=ys, z=z, colorscale=scale, zmin=zmin, zmax=zmax, opacity=0.75,
                               colorbar={"title": {"text": title}}, name="output"))
    X, y = dataset.raw.X_test, dataset.y_test  # the raw points: the grid lies in the raw data's plane
    if dataset.task == "classification":
        colors = ["#f59322", "#0877bd"] if dataset.n_classes == 2 else None  # Playground's −/+ for two classes
        for k, name in enumerate(dataset.class_names):
            sel = y == k
            marker = {"size": 6, "line": {"width": 1, "color": "white"}} | ({"color": colors[k]} if colors else {})
            fig.add_trace(go.Scatter(x=X[sel, 0], y=X[sel, 1], mode="markers", name=f"test: {html.escape(name)}",
                                     marker=marker))
    else:
        fig.add_trace(go.Scatter(x=X[:, 0], y=X[:, 1], mode="markers", name="test points",
                                 marker={"size": 5, "color": "black"}))
    names = [html.escape(n) for n in dataset.raw.feature_names]  # the plane's axes: the raw x₁, x₂, not the inputs
    fig.update_layout(height=560, width=640, xaxis_title=names[0], yaxis_title=names[1],
                      yaxis={"scaleanchor": "x"}, legend={"orientation": "h", "y": -0.15})
    return "Decision map (the output over the input plane, test points on top)", fig


def _outcome(tensors: dict[str, np.ndarray], out: dict[str, Any],
             dataset: Dataset) -> tuple[str, go.Figure] | None:
    """The confusion matrix of the test examples streamed (``test_outputs``), or predicted vs true values."""
    outputs = tensors.get("test_outputs")
    if outputs is None or len(outputs) == 0:
        return None
    m = len(outputs)
    truth = dataset.y_test[:m]
    if dataset.task == "regression":
        fig = go.Figure(go.Scatter(x=truth, y=outputs[:, 0], mode="markers", marker={"size": 5}))
        fig.update_layout(height=420, xaxis_title="target", yaxis_title="prediction")
        return f"Predictions of the first {m} test examples", fig
    predicted = _predicted_classes(np.asarray(outputs), out["activations"][-1])
    k = dataset.n_classes
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (truth.astype(np.int64), predicted), 1)
    names = [html.escape(n) for n in dataset.class_names]
    fig = go.Figure(go.Heatmap(z=counts, x=names, y=names, colorscale="Blues", texttemplate="%{z}",
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(height=max(360, 40 * k + 140), width=max(420, 40 * k + 200), xaxis_title="predicted",
                      yaxis_title="true", yaxis={"autorange": "reversed"}, xaxis={"type": "category"})
    fig.update_yaxes(type="category")
    accuracy = float(np.trace(counts)) / m
    return f"Confusion matrix of the first {m} test examples (accuracy {accuracy:.3f})", fig


def _sup(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


# -- the page ------------------------------------------------------------------------------------------------

INIT_JS = """(function () {
  var figures = JSON.parse(document.getElementById("figures").textContent);
  figures.forEach(function (f, i) {
    Plotly.newPlot("figure-" + i, f.data, f.layout, {responsive: true, displaylogo: false});
  });
  document.body.setAttribute("data-figures", String(figures.length));
})();"""
CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#222}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin:28px 0 6px}.muted{color:#666}
table{border-collapse:collapse}td{padding:2px 12px 2px 0;vertical-align:top}td:first-child{color:#666}
pre{background:#f5f6f7;padding:12px;overflow:auto;font-size:13px}"""


@functools.cache
def _plotly() -> tuple[str, str]:
    """plotly.min.js (from the plotly package) and its CSP hash, read once."""
    text = PLOTLY_JS.read_text(encoding="utf-8")
    return text, _csp_hash(text)


def _csp_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def _page(out: dict[str, Any], points: list[dict[str, Any]], figures: list[tuple[str, go.Figure]]) -> Report:
    e = html.escape
    last = points[-1] if points else None
    title = f"Run {out['id']}" + (f" — {out['name']}" if out["name"] else "")
    summary = [("state", out["state"] + (f": {out['reason']}" if out["reason"] else "")),
               ("epochs", str(out["epoch"])),
               ("network", "-".join(map(str, out["layer_sizes"])) + f" ({', '.join(out['activations'])})"),
               ("created", out["created_at"])]
    if last is not None:
        for key, label in (("train_cost", "train cost"), ("test_cost", "test cost"),
                           ("train_accuracy", "train accuracy"), ("accuracy", "test accuracy")):
            if last[key] is not None:
                summary.append((label, f"{last[key]:.4g}"))
    config_rows = "".join(f"<tr><td>{e(str(k))}</td><td>{e(json.dumps(v))}</td></tr>" for k, v in out["config"].items())
    summary_rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in summary)
    sections = "".join(f'<h2>{e(name)}</h2><div id="figure-{i}" class="figure"></div>'
                       for i, (name, _) in enumerate(figures))
    data = "[" + ",".join(fig.to_json(validate=False) for _, fig in figures) + "]"
    data = data.replace("</", "<\\/")  # a JSON escape: no "</script>" can end the block early
    plotly_js, plotly_hash = _plotly()
    # in the file too (a <meta> policy), so that it holds wherever the file is opened; a <meta> policy cannot
    # say frame-ancestors (Chromium warns), the response header adds it
    csp = (f"default-src 'none'; script-src {plotly_hash} {_csp_hash(INIT_JS)}; style-src 'unsafe-inline'; "
           "img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)} · backprop-viz report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{e(csp)}">
<link rel="icon" href="data:,"><style>{CSS}</style></head>
<body><h1 id="title">{e(title)}</h1>
<div class="muted">backprop-viz report · dataset {e(str(out['config'].get('dataset')))} · {out['task']}</div>
<table id="summary">{summary_rows}</table>
{sections or '<p>No epoch has been trained yet.</p>'}
<h2>Config</h2><table id="config">{config_rows}</table>
<h2>Equations</h2><pre id="equations">{e(equations(str(out['config'].get('cost') or 'quadratic')))}</pre>
<script type="application/json" id="figures">{data}</script>
<script>{plotly_js}</script>
<script>{INIT_JS}</script>
</body></html>
"""
    return Report(page, csp + "; frame-ancestors 'none'")
