"""Training on: play after a run is done continues the same run with a new epoch limit (one curve, no gap);
the gradient colours keep a scale over the run by default, so gradients that shrink fade on the diagram
(vanishing gradients show), with per-frame, fixed-at-epoch-0 and log scales; a weight or bias set by hand
while paused."""

from __future__ import annotations

import math

from e2e_helpers import open_page, settle, shot, wait_curves, wait_state
from test_page_canvas import PIXELS, SAMPLE_POINTS, close

GREY = (232, 234, 235)


def test_play_after_done_goes_on_with_the_same_run(browser, server):
    p, watch = open_page(browser, server, hash="#epochs=30&speed=auto")
    try:
        run_id = p.evaluate("window.__bpv.run().id")
        p.click("#play")
        wait_state(p, "done", timeout=60_000)
        assert "Go on to epoch 60" in p.get_attribute("#play", "title")
        p.click("#play")  # the same run, 30 epochs more
        p.wait_for_function("() => window.__bpv.run().config.epochs === 60", timeout=30_000)
        done_at = "e => window.__bpv.run().state === 'done' && window.__bpv.run().epoch === e"
        p.wait_for_function(done_at, arg=60, timeout=60_000)
        assert p.evaluate("window.__bpv.run().id") == run_id
        p.wait_for_function("() => window.__bpv.historyEpochs().last === 60")
        assert p.evaluate("window.__bpv.historyEpochs()") == {"length": 61, "first": 0, "last": 60, "consecutive": True}
        assert [q["epoch"] for q in server.get(f"/api/runs/{run_id}/history")["points"]] == list(range(61))
        # the epoch limit field says how far: further than the run is, it is the new limit
        p.fill("[data-key=epochs]", "100")
        p.press("[data-key=epochs]", "Enter")
        p.wait_for_function("() => window.__bpv.config().epochs === 100")
        assert p.evaluate("window.__bpv.run().id") == run_id  # an ended run: no new run for a new limit
        p.keyboard.press("Escape")
        p.locator("body").click(position={"x": 5, "y": 5})
        p.keyboard.press(" ")  # space is play, here: go on
        p.wait_for_function(done_at, arg=100, timeout=60_000)
        assert p.evaluate("window.__bpv.run().id") == run_id
        wait_curves(p)
        xs = p.evaluate("document.querySelector('.cost-chart').data[0].x")
        assert xs[0] == 0 and xs[-1] == 100 and all(b > a for a, b in zip(xs, xs[1:], strict=False))
        shot(p, "26-continued.png")
        assert watch.errors() == []
    finally:
        p.context.close()


def edge_colour(p) -> tuple[float, int]:
    """The mean distance from grey of the clear edges' pixels (0: all grey), and how many were read."""
    points = [q for q in p.evaluate(SAMPLE_POINTS) if q["clear"] >= 6]
    pixels = p.evaluate(PIXELS, points)
    dist = [math.dist(px[:3], GREY) for px in pixels]
    return sum(dist) / len(dist), len(dist)


def frame(p) -> None:
    p.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_gradient_colours_fade_as_gradients_vanish(browser, server):
    # the run ends at epoch 100: its last frame, and so the colours compared below, do not depend on the
    # machine's speed (a run paused by hand goes on as far as the machine got meanwhile; by epoch 400 its largest
    # gradient is 2.5e-4 of the running max, and most fall below the log scale's 4 decades, where the √ scale
    # still shows a trace of colour)
    p, watch = open_page(browser, server, hash="#dataset=gauss&layers=4&lr=0.1&epochs=100")
    try:
        assert p.evaluate("window.__bpv.view().gradScale") == "running"  # the default keeps a scale over the run
        for e in (1, 2):  # two single epochs: where the run stands early does not depend on the machine's speed
            p.click("#step")
            p.wait_for_function("e => window.__bpv.run().epoch === e", arg=e, timeout=30_000)
        early_epoch = settle(p)["epoch"]
        assert early_epoch == 2
        p.mouse.move(1, 1)
        frame(p)
        early, n = edge_colour(p)
        assert n >= 4
        p.click("#play")
        wait_state(p, "done", timeout=120_000)
        p.wait_for_function("() => window.__bpv.run().epoch === 100 && window.__bpv.shown().epoch === 100")
        frame(p)
        late, _ = edge_colour(p)  # read once the page's frame is drawn: the legend below is that frame's
        legend = p.evaluate("window.__bpv.network().legend")
        assert legend["gradScale"] == "running" and legend["edgeFrame"] < legend["edgeMax"] / 10, legend
        assert late < 0.5 * early, (early, late)  # the gradients shrank, and the edges show it
        assert "running max" in p.inner_text(".legend-edge .scale-note")
        assert f"since epoch {min(early_epoch, 0)}" in p.inner_text(".legend-scale .scale-mode")
        shot(p, "27-vanishing-gradients.png")
        # per frame: the largest gradient is full colour again, whatever its size
        p.select_option(".grad-scale", "frame")
        p.wait_for_function("() => window.__bpv.network().legend.gradScale === 'frame'")
        frame(p)
        assert edge_colour(p)[0] > 1.5 * late
        assert "this frame's max" in p.inner_text(".legend-edge .scale-note")
        # fixed at epoch 0: the scale is epoch 0's largest |∂C/∂w|, from its snapshot
        run_id = p.evaluate("window.__bpv.run().id")
        _, t0 = server.snapshot(run_id, 0)
        want = max(float(abs(t0[f"dW{l}"]).max()) for l in (1, 2))
        p.select_option(".grad-scale", "epoch0")
        p.wait_for_function("w => Math.abs(window.__bpv.network().legend.edgeMax - w) <= 1e-6 * w", arg=want)
        assert close(p.inner_text(".legend-edge .hi"), want)
        assert "fixed at epoch 0" in p.inner_text(".legend-edge .scale-note")
        # log: small gradients keep some colour
        p.select_option(".grad-scale", "running")
        p.check(".grad-log")
        p.wait_for_function("() => window.__bpv.network().legend.gradLog")
        frame(p)
        assert edge_colour(p)[0] > late
        assert "log" in p.inner_text(".legend-edge .scale-note")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_set_a_weight_and_a_bias_by_hand_while_paused(page, server):
    p, watch = page
    p.click("#play")
    p.wait_for_function("() => window.__bpv.run().epoch >= 3")
    p.click("#play")
    wait_state(p, "paused")
    settle(p)
    points = p.evaluate(SAMPLE_POINTS)
    e = max((q for q in points if q["l"] == 2), key=lambda q: q["clear"])
    box = p.evaluate("window.__bpv.network().canvas")
    p.mouse.click(box["left"] + e["x"], box["top"] + e["y"])
    form = p.locator(".inspector-edit form")
    form.wait_for()
    form.locator("input").fill("1.5")
    form.locator("button").click()
    n = p.evaluate("window.__bpv.run().layer_sizes")[2]
    k = e["i"] * n + e["j"]
    p.wait_for_function("k => window.__bpv.value('W2', k) === 1.5", arg=k)
    p.wait_for_function("() => Number(document.querySelector('.inspector-body mn[data-role=w]').dataset.value) === 1.5")
    # the run trains on from the edited weight
    run_id = p.evaluate("window.__bpv.run().id")
    walk = server.send("POST", f"/api/runs/{run_id}/walkthrough", {})
    assert walk["layers"][1]["W"][e["i"]][e["j"]] == 1.5
    # a bias: click a hidden neuron (the form's button scrolled the page: back to the diagram)
    p.evaluate("window.scrollTo(0, 0)")
    d = p.evaluate("window.__bpv.network()")
    nrn = next(x for x in d["neurons"] if x["l"] == 1 and x["j"] == 0)
    p.mouse.click(d["canvas"]["left"] + nrn["x"] + nrn["size"] / 2, d["canvas"]["top"] + nrn["y"] + nrn["size"] / 2)
    p.wait_for_selector(".inspector-edit input[aria-label='new value of the bias']")
    p.fill(".inspector-edit input", "-0.25")
    p.press(".inspector-edit input", "Enter")
    p.wait_for_function("() => window.__bpv.value('b1', 0) === -0.25")
    # while it trains there is nothing to set
    p.click("#play")
    wait_state(p, "running")
    p.wait_for_function("() => !document.querySelector('.inspector-edit form')")
    assert watch.errors() == []
