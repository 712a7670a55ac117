"""``Run.show()`` in a notebook: the page for the run in an iframe, on a page served from another origin (as a
notebook server's is), in real Chromium — allowed only when the server lists that origin in
``BPV_FRAME_ANCESTORS``."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Any

import httpx

from backprop_viz import Client, PageEmbed
from tests.e2e.e2e_helpers import record
from tests.support import Server


def test_the_embedded_page_shows_the_run(browser: Any, tmp_path: Path) -> None:
    notebook_dir = tmp_path / "notebook"
    notebook_dir.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(notebook_dir))
    notebook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=notebook.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{notebook.server_port}"
    srv = Server(tmp_path / "data", tmp_path / "log", env={"BPV_FRAME_ANCESTORS": f'["{origin}"]'}).start()
    try:
        with Client(srv.url) as c:
            run = c.start(dataset="xor", epochs=20, name="in a notebook")
            list(run.watch())
            cell = PageEmbed(run.page_url, height=700)._repr_html_()  # what show() displays in a notebook
            head = '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>'
            (notebook_dir / "index.html").write_text(f"{head}<body>{cell}</body></html>")
            page = browser.new_context(viewport={"width": 1300, "height": 800}).new_page()
            watch = record(page)
            page.goto(origin + "/index.html")
            page.wait_for_selector("iframe")
            frame = page.frame_locator("iframe")
            inner = page.frames[1]
            inner.wait_for_function("id => window.__bpv && window.__bpv.run() && window.__bpv.run().id === id && "
                                    "window.__bpv.network() && window.__bpv.network().frames > 0",
                                    arg=run.id, timeout=30_000)
            assert frame.locator("body").count() == 1
            assert watch.foreign_requests == [] and watch.errors() == [], (watch.foreign_requests, watch.errors())
            page.context.close()
        headers = httpx.get(srv.url + "/").headers
        assert f"frame-ancestors 'self' {origin}" in headers["content-security-policy"]
        assert "x-frame-options" not in headers
    finally:
        srv.stop()
        notebook.shutdown()


def test_framing_is_refused_by_default(server: Server) -> None:
    headers = httpx.get(server.url + "/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
