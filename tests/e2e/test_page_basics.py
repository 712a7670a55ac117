"""The page loads cleanly, trains when asked, keeps its setup in the URL, and works on a phone."""

from __future__ import annotations

from e2e_helpers import LONG_RUN, open_page, quiet, settle, shot, wait_curves, wait_drawn, wait_state


def test_loads_with_playground_defaults_and_no_errors(page, server):
    p, watch = page
    assert p.title().startswith("backprop-viz")
    assert p.locator("link[rel=icon]").get_attribute("href") == "data:,"
    assert p.locator("[data-key=dataset]").input_value() == "circle"
    assert p.locator("[data-key=learning_rate]").input_value() == "0.03"
    assert p.locator("[data-key=activation]").input_value() == "tanh"
    assert p.locator("[data-key=batch_size]").input_value() == "10"
    assert p.locator(".layer-width").evaluate_all("els => els.map(e => e.value)") == ["4", "2"]
    run = p.evaluate("window.__bpv.run()")
    assert run["layer_sizes"] == [2, 4, 2, 1]
    assert run["state"] == "paused" and run["epoch"] == 0
    p.wait_for_function("() => document.querySelector('.cost-chart .main-svg') !== null")  # Plotly loaded
    p.wait_for_function("() => document.querySelector('canvas.plane').width > 0")
    wait_curves(p)
    shot(p, "01-initial.png")
    assert watch.errors() == []
    assert watch.foreign_requests == []
    assert any("/static/vendor/plotly.min.js" in u for u in watch.requests)
    assert "#dataset=circle" in p.url and "layers=4,2" in p.url


def test_play_advances_epochs_and_cost_curve(page, server):
    p, watch = page
    p.click("#play")
    wait_state(p, "running")
    p.wait_for_function("() => window.__bpv.run().epoch >= 10", timeout=20_000)
    first = p.evaluate("window.__bpv.run().epoch")
    # while it streams, both curves are drawn live on canvases over the charts, and they keep growing with
    # the counter while Plotly (a long task per update) is left alone
    live = "() => window.__bpv.liveCharts().every(c => c.shown && c.points > 0 && c.lastEpoch >= 10)"
    p.wait_for_function(live, timeout=30_000)
    before = p.evaluate("[window.__bpv.liveCharts()[0].lastEpoch, window.__bpv.viewTimes()['charts (Plotly)'].calls]")
    p.wait_for_function("([e, x]) => window.__bpv.run().epoch > e && window.__bpv.liveCharts()[0].lastEpoch > x",
                        arg=[first, before[0]])
    assert p.evaluate("window.__bpv.viewTimes()['charts (Plotly)'].calls") == before[1]
    counter = int(p.inner_text("#epoch").replace(",", ""))
    assert counter >= first
    p.wait_for_function("() => window.__bpv.run().epoch >= 300", timeout=30_000)  # a curve worth a picture
    p.wait_for_function("() => window.__bpv.liveCharts()[0].lastEpoch >= 300")
    shot(p, "02-training.png")
    # a pointer over the chart hands it to Plotly (brought up to date) for its hover, while the run trains on
    p.locator(".cost-chart").scroll_into_view_if_needed()
    box = p.locator(".cost-chart").bounding_box()
    for dx in (0, 1):
        p.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2)
    p.wait_for_function("() => !window.__bpv.liveCharts()[0].shown && window.__bpv.run().state === 'running'")
    p.wait_for_selector(".cost-chart .hoverlayer text", timeout=30_000)
    p.mouse.move(5, 5)
    p.wait_for_function("() => window.__bpv.liveCharts()[0].shown")  # and back to the live canvas
    # keyboard: space pauses, → steps one epoch
    p.locator("body").click(position={"x": 5, "y": 790})
    p.keyboard.press(" ")
    wait_state(p, "paused")
    paused_at = settle(p)["epoch"]
    # paused: Plotly has the whole curve (hover, zoom) and the live canvases are gone
    wait_curves(p)
    p.wait_for_function("() => window.__bpv.liveCharts().every(c => !c.shown)")
    costs = p.evaluate("document.querySelector('.cost-chart').data[0].y")
    assert all(c is None or c >= 0 for c in costs) and costs[-1] < costs[0]
    p.keyboard.press("ArrowRight")
    p.wait_for_function("e => window.__bpv.shown().epoch === e + 1", arg=paused_at)
    assert watch.errors() == [] and watch.foreign_requests == []


def test_learning_rate_change_keeps_the_run(page, server):
    p, watch = page
    p.click("#play")
    p.wait_for_function("() => window.__bpv.run().epoch >= 3")
    run_id = p.evaluate("window.__bpv.run().id")
    p.select_option("[data-key=learning_rate]", "0.1")
    p.wait_for_function("() => window.__bpv.run().config.learning_rate === 0.1")
    assert p.evaluate("window.__bpv.run().id") == run_id
    assert server.get(f"/api/runs/{run_id}")["config"]["learning_rate"] == 0.1
    assert "lr=0.1" in p.url
    # any other change makes a new run (reset), as in Playground
    p.click(".add-layer")
    p.wait_for_function("id => window.__bpv.run().id !== id", arg=run_id)
    assert p.evaluate("window.__bpv.run().layer_sizes") == [2, 4, 2, 2, 1]
    assert watch.errors() == []


def test_url_hash_reproduces_the_setup(browser, server):
    p, watch = open_page(browser, server, hash="#dataset=xor&layers=3&act=relu&lr=0.1&batch=5&seed=7&noise=0.1")
    try:
        run = p.evaluate("window.__bpv.run()")
        cfg = server.get(f"/api/runs/{run['id']}")["config"]
        got = (cfg["dataset"], cfg["hidden_layers"], cfg["activation"], cfg["learning_rate"])
        assert got == ("xor", [3], "relu", 0.1)
        assert (cfg["batch_size"], cfg["seed"], cfg["noise"]) == (5, 7, 0.1)
        assert p.locator("[data-key=dataset]").input_value() == "xor"
        # the run id in the link reopens the same run
        p2, _ = open_page(browser, server, hash=p.url[p.url.index("#"):])
        assert p2.evaluate("window.__bpv.run().id") == run["id"]
        p2.context.close()
        assert watch.errors() == []
    finally:
        p.context.close()


def test_run_name_is_shown_as_text(page, server):
    p, watch = page
    evil = "<img src=x onerror=alert(1)>"
    p.fill("[data-key=runName]", evil)
    p.press("[data-key=runName]", "Enter")
    p.wait_for_function("() => window.__bpv.run().name.length > 0")
    row = p.locator(".run-row.current .run-name")
    row.wait_for()
    p.wait_for_function("t => document.querySelector('.run-row.current .run-name').textContent === t", arg=evil)
    assert p.locator(".runs-list img").count() == 0
    assert p.locator("img[src=x]").count() == 0
    # markup made from the name would have asked for /x and, failing, raised the alert: once every request is
    # answered and the page has drawn, neither happened
    quiet(p, watch)
    assert watch.dialogs == []
    assert not any(u.endswith("/x") for u in watch.requests)
    assert watch.errors() == []


def test_phone_width(browser, server):
    p, watch = open_page(browser, server, width=390, height=844, hash=LONG_RUN)
    try:
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 5")
        p.wait_for_function("() => document.querySelector('.cost-chart .main-svg') !== null")
        overflow = p.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 390, f"the page is {overflow}px wide on a 390px screen"
        net = p.evaluate("window.__bpv.network().canvas")
        assert 300 <= net["width"] <= 390
        for sel in ["canvas.net", "canvas.plane", ".cost-chart", "#play"]:
            box = p.locator(sel).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 391, sel
        p.click("#play")
        wait_state(p, "paused")
        settle(p)
        wait_curves(p)  # picture the curves caught up
        shot(p, "05-phone.png", full_page=True)
        assert watch.errors() == []
    finally:
        p.context.close()


def test_reload_draws_again(page, server):
    p, watch = page
    p.reload()
    wait_drawn(p)
    assert watch.errors() == []


def test_fresh_loads_reuse_an_untouched_draft(browser, server):
    """Opening the page twice without a run in the URL adds one draft run to the list, not two; once a
    draft has trained, the next fresh load makes a new one."""
    p1, _ = open_page(browser, server)
    first = p1.evaluate("() => window.__bpv.run().id")
    p1.context.close()
    p2, watch = open_page(browser, server)
    assert p2.evaluate("() => window.__bpv.run().id") == first
    p2.keyboard.press("ArrowRight")  # one epoch: the draft is no longer untouched
    p2.wait_for_function("() => window.__bpv.run().epoch >= 1", timeout=20_000)
    assert watch.errors() == []
    p2.context.close()
    p3, _ = open_page(browser, server)
    assert p3.evaluate("() => window.__bpv.run().id") != first
    p3.context.close()
