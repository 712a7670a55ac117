"""Safe to share, in real Chromium (issue 11): the page works on a server that needs a token — logged in by the
login URL the server printed — and a page from another origin (another port of the same host: the same
*site*, so even SameSite=Strict cookies go along) cannot create a run by a form, by a text/plain fetch or by
a multipart upload, nor stop one, whether the server has a token (and the browser its session cookie) or not.

The foreign requests are opaque to the attacking page (no-cors), so the verdict is the server's: what it
stores, read with the token, and its access log's 403s (one per attempt).
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_helpers import Server, record, shot, wait_drawn, wait_state

from tests.support import strict_loads

CSV = "x1,x2,label\\n" + "\\n".join(f"{i % 5},{i % 7},{i % 2}" for i in range(30))

ATTACK = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>a page elsewhere</title></head><body>
<form id="form" method="post" action="{target}/api/runs"><input name="name" value="pwned-form"></form>
<script>
window.results = null;
(async () => {{
  const send = (path, init) => fetch("{target}" + path, {{mode: "no-cors", credentials: "include", ...init}})
    .then(() => "sent", (e) => "blocked: " + e);
  const upload = new FormData();
  upload.append("file", new Blob(["{csv}"], {{type: "text/csv"}}), "pwned.csv");
  upload.append("name", "pwned-upload");
  const out = {{}};
  out.textPlain = await send("/api/runs", {{method: "POST", headers: {{"Content-Type": "text/plain"}},
                                           body: JSON.stringify({{name: "pwned-text"}})}});
  out.multipart = await send("/api/datasets", {{method: "POST", body: upload}});
  out.stop = await send("/api/runs/{victim}/stop", {{method: "POST"}});
  out.json = await fetch("{target}/api/runs?via=json", {{method: "POST", credentials: "include",
      headers: {{"Content-Type": "application/json", "X-CSRF-Token": "guess"}}, body: "{{}}"}})
    .then((r) => "answered " + r.status, (e) => "blocked: " + e);
  window.results = out;
}})();
</script></body></html>"""


@pytest.fixture
def foreign_site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain web server on another port: the attacker's site (same host, another origin)."""
    root = tmp_path / "elsewhere"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield root, f"http://127.0.0.1:{site.server_port}"
    finally:
        site.shutdown()


def _attack(browser_context: Any, site: tuple[Path, str], srv: Server, victim: str) -> dict[str, str]:
    """Open the foreign page in the user's browser (with whatever cookies it holds) and let it try."""
    root, origin = site
    (root / "attack.html").write_text(ATTACK.format(target=srv.url, csv=CSV, victim=victim))
    page = browser_context.new_page()
    page.goto(f"{origin}/attack.html")
    page.wait_for_function("() => window.results !== null", timeout=30_000)
    results: dict[str, str] = page.evaluate("window.results")
    with page.expect_navigation():
        page.evaluate("document.getElementById('form').submit()")  # a top-level form POST, as a link would do
    results["form"] = page.content()
    page.close()
    return results


def _nothing_changed(srv: Server, token: str | None, victim: str, log_before: int) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=srv.url, headers=headers, timeout=30) as api:
        runs = strict_loads(api.get("/api/runs", params={"limit": 200}).text)["items"]
        assert not [r["name"] for r in runs if r["name"].startswith("pwned")], "a foreign page created a run"
        assert not [d for d in strict_loads(api.get("/api/datasets").text)["items"] if "pwned" in d["name"]]
        assert strict_loads(api.get(f"/api/runs/{victim}").text)["state"] == "running", "a foreign page stopped it"
    log = srv.log()[log_before:]
    refused = re.findall(r'"POST (/api/[^ ]+) HTTP/1.1" 403', log)
    # Playwright answers CORS preflights itself while it routes a context's requests (record()), so even the
    # JSON POST with a made-up X-CSRF-Token reaches the server here — which refuses it on its Origin.
    expected = ["/api/runs", "/api/runs", "/api/runs?via=json", "/api/datasets", f"/api/runs/{victim}/stop"]
    assert sorted(refused) == sorted(expected), log
    assert '"POST /api/runs HTTP/1.1" 201' not in log


def _login_url(srv: Server) -> str:
    found = re.findall(r"log in at (http://\S+)", srv.log())
    assert len(found) == 1, srv.log()
    return str(found[0])


def test_with_a_token_the_page_works_and_a_foreign_page_cannot_drive_it(
        browser: Any, tmp_path: Path, foreign_site: tuple[Path, str]) -> None:
    srv = Server(tmp_path / "data", tmp_path / "server.log", host="0.0.0.0")  # noqa: S104 - as the Docker image
    srv.start(timeout=60)
    try:
        url = _login_url(srv)
        token = url.split("?token=", 1)[1]
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        gate = context.new_page()
        gate.goto(srv.url + "/")
        assert gate.locator("input[name=token]").count() == 1, "no cookie yet: the login form"
        shot(gate, "09-login.png")
        gate.close()

        page = context.new_page()
        watch = record(page)
        page.goto(url)
        assert page.url == srv.url + "/" or page.url.startswith(srv.url + "/#"), "the token left the address bar"
        wait_drawn(page)  # the page created its run (POST with the cookie and the CSRF header) and drew it
        page.click("#play")
        wait_state(page, "running")
        page.wait_for_function("() => window.__bpv.run().epoch >= 10", timeout=30_000)  # over the stream
        victim = page.evaluate("window.__bpv.run().id")
        uploaded = page.evaluate("""async (csv) => {
            const { api } = await import("/static/js/api.js");
            const form = new FormData();
            form.append("file", new Blob([csv], {type: "text/csv"}), "mine.csv");
            form.append("label_column", "label");
            return (await api.uploadCsv(form)).name;
        }""", CSV.replace("\\n", "\n"))
        assert uploaded.startswith("csv:")
        assert watch.errors() == [] and watch.foreign_requests == [], (watch.errors(), watch.foreign_requests)
        cookies = {c["name"]: c for c in context.cookies(srv.url)}
        session = cookies[f"bpv-session-{srv.port}"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert page.evaluate("document.cookie").find("bpv-session") == -1, "the session cookie is not readable"

        log_before = len(srv.log())
        results = _attack(context, foreign_site, srv, victim)
        assert results["json"].startswith("blocked"), results  # a JSON POST needs CORS, which is off
        assert "X-CSRF-Token" in results["form"] or "cross-origin" in results["form"], results["form"][:500]
        _nothing_changed(srv, token, victim, log_before)
        context.close()
    finally:
        srv.stop()


def test_without_a_token_a_foreign_page_cannot_drive_it_either(
        browser: Any, tmp_path: Path, foreign_site: tuple[Path, str]) -> None:
    srv = Server(tmp_path / "data", tmp_path / "server.log").start(timeout=60)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        watch = record(page)
        page.goto(srv.url + "/")
        wait_drawn(page)
        page.click("#play")
        wait_state(page, "running")
        victim = page.evaluate("window.__bpv.run().id")
        assert watch.errors() == []
        log_before = len(srv.log())
        results = _attack(context, foreign_site, srv, victim)
        assert results["json"].startswith("blocked"), results
        _nothing_changed(srv, None, victim, log_before)
        context.close()
    finally:
        srv.stop()
