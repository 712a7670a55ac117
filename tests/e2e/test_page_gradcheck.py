"""The gradient check and the what-if on the page, for a parameter selected on the diagram: backprop's ∂C/∂w
and the central difference shown are backprop_core's (recomputed here with backprop_core.gradcheck on the
run's stored weights and the batch the page names), a layer over the limit shows the server's 422 message,
and a nudge's cost change is the float64 recomputation's, next to Δ·∂C/∂w — with the run left unchanged."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
from e2e_helpers import element_shot, open_page, settle, wait_state
from walk_numbers import batch_cost, check_text, shown, stored_run

from backprop_core.gradcheck import EPSILON, numerical_gradients, relative_errors
from backprop_core.walkthrough import MAX_CHECK_PARAMS


def click_edge(p: Any, l: int, i: int, j: int) -> None:
    p.locator("canvas.net").scroll_into_view_if_needed()
    e = p.evaluate("([l, i, j]) => window.__bpv.network().edges.find(e => e.l === l && e.i === i && e.j === j)",
                   [l, i, j])
    c = p.evaluate("window.__bpv.network().canvas")
    t = 0.2  # near its start: edges of one gap cross in the middle
    p.mouse.click(c["left"] + e["x1"] + t * (e["x2"] - e["x1"]), c["top"] + e["y1"] + t * (e["y2"] - e["y1"]))


def click_neuron(p: Any, l: int, j: int) -> None:
    p.locator("canvas.net").scroll_into_view_if_needed()
    n = p.evaluate("([l, j]) => window.__bpv.network().neurons.find(n => n.l === l && n.j === j)", [l, j])
    c = p.evaluate("window.__bpv.network().canvas")
    p.mouse.click(c["left"] + n["x"] + n["size"] / 2, c["top"] + n["y"] + n["size"] / 2)


def numbers(p: Any) -> dict[str, Any]:
    """The check's and the what-if's numbers by name (a layer's: name@j,k)."""
    out = {}
    for n in shown(p, "#grad-tools"):
        check_text(n)
        key = n["q"] if n["j"] is None and n["k"] is None else f"{n['q']}@{n['j']},{n['k']}"
        out[key] = n["value"]
    return out


def set_delta(p: Any, delta: float) -> None:
    """Move the Δ slider to a value (as a person would: an input event)."""
    choices = [float(x) for x in p.get_attribute(".gt-delta", "data-deltas").split(",")]
    index = choices.index(delta)
    p.evaluate("k => { const s = document.querySelector('.gt-delta'); s.value = String(k);"
               " s.dispatchEvent(new Event('input', {bubbles: true})); }", index)
    p.wait_for_function("d => { const el = document.querySelector('#grad-tools [data-q=wi-delta]');"
                        " return el && Number(el.dataset.value) === d"
                        " && !document.querySelector('.gt-nudge').disabled; }",
                        arg=delta, timeout=20_000)


def test_check_a_weight_a_bias_and_a_layer_then_what_if(page, server):
    p, watch = page
    p.click("#play")
    wait_state(p, "running")
    p.wait_for_function("() => window.__bpv.run().epoch >= 5", timeout=30_000)
    click_edge(p, 2, 1, 0)  # W²₂₁ (from neuron 2 of layer 1 to neuron 1 of layer 2), while the run trains
    p.wait_for_selector("#grad-tools:not([hidden]) .gt-check-one")
    assert "Asking pauses the run" in p.inner_text("#grad-tools")
    assert p.inner_text(".gt-check-one") == "Check W²₂₁"
    p.click(".gt-check-one")
    wait_state(p, "paused")
    settle(p)
    p.wait_for_selector("#grad-tools [data-q=gc-backprop]", timeout=20_000)
    run_id = p.evaluate("window.__bpv.run().id")
    stored = stored_run(server, run_id)
    batch = [int(i) for i in p.get_attribute(".gt-batch", "data-indices").split(",")]
    assert batch == server.send("POST", f"/api/runs/{run_id}/walkthrough", {})["batch_indices"], "the next batch"
    net = stored.net64()
    X, Y = stored.X[batch], stored.Y[batch]
    grads = net.backward(net.forward(X), Y)
    num_w, num_b = numerical_gradients(net, X, Y)
    got = numbers(p)
    np.testing.assert_allclose(got["gc-backprop"], grads.weights[1][1, 0], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(got["gc-numeric"], num_w[1][1, 0], rtol=1e-6, atol=1e-10)
    assert got["gc-eps"] == EPSILON
    assert got["gc-rel"] == float(relative_errors(got["gc-backprop"], got["gc-numeric"])) < 1e-6
    explanation = p.inner_text(".gt-check-out .gt-explain")
    assert "central difference" in explanation and "ε" in explanation
    # the whole layer
    p.click(".gt-check-layer")
    p.wait_for_selector("#grad-tools [data-q=gcb-backprop]", timeout=20_000)
    got = numbers(p)
    for j in range(4):
        for k in range(2):
            np.testing.assert_allclose(got[f"gc-backprop@{j},{k}"], grads.weights[1][j, k], rtol=1e-7, atol=1e-12)
            np.testing.assert_allclose(got[f"gc-numeric@{j},{k}"], num_w[1][j, k], rtol=1e-6, atol=1e-10)
    for k in range(2):
        np.testing.assert_allclose(got[f"gcb-backprop@None,{k}"], grads.biases[1][k], rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(got[f"gcb-numeric@None,{k}"], num_b[1][k], rtol=1e-6, atol=1e-10)
    assert got["gc-max"] < 1e-6
    p.mouse.move(1, 1)
    element_shot(p, "#inspector", "20-gradient-check.png")
    # what if: nudge W²₂₁ by a few Δ; the change against the float64 recomputation, next to Δ·∂C/∂w
    weights_before = server.get(f"/api/runs/{run_id}/export")["weights"]
    assert "nothing to undo" in p.inner_text("#grad-tools")
    c0 = numbers(p)  # (the check's numbers stay on screen beside the what-if's)
    for delta in (0.1, -0.5, 1.0, 2.0):
        set_delta(p, delta)
        got = numbers(p)
        assert got["gc-max"] == c0["gc-max"]
        np.testing.assert_allclose(got["wi-gradient"], grads.weights[1][1, 0], rtol=1e-7, atol=1e-12)
        assert got["wi-predicted"] == np.float64(delta) * got["wi-gradient"]
        assert got["wi-after"] == got["wi-before"] + delta
        c_before = batch_cost(stored, batch, 2)
        c_after = batch_cost(stored, batch, 2, index=(1, 0), delta=delta)
        np.testing.assert_allclose(got["wi-cost-before"], c_before, rtol=1e-9)
        np.testing.assert_allclose(got["wi-change"], c_after - c_before, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(got["wi-difference"], got["wi-change"] - got["wi-predicted"], rtol=1e-9, atol=1e-15)
    assert p.is_visible(".gt-plot")
    element_shot(p, "#inspector", "21-what-if.png")
    assert server.get(f"/api/runs/{run_id}/export")["weights"] == weights_before, "a what-if changes nothing"
    # a neuron's bias
    click_neuron(p, 1, 2)
    p.wait_for_function("() => document.querySelector('.gt-check-one').textContent === 'Check b¹₃'")
    assert not p.is_visible("#grad-tools [data-q=gc-backprop]"), "another parameter: the old answer is gone"
    p.click(".gt-check-one")
    p.wait_for_selector("#grad-tools [data-q=gc-backprop]", timeout=20_000)
    got = numbers(p)
    np.testing.assert_allclose(got["gc-backprop"], grads.biases[0][2], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(got["gc-numeric"], num_b[0][2], rtol=1e-6, atol=1e-10)
    # an input neuron has no parameter of its own
    click_neuron(p, 0, 0)
    p.wait_for_selector("#grad-tools", state="hidden")
    assert watch.errors() == []


def test_a_layer_over_the_limit_shows_the_servers_message(browser, server):
    p, watch = open_page(browser, server, hash="#epochs=100000&dataset=digits&layers=70,64")
    try:
        wait_state(p, "paused")
        p.locator("canvas.net").scroll_into_view_if_needed()
        m = p.evaluate("window.__bpv.network().matrices.find(m => m.l === 2)")
        c = p.evaluate("window.__bpv.network().canvas")
        p.mouse.click(c["left"] + m["x0"] + 2, c["top"] + m["y0"] + 2)  # W²₁₁: layer 2 has 70 × 64 + 64 parameters
        p.wait_for_selector("#grad-tools:not([hidden]) .gt-check-layer")
        p.click(".gt-check-layer")
        p.wait_for_selector(".gt-check-out .gt-error", timeout=20_000)
        p.mouse.move(1, 1)
        element_shot(p, "#inspector", "22-gradient-check-limit.png")
        run_id = p.evaluate("window.__bpv.run().id")
        r = httpx.post(f"{server.url}/api/runs/{run_id}/gradcheck", json={"layer": 2}, timeout=30)
        assert r.status_code == 422
        assert p.inner_text(".gt-check-out .gt-error") == r.json()["detail"]
        assert f"{MAX_CHECK_PARAMS:,}" in r.json()["detail"]
        # one weight of it is fine
        p.click(".gt-check-one")
        p.wait_for_selector("#grad-tools [data-q=gc-backprop]", timeout=20_000)
        assert numbers(p)["gc-rel"] < 1e-6
        assert watch.errors(ignore=("status of 422",)) == []  # the refusal itself, which the browser logs
    finally:
        p.context.close()
