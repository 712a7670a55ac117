"""The walkthrough on the page: "Step through" pauses the run and walks its next mini-batch step frame by frame
— forward layer by layer, the cost, δᴸ, δˡ backward, the gradients, the update — on the default net and on a
3-hidden-layer net. Every number shown is checked against a float64 recomputation from the run's stored
weights and data (walk_numbers.py), every frame's diagram against the edges it should light; ← → and the
buttons move, auto-advance reaches the end, Escape leaves, and "Apply" trains exactly the walked step."""

from __future__ import annotations

from typing import Any

import numpy as np
from e2e_helpers import element_shot, open_page, wait_curves, wait_state
from walk_numbers import ATOL, RTOL, check_text, expected_walk, shown, stored_run, want

THREE_HIDDEN = ("#epochs=100000&dataset=spiral&layers=6,5,4&act=relu,sigmoid,tanh&out=sigmoid"
                "&cost=binary_cross_entropy&reg=l2&regRate=0.01&batch=125&lr=0.1")
# one screenshot of each kind of frame of the default net: (step, layer, part) → file
SHOTS = {("forward", 1, None): "12-walk-forward.png", ("cost", 3, None): "13-walk-cost.png",
         ("output_delta", 3, None): "14-walk-output-delta.png", ("hidden_delta", 1, None): "15-walk-backward.png",
         ("gradient", 2, "probe"): "16-walk-gradient-probe.png", ("gradient", 2, "batch"): "17-walk-gradient-batch.png",
         ("update", 0, "after"): "18-walk-update.png"}
READY = """i => { const w = window.__bpv.walk(), d = w && w.drawn;
  return !!w && w.status === 'ready' && w.index === i && !!d && d.step === w.frame.step && d.l === w.frame.l
    && d.part === (w.frame.part || null) && document.querySelector('.walk-body').dataset.index === String(i); }"""


def at_frame(p: Any, i: int) -> dict[str, Any]:
    """Once frame i is shown, in the panel and on the diagram: the walk's state."""
    p.wait_for_function(READY, arg=i, timeout=20_000)
    w: dict[str, Any] = p.evaluate("window.__bpv.walk()")
    return w


def lit(frame: dict[str, Any], L: int) -> list[dict[str, Any]]:
    """The gaps a frame should light: (layer of W, what colours it, the way its arrows point)."""
    step, l, part = frame["step"], frame["l"], frame.get("part")
    if step == "forward":
        return [{"l": l, "name": "W", "direction": 1}]
    if step == "hidden_delta":
        return [{"l": l + 1, "name": "W", "direction": -1}]  # δˡ⁺¹ travels back along Wˡ⁺¹
    if step == "gradient":
        return [{"l": l, "name": "dWp" if part == "probe" else "dW", "direction": 0}]
    if step == "update":
        return [{"l": k, "name": "W" if part == "before" else "Wafter", "direction": 0} for k in range(1, L + 1)]
    return []


def shoot(p: Any, name: str) -> None:
    """The network panel (the frame's diagram and its panel), as a learner sees it."""
    p.mouse.move(1, 1)
    element_shot(p, "#network-panel", name)


def walk_all(p: Any, server: Any, shots: bool = False) -> tuple[Any, list[int], dict[str, Any]]:
    """Walk every frame with →, checking the numbers and the lit edges of each; returns the stored run, the
    batch, and the walk's W_after as shown."""
    w = at_frame(p, 0)
    run = p.evaluate("window.__bpv.run()")
    assert run["state"] == "paused"
    L = len(run["layer_sizes"]) - 1
    batch = [int(i) for i in p.get_attribute(".walk-batch", "data-indices").split(",")]
    probe = int(p.get_attribute(".walk-probe-info", "data-probe"))
    assert p.get_attribute(".walk-probe-info", "data-in-batch") == str(probe in batch).lower()
    assert len(batch) == len(set(batch)) == min(run["config"]["batch_size"], len(batch))
    stored = stored_run(server, run["id"])
    expected = expected_walk(stored, batch, probe)
    seen: set[tuple[str, int | None]] = set()
    after: dict[str, Any] = {}
    for i in range(w["count"]):
        w = at_frame(p, i)
        frame = w["frame"]
        assert w["drawn"]["gaps"] == lit(frame, L), frame
        if frame["step"] == "forward" and run["layer_sizes"][frame["l"]] <= 12:
            labels = [x for x in w["drawn"]["labels"] if x["l"] == frame["l"]]
            assert len(labels) == run["layer_sizes"][frame["l"]] and all(x["text"].startswith("z ") for x in labels)
        numbers = shown(p, "#walkthrough")
        assert numbers, frame
        for n in numbers:
            check_text(n)
            np.testing.assert_allclose(n["value"], want(expected, n), rtol=RTOL, atol=ATOL, err_msg=str(n))
            seen.add((n["q"], n["l"]))
            if n["q"] in ("Wafter", "bafter"):
                after[f"{n['q']}{n['l']}:{n['j']},{n['k']}"] = n["value"]
        text = p.inner_text(".walk-body")
        assert p.inner_text(".walk-eq") and len(text) > 100  # the step's words and its equation
        name = SHOTS.get((frame["step"], frame["l"], frame.get("part")))
        if shots and name:
            shoot(p, name)
        if i < w["count"] - 1:
            p.keyboard.press("ArrowRight")
    # every quantity of every layer was shown somewhere
    want_seen = {("a", 0), ("y", L), ("cost_probe", None), ("cost_before", None), ("cost_after", None), ("eta", None)}
    for l in range(1, L + 1):
        want_seen |= {(q, l) for q in ("z", "a", "delta", "sp", "W", "b", "dWp", "dbp", "dW", "db", "Wafter", "bafter")}
        if stored.reg:
            want_seen |= {("dWdata", l), ("dWpen", l)}
    assert want_seen <= seen, want_seen - seen
    return stored, batch, after


def apply_and_compare(p: Any, server: Any, after: dict[str, Any]) -> dict[str, Any]:
    """Apply the walked step; the run's weights are then the walk's W_after, float32 for float32."""
    before = p.evaluate("window.__bpv.shown()")
    p.click(".walk-apply")
    p.wait_for_function("() => window.__bpv.walk().applied", timeout=20_000)
    p.wait_for_function("([e, b]) => { const s = window.__bpv.shown(); return s.epoch > e || s.batch > b; }",
                        arg=[before["epoch"], before["batch"] or 0], timeout=20_000)
    run = p.evaluate("window.__bpv.run()")
    assert run["state"] == "paused"
    export = server.get(f"/api/runs/{run['id']}/export")
    for key, value in after.items():
        name, jk = key.split(":")
        l = int(name.removeprefix("Wafter").removeprefix("bafter"))
        j, k = jk.split(",")
        got = export["weights"][l - 1][int(j)][int(k)] if name.startswith("W") else export["biases"][l - 1][int(k)]
        assert np.float32(got) == np.float32(value), (key, got, value)
    assert "Applied" in p.inner_text(".walk-status")
    shown_now: dict[str, Any] = p.evaluate("window.__bpv.shown()")
    return shown_now


def test_walk_every_step_of_the_default_net(page, server):
    p, watch = page
    p.click("#play")
    wait_state(p, "running")
    p.wait_for_function("() => window.__bpv.run().epoch >= 5", timeout=30_000)
    p.click("#step-through")  # pauses the run, then asks for its next step
    wait_state(p, "paused")
    assert p.get_attribute("#step-through", "aria-pressed") == "true"
    stored, batch, after = walk_all(p, server, shots=True)
    w = p.evaluate("window.__bpv.walk()")
    last = w["count"] - 1
    # the frame is drawn on the live diagram's geometry: its inputs, Playground's unused ones among them
    net = p.evaluate("window.__bpv.network()")
    assert w["drawn"]["inputs"] == [n["y"] for n in net["neurons"] if n["l"] == 0]
    assert len(net["off"]) == 5 and w["drawn"]["off"] == [o["y"] for o in net["off"]]
    # the keys and the buttons move back and forth; → at the end stays there
    p.keyboard.press("ArrowRight")
    assert at_frame(p, last)["index"] == last
    p.keyboard.press("ArrowLeft")
    at_frame(p, last - 1)
    p.click(".walk-back")
    at_frame(p, last - 2)
    p.click(".walk-chip[data-step=forward]")
    at_frame(p, 0)
    assert p.is_disabled(".walk-back")
    p.click(".walk-next")
    at_frame(p, 1)
    p.click(".walk-chip[data-step=hidden_delta]")
    assert at_frame(p, 5)["frame"] == {"step": "hidden_delta", "l": 2}  # forward ×3, cost, δᴸ, then δ²
    # auto-advance to the end, at the fastest speed
    p.select_option(".walk-speed", "150")
    p.click(".walk-play")
    p.wait_for_function("n => { const w = window.__bpv.walk(); return w.index === n && !w.playing; }", arg=last,
                        timeout=30_000)
    assert p.inner_text(".walk-play").startswith("▶")
    # Escape leaves; walking again shows the same step (nothing changed)
    p.keyboard.press("Escape")
    p.wait_for_function("() => window.__bpv.walk() === null && document.querySelector('#walkthrough').hidden")
    p.click("#step-through")
    at_frame(p, 0)
    assert [int(i) for i in p.get_attribute(".walk-batch", "data-indices").split(",")] == batch
    # follow another example: one of the batch's, through the same step
    p.fill(".walk-probe", str(batch[3]))
    p.press(".walk-probe", "Enter")
    p.wait_for_function("k => document.querySelector('.walk-probe-info').dataset.probe === String(k)"
                        " && window.__bpv.walk().status === 'ready'", arg=batch[3], timeout=20_000)
    assert p.get_attribute(".walk-probe-info", "data-in-batch") == "true"
    assert [int(i) for i in p.get_attribute(".walk-batch", "data-indices").split(",")] == batch
    expected = expected_walk(stored, batch, batch[3])
    for n in shown(p, "#walkthrough"):
        np.testing.assert_allclose(n["value"], want(expected, n), rtol=RTOL, atol=ATOL, err_msg=str(n))
    # apply: exactly this step is trained, and the walk of the next batch starts from its weights
    p.click(".walk-chip[data-step=update]")
    p.keyboard.press("ArrowRight")
    at_frame(p, last)
    snap = apply_and_compare(p, server, after)
    assert snap["batch"] == 1
    p.click(".walk-again")
    p.wait_for_function("() => { const w = window.__bpv.walk(); return w && w.status === 'ready' && !w.applied; }")
    at_frame(p, 0)
    assert "mini-batch 2 of 25" in p.inner_text(".walk-where")
    W1 = {(n["j"], n["k"]): n["value"] for n in shown(p, "#walkthrough") if n["q"] == "W" and n["l"] == 1}
    assert W1 and all(after[f"Wafter1:{j},{k}"] == v for (j, k), v in W1.items())
    assert watch.errors() == []


def test_walk_every_step_of_a_three_hidden_layer_net(browser, server):
    p, watch = open_page(browser, server, hash=THREE_HIDDEN)
    try:
        wait_state(p, "paused")
        p.click("#step-batch")  # the first of the epoch's two batches: the walked one ends the epoch
        p.wait_for_function("() => window.__bpv.shown().batch === 1", timeout=20_000)
        p.click("#step-through")
        at_frame(p, 0)
        assert "mini-batch 2 of 2 of epoch 1" in p.inner_text(".walk-where")
        assert p.evaluate("window.__bpv.walk().count") == 4 + 1 + 1 + 3 + 2 * 4 + 2
        stored, _, after = walk_all(p, server)
        assert stored.reg == "l2" and len(stored.Ws) == 4
        p.click(".walk-chip[data-step=hidden_delta]")
        at_frame(p, 6)
        shoot(p, "19-walk-three-hidden-backward.png")
        history = p.evaluate("window.__bpv.historyEpochs()")
        p.click(".walk-chip[data-step=update]")
        snap = apply_and_compare(p, server, after)
        assert (snap["epoch"], snap["batch"]) == (1, 0)
        assert "It ended the epoch" in p.inner_text(".walk-status")
        # the curves show the epoch the applied step ended
        p.wait_for_function("n => window.__bpv.historyEpochs().last === n", arg=history["last"] + 1, timeout=20_000)
        wait_curves(p)
        # a run that cannot train again has no next step: the server's refusal is shown
        p.keyboard.press("Escape")
        server.send("POST", f"/api/runs/{p.evaluate('window.__bpv.run().id')}/stop")
        wait_state(p, "stopped")
        p.click("#step-through")
        p.wait_for_selector(".walk-error", timeout=20_000)
        assert p.inner_text(".walk-error") == "cannot walk through a step of a run that is stopped (it must be paused)"
        assert watch.errors(ignore=("status of 409",)) == []  # the refusal itself, which the browser logs
    finally:
        p.context.close()
