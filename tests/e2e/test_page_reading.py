"""Reading the page: whole names (cut with "…" and a tooltip), a net of 30 inputs with its labels, the
per-layer norm chart legible and in view at 1400×900, a phone with its controls in reach, the runs list
paged, searchable and named by dataset, time-travel readouts, Space, no scroll jumps, a dark theme."""

from __future__ import annotations

import re

from e2e_helpers import LONG_RUN, element_shot, open_page, settle, shot, wait_curves, wait_drawn, wait_state

LONG = "petal length in centimetres, measured by hand"


def csv_text(columns: list[str], classes: list[str], rows: int = 90, seed: int = 0) -> str:
    import numpy as np

    rng = np.random.default_rng(seed)
    lines = [",".join(f'"{c}"' for c in columns) + ",label"]
    for r in range(rows):
        k = r % len(classes)
        x = rng.normal(k * 1.5, 1.0, len(columns))
        lines.append(",".join(f"{v:.3f}" for v in x) + f',"{classes[k]}"')
    return "\n".join(lines) + "\n"


def test_long_names_are_cut_with_their_whole_text_at_hand(browser, server):
    classes = ["Iris-setosa-from-the-gaspe-peninsula", "Iris-versicolor-of-the-long-name", "Iris-virginica-again"]
    columns = [LONG, "petal width", "sepal length (cm)", "sepal width (cm)"]
    info = server.upload_csv(csv_text(columns, classes), name="a dataset with a rather long name, for the menu")
    p, watch = open_page(browser, server, hash=f"#dataset={info['name']}&layers=5&" + LONG_RUN[1:])
    try:
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 5")
        p.click("#play")
        wait_state(p, "paused")
        settle(p)
        # every menu tells its whole choice
        for title, text in p.locator("select").evaluate_all(
                "els => els.filter(e => e.offsetParent)"
                ".map(e => [e.title, e.selectedOptions[0] ? e.selectedOptions[0].textContent : ''])"):
            assert text == "" or title.startswith(text), (title, text)
        menu = p.get_attribute("[data-key=dataset]", "title")
        assert menu.startswith("a dataset with a rather long name, for the menu"), menu
        # the inputs: the whole name in the data panel's tooltip and the diagram's hover box
        assert p.locator(".input-table td.name").first.get_attribute("title") == LONG
        net = p.evaluate("window.__bpv.network()")
        assert net["left"] > 34  # room made for the names
        x0 = next(n for n in net["neurons"] if n["l"] == 0 and n["j"] == 0)
        p.mouse.move(net["canvas"]["left"] + x0["x"] + x0["size"] / 2, net["canvas"]["top"] + x0["y"] + x0["size"] / 2)
        p.wait_for_selector(".tip:not([hidden])")
        assert LONG in p.inner_text(".tip")
        # the confusion matrix: names cut to their cell, the whole name under the pointer
        p.wait_for_selector("canvas.confusion:not([hidden])")
        box = p.locator("canvas.confusion").bounding_box()
        labels = p.evaluate("() => document.querySelector('canvas.confusion').labels")
        p.mouse.move(box["x"] + labels["pad"] / 2, box["y"] + labels["top"] + labels["cell"] * 0.5)
        title_is = "t => document.querySelector('canvas.confusion').title === t"
        p.wait_for_function(title_is, arg=f"true: {classes[0]}")
        p.mouse.move(box["x"] + labels["pad"] + labels["cell"] * 1.5, box["y"] + labels["top"] - 6)
        p.wait_for_function(title_is, arg=f"predicted: {classes[1]}")
        wait_curves(p)
        shot(p, "28-long-names.png")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_a_30_input_net_keeps_its_inputs_readable(browser, server):
    columns = [f"sensor {k:02d} reading" for k in range(30)]
    info = server.upload_csv(csv_text(columns, ["low", "high"], rows=120), name="thirty sensors")
    p, watch = open_page(browser, server, hash=f"#dataset={info['name']}&layers=6,4&" + LONG_RUN[1:])
    try:
        net = p.evaluate("window.__bpv.network()")
        first = [n for n in net["neurons"] if n["l"] == 0]
        if first and first[0].get("wide"):  # collapsed into a strip, a row per input
            assert first[0]["n"] == 30 and first[0]["cellH"] >= 8
            assert [m["rows"] for m in net["matrices"]][:1] == [30]
        else:  # or neurons big enough to read
            assert all(n["size"] >= 12 for n in first)
        hidden = [n for n in net["neurons"] if n["l"] == 1]
        assert all(n["size"] >= 14 for n in hidden), hidden  # the rest of the net does not shrink with the inputs
        # a label beside each input: ink in the left margin at every input's row
        rows = p.evaluate("""() => {
            const d = window.__bpv.network(), c = document.querySelector('canvas.net-static');
            const ctx = c.getContext('2d'), s = c.width / d.canvas.width, L = d.neurons.find(n => n.l === 0);
            const ys = L.wide ? Array.from({length: L.n}, (_, j) => L.y0 + (j + 0.5) * L.cellH)
                              : d.neurons.filter(n => n.l === 0).map(n => n.y + n.size / 2);
            return ys.map(y => {
                const px = ctx.getImageData(4 * s, Math.round((y - 3) * s), Math.round((d.left - 10) * s),
                                            Math.round(6 * s)).data;
                let n = 0; for (let k = 3; k < px.length; k += 4) if (px[k] > 0) n++; return n; });
        }""")
        assert len(rows) == 30 and all(n > 5 for n in rows), rows
        shot(p, "29-thirty-inputs.png")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_the_norm_chart_is_legible_and_in_view_at_1400x900(browser, server):
    p, watch = open_page(browser, server, width=1400, height=900, hash="#layers=6,4,3&" + LONG_RUN[1:])
    try:
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 200", timeout=60_000)
        p.click("#play")
        wait_state(p, "paused")
        settle(p)
        wait_curves(p)
        chart = p.locator(".norm-chart").bounding_box()
        assert chart["y"] >= 0 and chart["y"] + chart["height"] <= 900, chart  # in view, no scrolling
        legend = p.locator(".norm-chart").evaluate(
            "el => el.closest('.chart-wrap').previousElementSibling.getBoundingClientRect().height")
        assert legend <= 0.3 * chart["height"], (legend, chart)
        ticks = p.locator(".norm-chart .ytick text").all_text_contents()
        assert len(ticks) >= 2
        # powers of ten only ("10⁻²" is drawn as 10 with a raised −2), never "5" or "2" between them
        assert all(re.fullmatch(r"1|10|10−?\d+", re.sub(r"[\u200b\u2009 ]", "", t)) for t in ticks), ticks
        shot(p, "30-norms-1400x900.png")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_phone_keeps_play_and_the_controls_in_reach(browser, server):
    p, watch = open_page(browser, server, width=390, height=844, hash=LONG_RUN)
    try:
        assert p.evaluate("document.documentElement.scrollWidth") <= 390
        for target, sel in (("Data", "[data-key=dataset]"), ("Training", "[data-key=output_activation]"),
                            ("Runs", ".runs-search"), ("Cost", ".cost-chart")):
            p.click(f".jump button:text-is('{target}')")
            p.wait_for_function("s => { const r = document.querySelector(s).getBoundingClientRect();"
                                " return r.top >= 0 && r.bottom <= innerHeight; }", arg=sel)
            play = p.locator("#play").bounding_box()
            assert play["y"] >= 0 and play["y"] + play["height"] <= 844  # the top bar stays
        p.click(".settings-toggle")
        p.select_option("[data-key=learning_rate]", "0.1")
        p.wait_for_function("() => window.__bpv.run().config.learning_rate === 0.1")
        p.click("#play")
        wait_state(p, "running")
        assert "dataset=circle" in p.url and p.locator(".message.error").count() == 0  # the setup stays in the URL
        shot(p, "35-phone-controls.png")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_runs_list_is_paged_searchable_and_named_by_dataset(browser, server):
    for k in range(23):
        server.send("POST", "/api/runs", {"name": f"paged run {k:02d}", "epochs": 1, "speed": None})
    draft = server.send("POST", "/api/runs", {"name": "paged draft", "start": False})
    info = server.upload_csv(csv_text(["a", "b", "c"], ["x", "y"]), name="my table")
    csv_run = server.send("POST", "/api/runs", {"dataset": info["name"], "epochs": 1, "speed": None})
    p, watch = open_page(browser, server, hash=LONG_RUN)
    try:
        p.fill(".runs-search", "paged run")
        # the search's answer, not the unfiltered list still shown while it is on its way
        p.wait_for_function("() => document.querySelectorAll('.runs-list .run-row').length === 20"
                            " && document.querySelector('.runs-page').innerText.includes('of 23')", timeout=30_000)
        first = p.evaluate("window.__bpv.runsShown()")
        p.click(".runs-next")
        p.wait_for_function("() => document.querySelectorAll('.runs-list .run-row').length === 3")
        assert not set(first) & set(p.evaluate("window.__bpv.runsShown()"))
        p.click(".runs-prev")
        p.fill(".runs-search", "paged run 07")
        p.wait_for_function("() => document.querySelectorAll('.runs-list .run-row').length === 1")
        p.fill(".runs-search", "paged")
        p.wait_for_function("() => document.querySelectorAll('.runs-list .run-row').length === 20")
        assert draft["id"] not in p.evaluate("window.__bpv.runsShown()")  # an untouched draft is not listed
        p.fill(".runs-search", "my table")
        row = p.locator(f".run-row[data-run-id='{csv_run['id']}'] .run-name")
        row.wait_for()
        assert row.inner_text() == "my table · 3-4-2-1" and "csv:" not in row.inner_text()
        p.fill(".runs-search", "")
        # settings changed after training: the trained run is listed by its dataset, no "(unnamed)" appears
        p.click("#step")
        p.wait_for_function("() => window.__bpv.run().epoch >= 1")
        trained = p.evaluate("window.__bpv.run().id")
        p.click(".add-layer")
        p.wait_for_function("id => window.__bpv.run().id !== id", arg=trained)
        wait_drawn(p)
        p.wait_for_function("id => window.__bpv.runsShown().includes(id)", arg=trained)
        assert "(unnamed)" not in p.inner_text(".runs-list")
        # reset does not repeat a name
        p.fill("[data-key=runName]", "mine")
        p.press("[data-key=runName]", "Enter")
        p.wait_for_function("() => window.__bpv.run().name === 'mine'")
        p.click("#step")
        p.wait_for_function("() => window.__bpv.run().epoch >= 1")
        named = p.evaluate("window.__bpv.run().id")
        p.click("#reset")
        p.wait_for_function("id => window.__bpv.run().id !== id", arg=named)
        assert p.evaluate("window.__bpv.run().name") == "mine (2)"
        p.fill(".runs-search", "mine")
        p.wait_for_function("() => document.querySelectorAll('.runs-list .run-row').length === 2")
        names = p.locator(".runs-list .run-name").all_inner_texts()
        assert sorted(names) == ["mine", "mine (2)"]
        p.locator("#runs-panel").evaluate("el => el.scrollIntoView({block: 'center'})")
        shot(p, "31-runs-list.png")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_time_travel_readouts_space_and_no_scroll_jump(page, server):
    p, watch = page
    p.click("#play")
    p.wait_for_function("() => window.__bpv.run().epoch >= 30", timeout=30_000)
    p.click("#play")
    wait_state(p, "paused")
    now = settle(p)["epoch"]
    run_id = p.evaluate("window.__bpv.run().id")
    points = server.get(f"/api/runs/{run_id}/history")["points"]
    p.focus(".scrubber")
    p.wait_for_function("() => Number(document.querySelector('.scrubber').max) > 0")
    p.keyboard.press("Home")
    p.wait_for_function("() => !window.__bpv.view().following && window.__bpv.shown().epoch === 0")
    p.wait_for_function("() => document.querySelector('#epoch').textContent === '000,000'")
    readout = p.inner_text(".cost-readout")
    assert readout.startswith("time travel: epoch 0") and f"{points[0]['train_cost']:.4g}"[:5] in readout, readout
    p.click(".live-btn")
    p.wait_for_function("e => document.querySelector('#epoch').textContent.replace(',', '')"
                        " === String(e).padStart(6, '0')", arg=now)
    assert p.inner_text(".cost-readout").startswith(f"epoch {now}")
    # Space plays and pauses, also when a button has the focus
    p.click("#step-batch")
    p.wait_for_function("() => window.__bpv.shown().batch === 1")
    p.keyboard.press(" ")
    wait_state(p, "running")
    p.keyboard.press(" ")
    wait_state(p, "paused")
    assert p.evaluate("document.activeElement.id") == "step-batch"
    # a click on a neuron brings its equation into view without taking the play button out of it
    p.set_viewport_size({"width": 1280, "height": 640})
    p.evaluate("window.scrollTo(0, 0)")
    d = p.evaluate("window.__bpv.network()")
    n = next(x for x in d["neurons"] if x["l"] == 2 and x["j"] == 0)
    p.mouse.click(d["canvas"]["left"] + n["x"] + n["size"] / 2, d["canvas"]["top"] + n["y"] + n["size"] / 2)
    p.wait_for_selector(".inspector-body mn[data-role=delta]")
    p.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    play = p.locator("#play").bounding_box()
    head = p.locator(".inspector-head").bounding_box()
    assert 0 <= play["y"] and play["y"] + play["height"] <= 640, play
    assert play["y"] + play["height"] <= head["y"] < 640, (play, head)  # the equation's title shows, below the bar
    p.keyboard.press(" ")  # and space still plays
    wait_state(p, "running")
    assert watch.errors() == []


def test_dark_theme_follows_the_system_and_the_toggle(browser, server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1, color_scheme="dark")
    p = ctx.new_page()
    try:
        p.goto(server.url + "/" + LONG_RUN)
        wait_drawn(p)
        assert p.evaluate("document.documentElement.dataset.theme") == "dark"
        bg = p.evaluate("getComputedStyle(document.body).backgroundColor")
        assert sum(int(v) for v in re.findall(r"\d+", bg)[:3]) < 150, bg
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 100", timeout=30_000)
        p.click("#play")
        wait_state(p, "paused")
        settle(p)
        wait_curves(p)
        p.mouse.move(1, 1)
        shot(p, "32-dark.png")
        # the walkthrough in the same colours: its frame covers the diagram with the panel's own background
        p.click("#step-through")
        p.wait_for_function("() => { const w = window.__bpv.walk(); return w && w.status === 'ready' && w.drawn; }",
                            timeout=30_000)
        p.click(".walk-chip[data-step=hidden_delta]")
        p.wait_for_function("() => window.__bpv.walk().drawn.step === 'hidden_delta'")
        under = p.evaluate("Array.from(document.querySelector('canvas.walk-overlay').getContext('2d')"
                           ".getImageData(2, 60, 1, 1).data)")
        assert sum(under[:3]) < 150 and under[3] == 255, under
        p.mouse.move(1, 1)
        element_shot(p, "#network-panel", "36-dark-walkthrough.png")
        p.keyboard.press("Escape")
        p.click("#theme-toggle")
        p.wait_for_function("() => document.documentElement.dataset.theme === 'light'")
        p.reload()
        wait_drawn(p)
        assert p.evaluate("document.documentElement.dataset.theme") == "light"  # the choice is remembered
        p.click("#theme-toggle")  # back to the system's: dark, and no longer a choice of its own
        p.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
        assert p.evaluate("localStorage.getItem('bpv-theme')") is None
    finally:
        ctx.close()
