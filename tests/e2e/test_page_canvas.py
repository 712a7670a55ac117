"""The diagram's pixels and the inspector's numbers agree with the tensors the server streams.

Edge colours are read back from the canvas at a point of each edge that no other edge comes near
(geometry from the page's read-only window.__bpv hook); the inspector's numbers are compared with the
binary snapshot fetched over REST and decoded here, independently of the page's decoder."""

from __future__ import annotations

import math

import numpy as np
from e2e_helpers import pause_after, settle, shot, wait_curves

# For every edge: the point along it farthest from every other edge, and that clearance (CSS px).
SAMPLE_POINTS = """() => {
  const d = window.__bpv.network();
  const E = d.edges;
  const dist = (px, py, e) => {
    const dx = e.x2 - e.x1, dy = e.y2 - e.y1, L = dx * dx + dy * dy;
    let t = ((px - e.x1) * dx + (py - e.y1) * dy) / L; t = Math.max(0, Math.min(1, t));
    return Math.hypot(e.x1 + t * dx - px, e.y1 + t * dy - py);
  };
  return E.map((e, k) => {
    let best = null;
    for (let t = 0.15; t <= 0.85; t += 0.05) {
      const x = e.x1 + t * (e.x2 - e.x1), y = e.y1 + t * (e.y2 - e.y1);
      let clear = Infinity;
      E.forEach((o, m) => { if (m !== k) clear = Math.min(clear, dist(x, y, o)); });
      if (!best || clear > best.clear) best = {x, y, clear};
    }
    return {l: e.l, i: e.i, j: e.j, ...best};
  });
}"""

PIXELS = """pts => {
  const dpr = window.__bpv.network().canvas.dpr;
  const at = v => Math.round(v * dpr - 0.5);
  return Promise.all(pts.map(p => window.__bpv.networkPixels(at(p.x), at(p.y), 1, 1)));
}"""


def grad_sign_of(rgba: list[int]) -> int:
    """+1 for the gradient scale's green side, −1 for its purple side, 0 for grey."""
    r, g, b, _ = rgba
    if g > r + 8 and g > b + 8:
        return 1
    if r > g + 8 and b > g + 8:
        return -1
    return 0


def weight_sign_of(rgba: list[int]) -> int:
    """+1 for Playground's blue, −1 for its orange, 0 for grey."""
    r, _, b, _ = rgba
    return 1 if b > r + 12 else -1 if r > b + 12 else 0


def check_edges(p, tensor_name: str, sign_of, min_share: float) -> dict[tuple[int, int, int], int]:
    """Every clear edge whose |value| is at least min_share of its colour scale's end (the legend's max: for
    gradients the largest seen over the run, by default) has the hue of its sign."""
    points = p.evaluate(SAMPLE_POINTS)
    n = sizes(p)
    js = "([name, k]) => window.__bpv.value(name, k)"
    vals = [p.evaluate(js, [f"{tensor_name}{e['l']}", e["i"] * n[e["l"]] + e["j"]]) for e in points]
    pixels = p.evaluate(PIXELS, points)  # (once what the page shows is drawn: the legend is the drawn frame's)
    vmax = p.evaluate("window.__bpv.network().legend.edgeMax")
    assert vmax >= max(abs(v) for v in vals) * (1 - 1e-6)
    checked = {}
    for e, v, px in zip(points, vals, pixels, strict=True):
        if e["clear"] < 6 or abs(v) < min_share * vmax:
            continue  # too close to another edge, or too close to zero to have a hue
        want = 1 if v > 0 else -1
        assert sign_of(px) == want, f"edge {e} has {tensor_name} = {v} but the pixel is {px}"
        checked[(e["l"], e["i"], e["j"])] = want
    assert len(checked) >= 4, f"too few clear edges to check: {points}"
    return checked


def sizes(p) -> list[int]:
    return p.evaluate("window.__bpv.run().layer_sizes")


def test_edge_pixels_follow_the_gradient_sign(page, server):
    p, watch = page
    pause_after(p, 5)
    history: dict[tuple[int, int, int], list[int]] = {}
    for _ in range(4):
        for key, sign in check_edges(p, "dW", grad_sign_of, 0.05).items():  # √ scale
            history.setdefault(key, []).append(sign)
        e = p.evaluate("window.__bpv.run().epoch")
        p.click("#step")  # one more epoch: new gradients, new colours (→ would go to the focused button)
        p.wait_for_function("e => window.__bpv.run().epoch === e + 1", arg=e)
        settle(p)
        p.mouse.move(1, 1)
    seen = {s for signs in history.values() for s in signs}
    assert seen == {1, -1}, "both signs of ∂C/∂w should be on screen"
    # the toggle colours edges by weight instead, on Playground's orange–blue scale
    p.select_option(".edge-color", "weight")
    p.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    check_edges(p, "W", weight_sign_of, 0.25)  # linear scale
    legend = p.evaluate("window.__bpv.network().legend")
    assert legend["edgeColor"] == "weight" and legend["edgeMax"] > 0
    assert watch.errors() == []


def close(text: str, value: float) -> bool:
    """The displayed number (4 significant digits, true minus sign) is value, rounded."""
    shown = float(text.replace("\u2212", "-"))
    return math.isclose(shown, value, rel_tol=1e-3, abs_tol=1e-9 + abs(value) * 1e-3)


def inspector_numbers(p) -> dict[str, tuple[float, str]]:
    return {r["role"]: (r["value"], r["text"]) for r in p.evaluate(
        "() => [...document.querySelectorAll('.inspector-body mn[data-role]')].map(m => "
        "({role: m.dataset.role, value: Number(m.dataset.value), text: m.textContent}))")}


def click_neuron(p, l: int, j: int) -> None:
    p.evaluate("window.scrollTo(0, 0)")  # the last click may have brought the inspector up
    d = p.evaluate("window.__bpv.network()")
    n = next(x for x in d["neurons"] if x["l"] == l and x.get("j") == j)
    p.mouse.click(d["canvas"]["left"] + n["x"] + n["size"] / 2, d["canvas"]["top"] + n["y"] + n["size"] / 2)


def expect(nums: dict, role: str, value: float) -> None:
    got, text = nums[role]
    assert math.isclose(got, value, rel_tol=1e-5, abs_tol=1e-8), f"{role}: page {got}, snapshot {value}"
    assert close(text, value), f"{role}: shows {text!r}, snapshot {value}"


def test_inspector_numbers_equal_the_snapshot(page, server):
    p, watch = page
    shown = pause_after(p, 5)
    run = p.evaluate("window.__bpv.run()")
    _, t = server.snapshot(run["id"], shown["epoch"])
    # a hidden neuron: δ¹ⱼ = (Σₖ w²ⱼₖ δ²ₖ) σ'(z¹ⱼ), σ = tanh
    click_neuron(p, 1, 1)
    p.wait_for_selector(".inspector-body mn[data-role=sum]")
    p.wait_for_function("e => document.querySelector('.inspector-body').dataset.epoch === String(e)",
                        arg=shown["epoch"])
    nums = inspector_numbers(p)
    j = 1
    expect(nums, "z", float(t["z1"][j]))
    expect(nums, "a", float(t["a1"][j]))
    expect(nums, "delta", float(t["delta1"][j]))
    weighted = float(np.dot(t["W2"][j].astype(np.float64), t["delta2"].astype(np.float64)))
    expect(nums, "sum", weighted)
    expect(nums, "sigma-prime", 1 - float(t["a1"][j]) ** 2)
    for k in range(t["W2"].shape[1]):
        expect(nums, f"w{k}", float(t["W2"][j, k]))
        expect(nums, f"d{k}", float(t["delta2"][k]))
    expect(nums, "db", float(t["db1"][j]))
    # and the seed's equation holds with these numbers (σ'(zˡ) of the layer itself)
    assert math.isclose(weighted * (1 - float(t["a1"][j]) ** 2), float(t["delta1"][j]), rel_tol=1e-3, abs_tol=1e-7)
    math_text = p.inner_text(".inspector-body")
    assert "σ′" in math_text
    # the output neuron: δᴸ = (aᴸ − y) ⊙ σ'(zᴸ)
    click_neuron(p, 3, 0)
    p.wait_for_selector(".inspector-body mn[data-role=a-minus-y]")
    nums = inspector_numbers(p)
    expect(nums, "a", float(t["a3"][0]))
    expect(nums, "y", float(t["y"][0]))
    expect(nums, "delta", float(t["delta3"][0]))
    expect(nums, "a-minus-y", float(t["a3"][0]) - float(t["y"][0]))
    # an edge: ∂C/∂w = a^{l−1} δˡ (probe), the batch mean dW, and w ← w − η ∂C/∂w
    p.evaluate("window.scrollTo(0, 0)")
    points = p.evaluate(SAMPLE_POINTS)
    e = max((q for q in points if q["l"] == 2), key=lambda q: q["clear"])
    box = p.evaluate("window.__bpv.network().canvas")
    p.mouse.click(box["left"] + e["x"], box["top"] + e["y"])
    p.wait_for_selector(".inspector-body mn[data-role=w-new]")
    nums = inspector_numbers(p)
    i, jj = e["i"], e["j"]
    assert f"from neuron {i + 1} of layer 1 to neuron {jj + 1} of layer 2" in p.inner_text(".inspector-body")
    expect(nums, "a-prev", float(t["a1"][i]))
    expect(nums, "delta", float(t["delta2"][jj]))
    expect(nums, "probe-grad", float(t["a1"][i]) * float(t["delta2"][jj]))
    expect(nums, "dW", float(t["dW2"][i, jj]))
    expect(nums, "w", float(t["W2"][i, jj]))
    lr = run["config"]["learning_rate"]
    expect(nums, "eta", lr)
    expect(nums, "w-new", float(t["W2"][i, jj]) - lr * float(t["dW2"][i, jj]))
    # the update shown subtracts: w ← w − η ∂C/∂w
    assert "−" in p.inner_text(".inspector-body .eq:last-of-type")
    p.mouse.move(1, 1)  # no tooltip over the diagram in the picture
    wait_curves(p)  # picture the curves caught up
    p.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    shot(p, "03-inspector.png")
    p.keyboard.press("Escape")
    p.wait_for_function("() => document.querySelector('#inspector').classList.contains('empty')")
    assert watch.errors() == []


# Draw edges with the diagram's own code on a canvas of the page: black, on transparent pixels, so a pixel's
# alpha is the line's coverage. `extra` more edges of width 1 far off the canvas switch drawEdges to its
# grouped paths (over 64 edges in a gap). Returns the alpha of columns x = 100 (the horizontal edge, y 10-50)
# and x = 60 (the diagonal one, y 90-130).
EDGE_ALPHA = """async ([extra]) => {
  const { drawEdges } = await import("/static/js/views/network_edges.js");
  const lines = [10, 30, 190, 30, 10, 60, 110, 160];  // horizontal; 45° down
  const ws = [5, 2.5];  // |w| 5 → 10 px wide; 2.5 → 5.5 px
  for (let k = 0; k < extra; k++) { lines.push(-300, k, -200, k); ws.push(0); }
  const n = ws.length;
  const snap = { tensors: { W1: { data: Float32Array.from(ws), shape: [1, n] },
                            dW1: { data: new Float32Array(n).fill(1), shape: [1, n] } } };
  const prep = { colorName: "dW", edgeMax: 1, scale: { css: Array(256).fill("#000"), curve: "lin" } };
  const c = new OffscreenCanvas(200, 200);
  const ctx = c.getContext("2d");
  drawEdges(ctx, { l: 1, rows: 1, cols: n, edges: Float32Array.from(lines) }, snap, prep, 1);
  const col = (x, y0, y1) => Array.from(ctx.getImageData(x, y0, 1, y1 - y0).data.filter((_, i) => i % 4 === 3));
  return { horizontal: col(100, 10, 50), diagonal: col(60, 90, 130) };
}"""


def test_a_wide_edge_is_one_solid_line_as_wide_as_its_weight(page):
    # wide edges are stacks of 1-pixel lines (network_edges.js, stackedLines): together they must read as one
    # line of Playground's width, 1 + 1.8|w| px measured square to the line, with no gaps or hatching inside
    p, watch = page
    # one path per edge: the exact width; grouped paths: the width class's (network_edges.js, WIDTH_CLASSES)
    for extra, widths in ((0, (10.0, 5.5)), (100, (8.0, 5.0))):
        alpha = p.evaluate(EDGE_ALPHA, [extra])
        for name, width in (("horizontal", widths[0]), ("diagonal", widths[1] * math.sqrt(2))):  # a column cuts 45°
            col = alpha[name]
            inked = [k for k, a in enumerate(col) if a > 127]
            assert inked and abs(len(inked) - width) <= 1.2, (extra, name, col)
            assert inked == list(range(inked[0], inked[-1] + 1)), (extra, name, col)  # one band
            inside = col[inked[0] + 1:inked[-1]]
            assert min(inside) >= 240, f"hatched: {extra, name, col}"
    assert watch.errors() == []
