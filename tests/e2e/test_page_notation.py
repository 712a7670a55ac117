"""Notation: the inspector for every kind of neuron and edge — hidden, output tanh / sigmoid / linear /
softmax, with and without a penalty — writes its equations in the catalog's one convention (row form, the
layer's shapes, a line on the text's column form), one name per quantity (∂C/∂w over the training set, or
the fixed sample of a big one, ∂Cₓ/∂w for the probe), the λ term where it applies, the probe's ∂Cₓ/∂b, a
softmax neuron with its own formula, and numbers with a true minus sign."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_helpers import animation_frames, open_page, wait_drawn
from test_page_canvas import SAMPLE_POINTS

from tests import support as kit

RUNS = {
    "tanh": {"dataset": "circle"},
    "sigmoid-l2": {"dataset": "circle", "output_activation": "sigmoid", "cost": "binary_cross_entropy",
                   "regularization": "l2", "regularization_rate": 0.01},
    "linear": {"dataset": "plane", "hidden_layers": [3]},
    "softmax": {"dataset": "digits", "hidden_layers": [6], "learning_rate": 0.1},
    "relu-l1": {"dataset": "xor", "activation": "relu", "regularization": "l1", "regularization_rate": 0.003},
    "big": {"dataset": "circle", "n_samples": 3000},
}


@pytest.fixture(scope="module")
def runs(server) -> dict[str, dict[str, Any]]:
    out = {}
    for key, cfg in RUNS.items():
        out[key] = server.send("POST", "/api/runs", {"epochs": 4, "speed": None, "name": f"notation {key}", **cfg})
    for key, run in out.items():
        def done(rid: str = run["id"]) -> dict[str, Any] | None:
            now = server.get(f"/api/runs/{rid}")
            return now if now["state"] == "done" else None

        out[key] = kit.wait_for(done, timeout=120, interval=0.1, what=f"run {key} done")
    return out


def inspect(p, target: dict) -> dict[str, Any]:
    """Click a neuron ({l, j}) or an edge ({l, i, j} or the clearest edge of layer l) and read the inspector."""
    p.evaluate("window.scrollTo(0, 0)")  # the last click brought the inspector up: the diagram back in view
    d = p.evaluate("window.__bpv.network()")
    box = d["canvas"]
    if "i" in target or target.get("edge"):
        pts = [q for q in p.evaluate(SAMPLE_POINTS) if q["l"] == target["l"]]
        e = max(pts, key=lambda q: q["clear"])
        p.mouse.click(box["left"] + e["x"], box["top"] + e["y"])
        want = {"kind": "edge", "l": target["l"]}
        p.wait_for_selector(".inspector-body mn[data-role=w-new]")
    else:
        n = next(x for x in d["neurons"] if x["l"] == target["l"] and x.get("j") == target["j"])
        p.mouse.click(box["left"] + n["x"] + n["size"] / 2, box["top"] + n["y"] + n["size"] / 2)
        want = {"kind": "neuron", "l": target["l"], "j": target["j"]}
        p.wait_for_selector(".inspector-body mn[data-role=db]")
    # the last selection's inspector may still be on screen: wait for this one's, drawn
    p.wait_for_function("w => { const s = window.__bpv.selection();"
                        " return s && Object.entries(w).every(([k, v]) => s[k] === v); }", arg=want)
    animation_frames(p)
    return p.evaluate("""() => {
        const b = document.querySelector('.inspector-body');
        return {text: b.textContent, inner: b.innerText,
                convention: (b.querySelector('.convention') || {}).textContent || '',
                numbers: [...b.querySelectorAll('mn')].map(m => m.textContent),
                roles: Object.fromEntries([...b.querySelectorAll('mn[data-role]')]
                  .map(m => [m.dataset.role, Number(m.dataset.value)]))};
    }""")


def common(got: dict, sizes: list[int], layer: int) -> None:
    conv = got["convention"]
    assert conv.startswith("Row form, one row per example: zˡ = aˡ⁻¹ Wˡ + bˡ, Wˡ is (n_{l−1}, n_l)"), conv
    sup = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
    assert f"W{str(layer).translate(sup)} is {sizes[layer - 1]}×{sizes[layer]}" in conv, conv
    assert "its wˡ is our (Wˡ)ᵀ" in conv
    assert all("-" not in n for n in got["numbers"]), got["numbers"]  # a true minus sign, every one
    assert "batch)" not in got["text"] and "batch mean" not in got["text"]  # one name per quantity


def open_run(browser, server, run) -> Any:
    p, watch = open_page(browser, server, hash=f"#run={run['id']}")
    wait_drawn(p)
    p.wait_for_function("() => window.__bpv.run().state === 'done' && document.querySelector('.input-table tr')")
    return p, watch


def test_hidden_and_tanh_output_neurons_and_an_edge(browser, server, runs):
    cat = server.get("/api/catalog")
    acts = {a["name"]: a for a in cat["activations"]}
    p, watch = open_run(browser, server, runs["tanh"])
    try:
        sizes = runs["tanh"]["layer_sizes"]
        got = inspect(p, {"l": 1, "j": 0})
        common(got, sizes, 1)
        assert "σ(z" in got["text"]
        assert acts["tanh"]["formula"] in got["text"] and acts["tanh"]["derivative"] in got["text"]
        assert "δ¹ = (δ² (W²)ᵀ) ⊙ σ′(z¹)" in got["text"]  # the row form of the hidden layer's equation
        assert "∂Cx∂b" in got["text"] and "∂C∂b" in got["text"]  # the probe's, then the training set's
        assert "over the 250 training examples" in got["text"]
        assert abs(got["roles"]["sigma-prime"] - (1 - got["roles"]["a"] ** 2)) < 1e-4
        got = inspect(p, {"l": 3, "j": 0})
        common(got, sizes, 3)
        quadratic = next(c for c in cat["costs"] if c["name"] == "quadratic")
        assert f"Quadratic cost: {quadratic['formula']}" in got["text"] and "a-minus-y" in got["roles"]
        assert got["roles"]["delta"] == pytest.approx(
            (got["roles"]["a"] - got["roles"]["y"]) * got["roles"]["sigma-prime"], rel=1e-3, abs=1e-7)
        got = inspect(p, {"l": 2, "edge": True})
        common(got, sizes, 2)
        assert "∂CxW" not in got["text"] and "∂Cx∂W" in got["text"] and "∂C∂W" in got["text"]
        assert "λ" not in got["text"]  # no penalty, no λ term
        assert "over the 250 training examples" in got["text"]
        # the footer: the catalog's equations, in the same convention
        footer = p.evaluate("document.querySelector('.footer .equations').textContent")
        eqs = cat["notation"]["equations"]
        assert eqs["hidden_delta"] in footer and eqs["forward"] in footer
        assert watch.errors() == []
    finally:
        p.context.close()


def test_sigmoid_output_with_l2_and_an_l1_edge(browser, server, runs):
    cat = server.get("/api/catalog")
    regs = {r["name"]: r for r in cat["regularizations"]}
    p, watch = open_run(browser, server, runs["sigmoid-l2"])
    try:
        sizes = runs["sigmoid-l2"]["layer_sizes"]
        got = inspect(p, {"l": 3, "j": 0})
        common(got, sizes, 3)
        assert "Binary cross-entropy" in got["text"] and "σ′(zᴸ) cancels" in got["text"]
        assert got["roles"]["delta"] == pytest.approx(got["roles"]["a"] - got["roles"]["y"], abs=1e-5)
        got = inspect(p, {"l": 3, "edge": True})
        common(got, sizes, 3)
        assert regs["l2"]["gradient"].replace("Wˡ", "W³") in got["text"], got["inner"]
        assert "λ = 0.01" in got["text"] and "include it" in got["text"]
        assert watch.errors() == []
    finally:
        p.context.close()
    p, watch = open_run(browser, server, runs["relu-l1"])
    try:
        got = inspect(p, {"l": 2, "edge": True})
        assert "sign(W²" in got["text"] and "λ = 0.003" in got["text"]
        got = inspect(p, {"l": 1, "j": 1})
        assert "ReLU" in got["text"]
        assert watch.errors() == []
    finally:
        p.context.close()


def test_linear_output_of_a_regression(browser, server, runs):
    p, watch = open_run(browser, server, runs["linear"])
    try:
        got = inspect(p, {"l": 2, "j": 0})
        common(got, runs["linear"]["layer_sizes"], 2)
        assert "Linear: σ(z) = z" in got["text"]
        assert got["roles"]["sigma-prime"] == pytest.approx(1, abs=1e-4)
        assert "over the 600 training examples" in got["text"]
        assert watch.errors() == []
    finally:
        p.context.close()


def test_a_softmax_neuron_has_its_own_formula(browser, server, runs):
    cat = server.get("/api/catalog")
    softmax = next(a for a in cat["activations"] if a["name"] == "softmax")
    p, watch = open_run(browser, server, runs["softmax"])
    try:
        got = inspect(p, {"l": 2, "j": 3})
        common(got, runs["softmax"]["layer_sizes"], 2)
        assert softmax["formula"] in got["text"]
        assert "σ(z" not in got["text"], got["inner"]  # not aⱼ = σ(zⱼ)
        assert "Cross-entropy" in got["text"]
        assert watch.errors() == []
    finally:
        p.context.close()


def test_a_big_training_set_says_its_gradient_is_over_a_fixed_sample(browser, server, runs):
    p, watch = open_run(browser, server, runs["big"])
    try:
        got = inspect(p, {"l": 2, "edge": True})
        assert "over a fixed sample of 1\u2009024 of the 1\u2009500 training examples" in got["text"], got["inner"]
        assert "1\u2009024 of the 1\u2009500" in p.inner_text(".norm-scope")
        assert watch.errors() == []
    finally:
        p.context.close()
