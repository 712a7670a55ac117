"""The data panel on the learner's own terms: whether the inputs are standardised, each input's mean and scale
(the server's), a switch to turn it off; Playground's seven input features chosen by clicking input neurons
(the diagram lists all seven for 2-D data, the unused ones dimmed), in the URL and the inspector; dataset
thumbnails and "regenerate data"."""

from __future__ import annotations

import math

from e2e_helpers import open_page, settle, shot, wait_curves, wait_drawn, wait_state
from test_page_canvas import SAMPLE_POINTS

ALL = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]


def shown_number(text: str) -> float:
    return float(text.replace("\u2212", "-"))


def input_table(p) -> list[list[str]]:
    return p.locator(".input-table tr").evaluate_all("rows => rows.slice(1).map(r => [...r.cells].map(c => c.title))")


def click_at(p, x: float, y: float) -> None:
    """Click the diagram at (x, y), in its canvas's coordinates, with the page scrolled back to the top (a
    click on the diagram may have scrolled the inspector into view)."""
    p.evaluate("window.scrollTo(0, 0)")
    box = p.evaluate("window.__bpv.network().canvas")
    p.mouse.click(box["left"] + x, box["top"] + y)


def new_run(p, old: str) -> dict:
    p.wait_for_function("id => window.__bpv.run().id !== id", arg=old)
    wait_drawn(p)
    return p.evaluate("window.__bpv.run()")


def test_standardisation_is_shown_and_can_be_turned_off(page, server):
    p, watch = page
    run = p.evaluate("window.__bpv.run()")
    data = server.get(f"/api/runs/{run['id']}/data")
    assert data["standardized"] is True
    p.wait_for_function("() => document.querySelectorAll('.input-table tr').length === 3")
    rows = input_table(p)
    assert [r[0] for r in rows] == ["x₁", "x₂"]
    for (name, mu, scale), m, s in zip(rows, data["mean"], data["scale"], strict=True):
        assert math.isclose(shown_number(mu), m, rel_tol=1e-3, abs_tol=1e-6), (name, mu, m)
        assert math.isclose(shown_number(scale), s, rel_tol=1e-3), (name, scale, s)
    assert "standardised" in p.inner_text(".standardize-note")
    assert p.locator("[data-key=standardize]").is_checked()
    # off: a new run whose inputs are the features as they are
    p.locator("[data-key=standardize]").uncheck()
    run = new_run(p, run["id"])
    assert run["config"]["standardize"] is False and "std=0" in p.url
    p.wait_for_function("() => document.querySelector('.standardize-note').textContent.includes('Not standardised')")
    assert [[shown_number(r[1]), shown_number(r[2])] for r in input_table(p)] == [[0, 1], [0, 1]]
    assert watch.errors() == []


def test_features_by_clicking_input_neurons(page, server):
    p, watch = page
    net = p.evaluate("window.__bpv.network()")
    inputs = [n for n in net["neurons"] if n["l"] == 0]
    assert len(inputs) == 2
    assert [o["name"] for o in net["off"]] == ALL[2:]  # all seven listed, five dimmed
    # dimmed: the unused inputs are drawn lighter than the used ones
    off = net["off"][0]
    run = p.evaluate("window.__bpv.run()")
    click_at(p, off["x"] + off["size"] / 2, off["y"] + off["size"] / 2)
    run = new_run(p, run["id"])
    assert run["config"]["features"] == ["x1", "x2", "x1^2"] and run["layer_sizes"][0] == 3
    assert "in=x1,x2,x1^2" in p.url
    assert p.locator(".feature-chips .chip[aria-pressed=true]").all_inner_texts() == ["x₁", "x₂", "x₁²"]
    p.wait_for_function("() => document.querySelectorAll('.input-table tr').length === 4")
    data = server.get(f"/api/runs/{run['id']}/data")
    assert data["feature_names"] == ["x1", "x2", "x1^2"]
    # the inspector names the input an edge comes from
    p.click("#play")
    p.wait_for_function("() => window.__bpv.run().epoch >= 3")
    p.click("#play")
    wait_state(p, "paused")
    settle(p)
    points = p.evaluate(SAMPLE_POINTS)
    e = max((q for q in points if q["l"] == 1 and q["i"] == 2), key=lambda q: q["clear"])
    click_at(p, e["x"], e["y"])
    p.wait_for_selector(".inspector-body mn[data-role=w-new]")
    assert "from input 3 (x₁²)" in p.inner_text(".inspector-body")
    # the chips do the same as the neurons: take x1 out again with a click on its neuron
    net = p.evaluate("window.__bpv.network()")
    x1 = next(n for n in net["neurons"] if n["l"] == 0 and n["j"] == 0)
    click_at(p, x1["x"] + x1["size"] / 2, x1["y"] + x1["size"] / 2)
    run = new_run(p, run["id"])
    assert run["config"]["features"] == ["x2", "x1^2"]
    p.click(".feature-chips .chip[data-feature='sin(x1)']")
    run = new_run(p, run["id"])
    assert run["config"]["features"] == ["x2", "x1^2", "sin(x1)"]
    assert watch.errors() == []


def test_spiral_with_all_seven_features(browser, server):
    p, watch = open_page(browser, server, hash=f"#dataset=spiral&in={','.join(ALL)}&layers=8,6&lr=0.03&epochs=100000")
    try:
        run = p.evaluate("window.__bpv.run()")
        assert run["layer_sizes"][0] == 7 and p.evaluate("window.__bpv.network().off") == []
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 300", timeout=90_000)
        p.click("#play")
        wait_state(p, "paused")
        settle(p)
        p.mouse.move(1, 1)
        wait_curves(p)
        shot(p, "24-spiral-all-features.png")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_thumbnails_pick_a_dataset_and_regenerate_makes_new_data(page, server):
    p, watch = page
    datasets = [d["name"] for d in server.get("/api/datasets")["items"]]
    builtin = [d for d in datasets if not d.startswith("csv:")]
    p.wait_for_function("n => document.querySelectorAll('.thumbs .thumb[data-drawn=drawn]').length >= n",
                        arg=len(builtin), timeout=30_000)
    shown = p.locator(".thumbs .thumb").evaluate_all("els => els.map(e => e.dataset.dataset)")
    assert shown[:len(builtin)] == builtin and len(shown) <= len(builtin) + 4  # and the newest uploads
    # each thumbnail is a picture, not blank
    inked = p.evaluate("""() => [...document.querySelectorAll('.thumbs .thumb canvas')].map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let k = 3; k < d.length; k += 4) if (d[k] > 0) n++; return n; })""")
    assert all(n > 30 for n in inked), inked
    run = p.evaluate("window.__bpv.run()")
    p.click(".thumbs .thumb[data-dataset=xor]")
    run = new_run(p, run["id"])
    assert run["config"]["dataset"] == "xor"
    assert p.get_attribute(".thumbs .thumb[data-dataset=xor]", "aria-pressed") == "true"
    before = server.get(f"/api/runs/{run['id']}/data")["train"]["X"][:5]
    p.click("#regenerate")
    run2 = new_run(p, run["id"])
    assert run2["config"]["dataset"] == "xor" and run2["config"]["seed"] != run["config"]["seed"]
    assert server.get(f"/api/runs/{run2['id']}/data")["train"]["X"][:5] != before
    assert f"seed={run2['config']['seed']}" in p.url
    shot(p, "25-thumbnails.png")
    assert watch.errors() == []
