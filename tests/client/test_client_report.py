"""The run report (``GET /api/runs/{id}/report.html``, app/services/report.py) against a real server, opened in
real Chromium: its figures are drawn, nothing is fetched, nothing logs an error, a hostile run name is text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.services.report import MAX_POINTS, thin
from backprop_viz import Client
from tests.e2e.e2e_helpers import SCREENSHOTS, record
from tests.support import Server

HOSTILE = "<img src=x onerror=alert(1)> & </script>"


def _open(browser: Any, url: str, local: tuple[str, ...]) -> tuple[Any, Any]:
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    watch = record(page, local)
    page.goto(url)
    page.wait_for_selector("body[data-figures]", timeout=60_000)
    return page, watch


def _figures(page: Any) -> list[dict[str, Any]]:
    """Each figure div: its heading, whether Plotly drew it, its traces' types."""
    return page.evaluate("""() => [...document.querySelectorAll('.figure')].map(d => ({
        title: d.previousElementSibling.textContent,
        drawn: d.classList.contains('js-plotly-plot') && !!d.querySelector('svg.main-svg'),
        types: (d.data || []).map(t => t.type)}))""")


def test_report_of_a_2d_run_in_chromium(client: Client, server: Server, browser: Any, tmp_path: Path) -> None:
    run = client.start(dataset="spiral", hidden_layers=[6, 4], epochs=40, name=HOSTILE)
    list(run.watch())
    response = httpx.get(f"{server.url}/api/runs/{run.id}/report.html", timeout=60)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; script-src 'sha256-") and "'unsafe-inline'" not in csp.split(";")[1]
    assert "<img src=x" not in response.text and "&lt;img src=x onerror=alert(1)&gt;" in response.text

    page, watch = _open(browser, f"{server.url}/api/runs/{run.id}/report.html", ("http://127.0.0.1:",))
    figures = _figures(page)
    titles = [f["title"] for f in figures]
    assert titles[:3] == ["Cost", "Accuracy", "Per-layer norms"]
    assert [t for t in titles if t.startswith("Layer ")] == [f"Layer {l}: W{s} and ∂C/∂W{s} at epoch 40"
                                                             for l, s in ((1, "¹"), (2, "²"), (3, "³"))]
    assert titles[-1].startswith("Decision map") and "heatmap" in figures[-1]["types"]
    assert all(f["drawn"] for f in figures), figures
    assert page.evaluate("document.body.dataset.figures") == str(len(figures)) == "7"
    assert page.locator("#title").inner_text() == f"Run {run.id} — {HOSTILE}"
    assert page.evaluate("document.querySelectorAll('img').length") == 0 and watch.dialogs == []
    assert "spiral" in page.locator("#config").inner_text()
    assert "δᴸ = (aᴸ − y)" in page.locator("#equations").inner_text()
    assert watch.requests == [f"{server.url}/api/runs/{run.id}/report.html"]  # nothing else, from anywhere
    assert watch.foreign_requests == [] and watch.errors() == [], (watch.foreign_requests, watch.errors())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "11-run-report.png"), full_page=True)

    saved = tmp_path / "report.html"  # the same file opened from disk: self-contained
    saved.write_text(run.report(), encoding="utf-8")
    page, watch = _open(browser, saved.as_uri(), ("file://",))
    assert len(_figures(page)) == 7 and watch.requests == [saved.as_uri()] and watch.errors() == []


def test_report_of_digits_has_a_confusion_matrix(client: Client, server: Server, browser: Any) -> None:
    run = client.start(dataset="digits", hidden_layers=[12], epochs=5)
    list(run.watch())
    page, watch = _open(browser, f"{server.url}/api/runs/{run.id}/report.html", ("http://127.0.0.1:",))
    figures = _figures(page)
    last = figures[-1]
    assert last["title"].startswith("Confusion matrix of the first ") and last["types"] == ["heatmap"]
    z = np.array(page.evaluate("() => { const d = [...document.querySelectorAll('.figure')].pop();"
                               " return Array.from(d._fullData[0].z, row => Array.from(row)); }"))
    m = int(re.search(r"first (\d+) test", last["title"]).group(1))  # type: ignore[union-attr]
    data = run.data()
    assert z.shape == (10, 10) and z.sum() == m == min(len(data["test"]["y"]), 1000)
    accuracy = float(re.search(r"accuracy (\d\.\d+)", last["title"]).group(1))  # type: ignore[union-attr]
    assert accuracy == pytest.approx(np.trace(z) / m, abs=1e-3)
    assert m == len(data["test"]["y"])  # 899 test digits, all streamed: the server's test accuracy, recomputed
    assert accuracy == pytest.approx(run.history()[-1]["accuracy"], abs=1e-3)
    assert all(f["drawn"] for f in figures) and watch.errors() == [] and watch.foreign_requests == []


def test_report_errors(client: Client, server: Server) -> None:
    missing = httpx.get(f"{server.url}/api/runs/ffffffffffff/report.html")
    assert missing.status_code == 404 and missing.json()["detail"] == "no run 'ffffffffffff'"
    run = client.start(epochs=2)
    download = httpx.get(f"{server.url}/api/runs/{run.id}/report.html", params={"download": "true"}, timeout=60)
    assert download.headers["content-disposition"] == f'attachment; filename="report-{run.id}.html"'


def test_thin_keeps_the_ends_and_the_extremes() -> None:
    rng = np.random.default_rng(0)
    cost = rng.random(10_000)
    cost[1234], cost[8765] = 5.0, -1.0  # a spike and a dip
    points = [{"epoch": i, "train_cost": float(c)} for i, c in enumerate(cost)]
    kept = thin(points)
    epochs = [p["epoch"] for p in kept]
    assert len(kept) <= MAX_POINTS and epochs == sorted(set(epochs))
    assert {0, 9_999, 1234, 8765} <= set(epochs)
    assert thin(points[:50]) == points[:50]
