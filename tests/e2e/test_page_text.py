"""Text is text: every string a person gives — run, dataset, column and class names — is shown as the text it
is, everywhere a name appears (the runs list, the overlay's legend and Plotly's hover, the dataset menu and
thumbnails, the data panel, the diagram's hover box, the inspector, messages): markup in a name makes no
element, loads nothing and opens no dialog."""

from __future__ import annotations

from e2e_helpers import LONG_RUN, open_page, quiet, settle, shot, wait_drawn, wait_state
from test_page_canvas import SAMPLE_POINTS

LINK = '<a href="https://example.com/x">X</a><span style="font-size:60px">BIG</span>'
IMG = "<img src=x onerror=alert(1)>"

# elements a name could have made: none may exist anywhere in the document (SVG included)
MADE = r"""() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    const href = el.getAttribute('href') || el.getAttribute('xlink:href') || '';
    if (href.includes('example.com')) bad.push('link ' + el.outerHTML.slice(0, 80));
    if (el.tagName.toLowerCase() === 'img') bad.push('img ' + el.outerHTML.slice(0, 80));
    if (/font-size:\s*60px/.test(el.getAttribute('style') || '')) bad.push('style ' + el.outerHTML.slice(0, 80));
    if (el.hasAttribute('onerror')) bad.push('onerror ' + el.outerHTML.slice(0, 80));
  }
  return bad;
}"""


def csv_quoted(values: list[str]) -> str:
    return ",".join('"' + v.replace('"', '""') + '"' for v in values)


def test_names_with_markup_are_shown_as_text_everywhere(browser, server):
    # a 2-D upload: the names of its columns, its classes and itself are markup
    rows = [csv_quoted([LINK, IMG, "label"])]
    for k in range(60):
        x, y = (k % 7) - 3.0, (k % 5) - 2.0
        rows.append(f"{x},{y}," + csv_quoted([LINK if x * y >= 0 else IMG]))
    flat = server.upload_csv("\n".join(rows) + "\n", name=LINK)
    # a 3-column upload with three classes named in markup: the confusion matrix names them
    rows = [csv_quoted(["a", IMG, "c", "label"])]
    for k in range(90):
        c = k % 3
        rows.append(f"{c + 0.1 * (k % 5)},{-c},{c * 2}," + csv_quoted([[LINK, IMG, "plain"][c]]))
    wide = server.upload_csv("\n".join(rows) + "\n", name=IMG)
    other = server.send("POST", "/api/runs", {"name": IMG, "epochs": 5, "speed": None})
    p, watch = open_page(browser, server, hash=f"#dataset={flat['name']}&layers=3&" + LONG_RUN[1:])
    try:
        # the run's own name, typed in the form
        p.fill("[data-key=runName]", LINK)
        p.press("[data-key=runName]", "Enter")
        p.wait_for_function("t => window.__bpv.run().name === t", arg=LINK)
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 10", timeout=30_000)
        p.click("#play")
        wait_state(p, "paused")
        settle(p)
        # the runs list (both runs), ticked for the overlay: our legend and Plotly's hover
        p.click(".runs-refresh")
        run_id = p.evaluate("window.__bpv.run().id")
        for rid in (run_id, other["id"]):
            p.locator(f".run-row[data-run-id='{rid}'] .overlay-box").check()
        p.wait_for_function("() => document.querySelector('.cost-chart').data.length >= 4", timeout=30_000)
        legend = p.inner_text("#charts-panel .chart-legend")
        assert f"{IMG} (train)" in legend
        assert p.locator(f".run-row[data-run-id='{run_id}'] .run-name").inner_text() == LINK
        p.locator(".cost-chart").scroll_into_view_if_needed()
        box = p.locator(".cost-chart .nsewdrag").first.bounding_box()
        # at epoch 2, where the other run (5 epochs) has a point however far this one went before the pause
        x = p.evaluate("() => { const el = document.querySelector('.cost-chart'), xa = el._fullLayout.xaxis;"
                       " return el.getBoundingClientRect().left + xa._offset + xa.l2p(2); }")
        for dx in (1, 0):  # Plotly hovers on a move within its plot
            p.mouse.move(x + dx, box["y"] + box["height"] * 0.5)
        p.wait_for_selector(".cost-chart .hoverlayer text", timeout=10_000)
        hover = " ".join(p.locator(".cost-chart .hoverlayer text").all_text_contents())
        assert IMG in hover, hover  # the name, as its characters
        p.evaluate("window.scrollTo(0, 0)")
        # the data panel, the dataset menu, the thumbnails' tooltips, the diagram's captions and hover box
        names = p.locator(".input-table td.name").evaluate_all("els => els.map(e => e.textContent)")
        assert names == [LINK, IMG]
        assert LINK in p.locator("[data-key=dataset] option:checked").inner_text()
        assert p.get_attribute(f".thumb[data-dataset='{flat['name']}']", "title").startswith(LINK)
        net = p.evaluate("window.__bpv.network()")
        x0 = next(n for n in net["neurons"] if n["l"] == 0 and n["j"] == 1)
        p.mouse.move(net["canvas"]["left"] + x0["x"] + x0["size"] / 2, net["canvas"]["top"] + x0["y"] + x0["size"] / 2)
        p.wait_for_selector(".tip:not([hidden])")
        assert IMG in p.inner_text(".tip")
        # the inspector names the input of an edge
        e = max((q for q in p.evaluate(SAMPLE_POINTS) if q["l"] == 1 and q["i"] == 0), key=lambda q: q["clear"])
        p.mouse.click(net["canvas"]["left"] + e["x"], net["canvas"]["top"] + e["y"])
        p.wait_for_selector(".inspector-body mn[data-role=w-new]")
        assert f"from input 1 ({LINK})" in p.inner_text(".inspector-body")
        shot(p, "33-names-as-text.png")
        assert p.evaluate(MADE) == []
        # the other upload: its classes in the confusion matrix, its name in the menu and a message
        p.select_option("[data-key=dataset]", wide["name"])
        p.wait_for_function("n => window.__bpv.run().config.dataset === n", arg=wide["name"])
        wait_drawn(p)
        p.click("#step")
        p.wait_for_selector("canvas.confusion:not([hidden])")
        labels = p.evaluate("() => document.querySelector('canvas.confusion').labels")
        assert labels["names"] == [LINK, IMG, "plain"]
        box = p.locator("canvas.confusion").bounding_box()
        p.mouse.move(box["x"] + labels["pad"] / 2, box["y"] + labels["top"] + labels["cell"] * 1.5)
        p.wait_for_function("t => document.querySelector('canvas.confusion').title === 'true: ' + t", arg=IMG)
        assert IMG in p.locator("[data-key=dataset] option:checked").inner_text()
        # an upload through the form: its name in the message
        p.click(".upload summary")
        p.set_input_files("#upload-form input[type=file]", files=[{"name": "n.csv", "mimeType": "text/csv",
                          "buffer": ("a,b,label\n" + "".join(f"{k},{k % 3},{k % 2}\n" for k in range(20))).encode()}])
        p.fill("#upload-form [name=name]", LINK)
        p.click("#upload-form button[type=submit]")
        p.wait_for_function("t => [...document.querySelectorAll('.message')].some(m => m.textContent.includes(t))",
                            arg=LINK)
        quiet(p, watch)  # every answer applied and drawn: markup, if any were made, would be there now
        assert p.evaluate(MADE) == []
        assert watch.dialogs == []
        assert not any(u.endswith("/x") or "example.com" in u for u in watch.requests), watch.requests
        assert watch.errors(ignore=("Failed to load resource",)) == []
    finally:
        p.context.close()
