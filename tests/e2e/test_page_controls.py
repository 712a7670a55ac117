"""Pause, step, reset, time travel, CSV upload, the digits and a 784-128-64-10 net, runs overlay, errors."""

from __future__ import annotations

import re

import numpy as np
from e2e_helpers import (
    animation_frames,
    mnist_like_csv,
    open_page,
    pause_after,
    quiet,
    settle,
    shot,
    wait_curves,
    wait_drawn,
    wait_state,
)

from tests import support as kit

# what the browser logs for a snapshot storage has thinned away (the page then takes the list again)
THINNED = "Failed to load resource: the server responded with a status of 404 (Not Found)"


def shown_tensor(p, name: str, n: int) -> np.ndarray:
    values = p.evaluate("([name, n]) => Array.from({length: n}, (_, k) => window.__bpv.value(name, k))", [name, n])
    return np.array(values, dtype=np.float32)


def test_pause_step_scrub_and_reset(page, server):
    p, watch = page
    e0 = pause_after(p, 8)["epoch"]  # its worker answered twice from the same place: a paused run does not train
    assert p.evaluate("window.__bpv.run().epoch") == e0
    # step one epoch, then one mini-batch
    p.click("#step")
    p.wait_for_function("e => window.__bpv.shown().epoch === e + 1 && window.__bpv.shown().batch === 0", arg=e0)
    p.click("#step-batch")
    p.wait_for_function("e => window.__bpv.shown().batch === 1", arg=e0)
    # the label is redrawn in the next animation frame
    p.wait_for_function("() => document.querySelector('.scrub-label').innerText.includes('+ 1 batch')")
    run_id = p.evaluate("window.__bpv.run().id")
    # time travel to the first stored epoch: the diagram shows that epoch's weights
    p.focus(".scrubber")
    p.wait_for_function("() => Number(document.querySelector('.scrubber').max) > 0")
    p.keyboard.press("Home")
    p.wait_for_function("() => !window.__bpv.view().following && window.__bpv.shown().epoch === 0")
    _, t0 = server.snapshot(run_id, 0)
    np.testing.assert_array_equal(shown_tensor(p, "W1", 8), t0["W1"].ravel())
    p.wait_for_function("() => document.querySelector('.scrub-label').innerText.includes('epoch 0 of')")
    p.keyboard.press("ArrowRight")  # the next stored epoch (the slider has focus, so this is not "step")
    p.wait_for_function("() => window.__bpv.shown().epoch > 0")
    # the curves travel on their canvases, a dotted line at the shown epoch (not a Plotly relayout per step)
    p.wait_for_function("() => window.__bpv.liveCharts().every(c => c.shown"
                        " && c.marker === window.__bpv.shown().epoch)")
    assert p.evaluate("window.__bpv.run().epoch") == e0 + 1
    p.keyboard.press("Home")
    p.wait_for_function("() => window.__bpv.shown().epoch === 0")
    p.mouse.move(1, 1)
    animation_frames(p)  # drawn without the hover
    shot(p, "06-time-travel.png")
    p.click(".live-btn")
    p.wait_for_function("e => window.__bpv.view().following && window.__bpv.shown().epoch === e + 1", arg=e0)
    # reset: a new run, same seed, so the same initial weights
    p.click("#reset")
    p.wait_for_function("id => window.__bpv.run() && window.__bpv.run().id !== id", arg=run_id)
    wait_drawn(p)
    p.wait_for_function("() => window.__bpv.shown().epoch === 0 && window.__bpv.run().state === 'paused'")
    np.testing.assert_array_equal(shown_tensor(p, "W1", 8), t0["W1"].ravel())
    # storage writes behind the run, so the list the scrubber got may still name an epoch storage let go
    # right after: the page asks again (the browser logs that 404) and shows no error
    assert watch.errors(ignore=(THINNED,)) == []
    assert p.inner_text("#messages").strip() == ""


def test_scrub_to_an_epoch_storage_has_thinned_away(page, server):
    """The page's list of stored epochs can be older than storage: the newest stored epoch gives way to the
    next one (a step, or training on). Asking for it shows the stored epoch at the same place on the
    scrubber (End: the newest), not an error."""
    p, watch = page
    e0 = pause_after(p, 3)["epoch"]
    run_id = p.evaluate("window.__bpv.run().id")
    p.focus(".scrubber")
    p.wait_for_function("() => Number(document.querySelector('.scrubber').max) > 0")
    p.keyboard.press("Home")
    p.wait_for_function("() => !window.__bpv.view().following && window.__bpv.shown().epoch === 0")
    lists = f"/api/runs/{run_id}/snapshots"
    kit.wait_for(lambda: server.get(lists)["epochs"][-1] == e0, what=f"the paused epoch {e0} stored")
    asked = watch.requests.count(server.url + lists)
    # an epoch and a mini-batch: storage keeps the newest position and lets e0 go (the writer is asynchronous)
    server.send("POST", f"/api/runs/{run_id}/step", {"unit": "epoch"})
    server.send("POST", f"/api/runs/{run_id}/step", {"unit": "batch"})

    def thinned() -> list[int] | None:
        epochs = server.get(lists)["epochs"]
        return epochs if epochs[-1] == e0 + 1 and e0 not in epochs else None

    stored = kit.wait_for(thinned, what=f"epoch {e0} thinned away and {e0 + 1} stored")
    p.keyboard.press("End")  # the page's list ends at an epoch no longer stored (e0, or older)
    p.wait_for_function("e => window.__bpv.shown().epoch === e", arg=stored[-1])  # End: still the newest
    assert watch.requests.count(server.url + lists) > asked  # the list asked again
    assert p.inner_text("#messages").strip() == ""
    # (had the list come back before storage let e0 go, the page asks for e0, the browser logs the 404, and
    # the page takes the list again: timetravel.js fetchStored); nothing else went wrong
    assert watch.errors(ignore=(THINNED,)) == []


def test_csv_upload_with_a_bad_row_shows_the_message(page, server):
    p, watch = page
    p.click(".upload summary")
    bad = b"x1,x2,label\n1,2,a\n3,abc,b\n4,5,a\n6,7,b\n8,9,a\n"
    p.set_input_files("#upload-form input[type=file]",
                      files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad}])
    p.click("#upload-form button[type=submit]")
    alert = p.locator(".message.error")
    alert.wait_for()
    text = alert.inner_text()
    assert "line 3" in text and "x2" in text and "'abc' is not a number" in text, text
    assert p.locator(".message.error").get_attribute("role") == "alert"
    # the message can be dismissed
    p.click(".message.error .message-close")
    p.wait_for_function("() => !document.querySelector('.message.error')")
    # a good file becomes the dataset of a new run
    rows = "\n".join(f"{x:.3f},{y:.3f},{'in' if x * x + y * y < 4 else 'out'}"
                     for x, y in np.random.default_rng(0).uniform(-4, 4, (60, 2)))
    p.set_input_files("#upload-form input[type=file]",
                      files=[{"name": "ring.csv", "mimeType": "text/csv", "buffer": f"a,b,label\n{rows}\n".encode()}])
    p.fill("#upload-form [name=name]", "ring")
    old = p.evaluate("window.__bpv.run().id")
    p.click("#upload-form button[type=submit]")
    p.wait_for_function("id => window.__bpv.run().id !== id && "
                        "window.__bpv.run().config.dataset.startsWith('csv:')", arg=old)
    wait_drawn(p)
    assert p.evaluate("window.__bpv.run().layer_sizes") == [2, 4, 2, 1]
    assert "ring" in p.locator("[data-key=dataset] option:checked").inner_text()
    assert watch.errors(ignore=("Failed to load resource",)) == []


def test_digits_render_with_predictions(browser, server):
    # a long epoch limit: the run must still be training when the test pauses it, however slow the page is
    p, watch = open_page(browser, server, hash="#dataset=digits&layers=32&lr=0.1&batch=32&speed=auto&epochs=100000")
    try:
        assert p.evaluate("window.__bpv.run().layer_sizes") == [64, 32, 10]
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 5", timeout=60_000)
        p.click("#play")
        wait_state(p, "paused")
        settle(p)
        net = p.evaluate("window.__bpv.network()")
        assert [(m["rows"], m["cols"]) for m in net["matrices"]] == [(64, 32)]  # the 64 inputs are a strip
        assert len([e for e in net["edges"] if e["l"] == 2]) == 320
        p.wait_for_selector("canvas.samples:not([hidden])")
        p.wait_for_selector("canvas.confusion:not([hidden])")
        caption = p.inner_text(".data-caption")
        assert "test images" in caption and "accuracy" in caption
        assert p.locator("canvas.plane").is_hidden()
        wait_curves(p)
        shot(p, "04-digits.png", full_page=True)
        assert watch.errors() == []
    finally:
        p.context.close()


def test_a_784_128_64_10_net_renders(browser, server):
    info = server.upload_csv(mnist_like_csv(), name="bands28")
    assert info["input_dim"] == 784
    # 200 epochs, then the run is done and the page idle: on a loaded machine a page that draws this net at
    # full speed may take its time over a click, and what is tested is the drawing, not the training
    p, watch = open_page(browser, server,
                         hash=f"#dataset={info['name']}&layers=128,64&lr=0.1&batch=16&speed=auto&epochs=200")
    try:
        assert p.evaluate("window.__bpv.run().layer_sizes") == [784, 128, 64, 10]
        p.click("#play")
        wait_state(p, "done", timeout=120_000)
        p.wait_for_function("() => window.__bpv.shown().epoch === 200", timeout=120_000)  # the final snapshot
        animation_frames(p)
        net = p.evaluate("window.__bpv.network()")
        assert [(m["rows"], m["cols"]) for m in net["matrices"]] == [(784, 128), (128, 64), (64, 10)]
        assert net["edges"] == []
        m = net["matrices"][0]
        # the W¹ heatmap has been painted: not the page's white
        colours = p.evaluate("""async m => {
            const w = Math.round(m.x1 - m.x0) - 4;
            const d = await window.__bpv.networkPixels(Math.round(m.x0) + 2, Math.round(m.y0) + 2, w, 20);
            let n = 0;
            for (let k = 0; k < d.length; k += 4) {
              if (d[k + 3] > 0 && !(d[k] > 250 && d[k + 1] > 250 && d[k + 2] > 250)) n++;
            }
            return n; }""", m)
        assert colours > 100
        # a click on a matrix cell inspects that weight
        box = net["canvas"]
        p.mouse.click(box["left"] + (m["x0"] + m["x1"]) / 2, box["top"] + (m["y0"] + m["y1"]) / 2)
        p.wait_for_selector(".inspector-body mn[data-role=w-new]")
        text = p.inner_text(".inspector-body")
        assert re.search(r"from input \d+ \(p\d+\) to neuron \d+ of layer 1", text), text  # named by its column
        p.wait_for_selector("canvas.confusion:not([hidden])")
        wait_curves(p)
        shot(p, "07-wide-784.png")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_a_big_net_asks_for_fewer_snapshots(browser, server):
    # a 784-128-64-10 net's snapshot is ~0.9 MB: the page holds what it asks for to its bytes-a-second budget
    # (main.js, SNAPSHOT_BYTES), whatever it could draw; the server honouring a "frames" limit is tested in
    # tests/app/test_app_workers.py
    info = server.upload_csv(mnist_like_csv(), name="bands28big")
    p, watch = open_page(browser, server,
                         hash=f"#dataset={info['name']}&layers=128,64&lr=0.1&batch=16&speed=auto&epochs=100000")
    try:
        assert p.evaluate("window.__bpv.counters().snapshotRate") == 30  # what a stream opens with (socket.js)
        p.click("#play")
        p.wait_for_function("() => window.__bpv.counters().snapshotRate < 30", timeout=120_000)
        c = p.evaluate("window.__bpv.counters()")
        assert c["snapshotBytes"] > 800_000
        assert c["snapshotRate"] == max(4, 6_000_000 // c["snapshotBytes"])
        p.click("#play")
        wait_state(p, "paused")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_runs_list_open_and_overlay(browser, server):
    ids = []
    for name in ("slow lr", "fast lr"):
        lr = 0.01 if name == "slow lr" else 0.3
        run = server.send("POST", "/api/runs", {"name": name, "learning_rate": lr, "epochs": 40, "speed": None})
        ids.append(run["id"])
    for rid in ids:
        kit.wait_for(lambda rid=rid: server.get(f"/api/runs/{rid}")["state"] == "done", timeout=60,
                     what=f"run {rid} to finish")
    p, watch = open_page(browser, server)
    try:
        p.click(".runs-refresh")
        for rid in ids:
            p.locator(f".run-row[data-run-id='{rid}'] .overlay-box").check()
        p.wait_for_function("() => document.querySelector('.cost-chart .main-svg') && "
                            "document.querySelector('.cost-chart').data.length >= 5", timeout=30_000)
        names = p.evaluate("document.querySelector('.cost-chart').data.map(t => t.name)")
        assert any("slow lr" in n for n in names) and any("fast lr" in n for n in names)
        p.locator(f".run-row[data-run-id='{ids[1]}'] .open-run").click()
        p.wait_for_function("id => window.__bpv.run().id === id", arg=ids[1])
        p.wait_for_function("() => window.__bpv.historyLength() >= 40")
        assert p.locator("[data-key=learning_rate]").input_value() == "0.3"
        assert f"run={ids[1]}" in p.url
        p.evaluate("window.scrollTo(0, 0)")
        wait_curves(p)
        shot(p, "08-runs-overlay.png")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_regression_shows_prediction_against_target(browser, server):
    p, watch = open_page(browser, server, hash="#dataset=plane&layers=4&speed=auto")
    try:
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 5", timeout=30_000)
        p.wait_for_selector("canvas.regression:not([hidden])")
        assert p.locator("canvas.plane").is_visible()
        assert "RMSE" in p.inner_text(".data-caption")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_divergence_is_a_readable_message(browser, server):
    p, watch = open_page(browser, server, hash="#dataset=plane&layers=4&act=linear&lr=10&speed=auto")
    try:
        p.click("#play")
        wait_state(p, "diverged", timeout=30_000)
        alert = p.locator(".message.error")
        alert.wait_for()
        assert "learning rate" in alert.inner_text()
        p.wait_for_function("() => document.querySelector('#run-state').textContent === 'diverged'")
        quiet(p, watch)  # a late REST answer must not turn it back to running: every answer has come
        assert p.inner_text("#run-state") == "diverged"
        assert watch.errors() == []
    finally:
        p.context.close()


def test_probe_by_clicking_a_point_then_replay(page, server):
    p, watch = page
    p.click("#play")
    p.wait_for_function("() => window.__bpv.run().epoch >= 15", timeout=30_000)
    p.click("#play")
    wait_state(p, "paused")
    settle(p)
    p.wait_for_function("() => window.__bpv.dataPoint(5) !== null")
    pt = p.evaluate("window.__bpv.dataPoint(5)")
    p.mouse.click(pt["x"], pt["y"])
    # the server republishes the paused epoch's snapshot for the new probe
    p.wait_for_function("() => window.__bpv.shown().probe_index !== 0")
    k = p.evaluate("window.__bpv.shown().probe_index")
    near = p.evaluate("k => window.__bpv.dataPoint(k)", k)
    assert abs(near["x"] - pt["x"]) <= 10 and abs(near["y"] - pt["y"]) <= 10
    run = p.evaluate("window.__bpv.run()")
    header, t = server.snapshot(run["id"], run["epoch"])
    assert header["probe_index"] == k
    data = server.get(f"/api/runs/{run['id']}/data")
    x = (np.asarray(data["train"]["X"][k]) - data["mean"]) / np.asarray(data["scale"])  # a⁰: the standardised point
    np.testing.assert_allclose(t["a0"], x, rtol=1e-6)
    # the inspector follows the probe
    d = p.evaluate("window.__bpv.network()")
    out = next(n for n in d["neurons"] if n["l"] == 3)
    p.mouse.click(d["canvas"]["left"] + out["x"] + 5, d["canvas"]["top"] + out["y"] + 5)
    p.wait_for_function("k => document.querySelector('.inspector-body').textContent.includes('probe example #' + k)",
                        arg=k)
    # rings: batch mean |δ| instead of the probe's δ
    p.select_option(".delta-mode", "batch")
    p.wait_for_function("() => window.__bpv.network().legend.deltaMode === 'batch'")
    assert p.inner_text(".legend-delta .lo") == "0"
    # replay plays the stored epochs back from the first and stops at the last (two stored epochs here: it
    # may be over before a poll would see it playing, so what it fetched tells)
    first = f"/api/runs/{run['id']}/snapshots/0?format=binary"
    before = watch.requests.count(server.url + first)
    p.click(".replay-btn")
    p.wait_for_function("e => !window.__bpv.replaying() && !window.__bpv.view().following"
                        " && window.__bpv.shown().epoch === e", arg=run["epoch"], timeout=60_000)
    assert watch.requests.count(server.url + first) > before
    p.click(".live-btn")
    p.wait_for_function("() => window.__bpv.view().following")
    assert watch.errors() == []
