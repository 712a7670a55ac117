"""One vocabulary: the page, its URL hash and its forms take every model name, number and rule from
GET /api/catalog. No JS file names a model constant; a server with other limits gets a page with other
limits; a link with a name the catalog does not know says so; the page's decision threshold for one output
neuron is the server's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from e2e_helpers import ROOT, open_page, settle, shot, start_server, stop_server, wait_state

JS = ROOT / "static" / "js"
PAGE = ROOT / "templates" / "index.html"
# "auto" is an initialisation's name and also the page's word for "the server chooses" (hash, forms)
SHARED_WORDS = {"auto"}

STRING = re.compile(r"""'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`""")
COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
NUMBER = re.compile(r"(?<![\w.$])(\d+(?:\.\d+)?(?:e\d+)?)(?![\w.])")


def code_of(path: Path) -> tuple[str, list[str]]:
    """A JS file's code without comments and string literals, and its string literals' contents."""
    text = path.read_text(encoding="utf-8")
    literals: list[str] = []
    out: list[str] = []
    pos = 0
    # strings first, so that "//" inside a string is not a comment
    token = re.compile(STRING.pattern + "|" + COMMENT.pattern, re.S)
    for m in token.finditer(text):
        out.append(text[pos:m.start()])
        if m.group(0)[0] in "'\"`":
            literals.append(m.group(0)[1:-1])
            out.append('""')
        pos = m.end()
    out.append(text[pos:])
    return "".join(out), literals


def catalog_names(cat: dict[str, Any]) -> set[str]:
    names = {e["name"] for key in ("activations", "costs", "inits", "optimizers", "regularizations", "features")
             for e in cat[key]}
    names |= set(cat["dtypes"]) | {d["name"] for d in cat["datasets"]}
    return names - SHARED_WORDS


def catalog_numbers(cat: dict[str, Any]) -> set[float]:
    """The catalog's numbers that no page would have another reason to write (≥ 1 024: the gradient subset,
    the limits); smaller ones (thresholds, the grid) are checked by behaviour below."""
    values = [cat["grad_subset"], cat["grid_size"], cat["max_grid_neurons"], *cat["limits"].values()]
    return {float(v) for v in values if isinstance(v, int | float) and v >= 1024}


def word(name: str) -> re.Pattern[str]:
    """The name as a word of its own: not part of an identifier or of a CSS selector (canvas.plane, #momentum-x)."""
    return re.compile(r"(?<![\w^*(.#-])" + re.escape(name) + r"(?![\w^*(-])")


def test_no_js_file_names_a_model_constant(server):
    cat = server.get("/api/catalog")
    names = catalog_names(cat)
    numbers = catalog_numbers(cat)
    assert {"tanh", "softmax", "quadratic", "xavier", "momentum", "l2", "x1^2", "float64", "spiral"} <= names
    found = []
    files = sorted(JS.rglob("*.js"))
    assert len(files) > 20
    for path in files:
        code, literals = code_of(path)
        for lit in literals:
            found += [f"{path.name}: '{n}' in the string {lit[:60]!r}" for n in names if word(n).search(lit)]
        found += [f"{path.name}: the number {m.group(1)}" for m in NUMBER.finditer(code)
                  if float(m.group(1)) in numbers]
        for old in ("MAX_HIDDEN_LAYERS", "MAX_WIDTH", "DEFAULT_CONFIG", "BOUNDED", "PRIME_TEXT"):
            if re.search(rf"\b{old}\b", code):
                found.append(f"{path.name}: {old}")
    # the forms: no option whose value is a model name (they are made from the catalog)
    html = PAGE.read_text(encoding="utf-8")
    found += [f"index.html: <option value={v!r}>" for v in re.findall(r'<option value="([^"]*)"', html) if v in names]
    assert found == [], "model constants written in the page:\n" + "\n".join(found)


def test_the_checker_finds_what_it_looks_for(server, tmp_path):
    """The scan above is not vacuous: the old page's kind of line is caught."""
    cat = server.get("/api/catalog")
    sample = tmp_path / "old.js"
    sample.write_text('const ACTS = ["tanh", "relu"]; // a comment naming sigmoid\nconst K = 1024;\n', encoding="utf-8")
    code, literals = code_of(sample)
    assert any(word("tanh").search(lit) for lit in literals)
    assert not any(word("sigmoid").search(lit) for lit in literals)  # comments are not code
    assert [m.group(1) for m in NUMBER.finditer(code) if float(m.group(1)) in catalog_numbers(cat)] == ["1024"]


def test_forms_and_limits_follow_the_servers_catalog(browser, tmp_path):
    """A server with other limits: the layer editor, the number fields and the hash follow them."""
    srv = start_server(tmp_path / "data")
    srv.stop()
    srv.env.update({"BPV_MAX_LAYERS": "3", "BPV_MAX_WIDTH": "12", "BPV_MAX_EPOCHS": "5000"})
    srv.start()
    try:
        cat = srv.get("/api/catalog")
        p, watch = open_page(browser, srv, hash="#layers=4,4,4,4&epochs=9000&act=tanh")
        try:
            # the link asked for more than this server takes: refused with messages, the defaults kept
            p.wait_for_selector(".message.error")
            text = " ".join(p.locator(".message.error").all_inner_texts())
            assert "layers=4,4,4,4" in text and "epochs=9000" in text, text
            assert p.evaluate("window.__bpv.config().hidden_layers") == cat["config"]["defaults"]["hidden_layers"]
            # the forms: choices and bounds from the catalog
            acts = p.locator("[data-key=activation] option:not([disabled])").evaluate_all("os => os.map(o => o.value)")
            assert acts == [a["name"] for a in cat["activations"] if a["hidden"]]
            outs = p.locator("[data-key=output_activation] option").evaluate_all("os => os.map(o => o.value)")
            assert outs == ["", *[a["name"] for a in cat["activations"]]]
            costs = p.locator("[data-key=cost] option").evaluate_all("os => os.map(o => o.value)")
            assert costs == ["", *[c["name"] for c in cat["costs"]]]
            for key, table in (("init", "inits"), ("optimizer", "optimizers")):
                got = p.locator(f"[data-key={key}] option").evaluate_all("os => os.map(o => o.value)")
                assert got == [t["name"] for t in cat[table]]
            assert p.get_attribute("[data-key=epochs]", "max") == "5000"
            batch = cat["config"]["bounds"]["batch_size"]["maximum"]
            assert p.get_attribute("[data-key=batch_size]", "max") == str(batch)
            assert p.get_attribute(".layer-width", "max") == "12"
            p.click(".add-layer")  # 3 hidden layers: the limit
            p.wait_for_function("() => window.__bpv.run().layer_sizes.length === 5")
            assert p.locator(".add-layer").is_disabled()
            # a cost that does not fit the output is not offered
            p.select_option("[data-key=output_activation]", "softmax")
            p.wait_for_function("() => window.__bpv.config().output_activation === 'softmax'")
            enabled = p.locator("[data-key=cost] option:not([disabled])").evaluate_all("os => os.map(o => o.value)")
            assert enabled == ["", *[c["name"] for c in cat["costs"] if "softmax" in c["outputs"]]]
            assert watch.errors() == []
        finally:
            p.context.close()
    finally:
        stop_server(srv)


def test_a_link_with_an_unknown_name_says_so(browser, server):
    p, watch = open_page(browser, server, hash="#dataset=circle&act=swish&in=x1,cos(x1)&init=he&colour=red")
    try:
        p.wait_for_function("() => document.querySelectorAll('.message.error').length >= 3")
        text = " ".join(p.locator(".message.error").all_inner_texts())
        cat = server.get("/api/catalog")
        hidden = ", ".join(a["name"] for a in cat["activations"] if a["hidden"])
        assert "act=swish" in text and f"valid: {hidden}" in text, text
        assert "cos(x1)" in text and "input feature" in text, text
        assert "'colour' is not a setting" in text, text
        cfg = p.evaluate("window.__bpv.config()")
        assert cfg["activation"] == cat["config"]["defaults"]["activation"]  # refused, not half-applied
        assert cfg["features"] == cat["config"]["defaults"]["features"]
        assert cfg["init"] == "he"  # the valid parts of the link apply
        assert "init=he" in p.url and "act=swish" not in p.url
        shot(p, "23-link-errors.png")
        assert watch.errors() == []
    finally:
        p.context.close()


def test_one_relu_output_is_thresholded_as_the_server_does(browser, server):
    """A single ReLU output (targets 0 and 1): the page's predictions use the catalog's threshold, so its
    accuracy on the test outputs equals the server's, epoch for epoch."""
    cat = server.get("/api/catalog")
    relu = next(a for a in cat["activations"] if a["name"] == "relu")
    assert relu["threshold"] == (relu["targets"][0] + relu["targets"][1]) / 2
    p, watch = open_page(browser, server, hash="#dataset=moons&out=relu&cost=quadratic&layers=4&lr=0.1&epochs=100000")
    try:
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 30", timeout=60_000)
        p.click("#play")
        wait_state(p, "paused")
        shown = settle(p)
        run_id = p.evaluate("window.__bpv.run().id")
        for _ in range(3):
            p.wait_for_function("e => window.__bpv.accuracy() && window.__bpv.accuracy().epoch === e",
                                arg=shown["epoch"])
            page = p.evaluate("window.__bpv.accuracy()")
            points = server.get(f"/api/runs/{run_id}/history")["points"]
            server_acc = next(q["accuracy"] for q in points if q["epoch"] == shown["epoch"])
            assert page["count"] == len(server.get(f"/api/runs/{run_id}/data")["test"]["y"])
            assert abs(page["accuracy"] - server_acc) < 1e-9, (page, server_acc)
            p.keyboard.press("ArrowRight")
            shown = settle(p)
        assert watch.errors() == []
    finally:
        p.context.close()
