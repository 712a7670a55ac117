"""Security: the Content-Security-Policy, no inline script or handler in the page's files, the WebSocket's
Origin check, the optional API token (both ways), CORS off unless configured.

(That run names show as text in the page is tested in Chromium by tests/e2e; uploads stored under
generated names by test_reliability_bad_input.py.)
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests import support as kit

ROOT = Path(__file__).resolve().parents[2]


# -- CSP ---------------------------------------------------------------------------------------------------
def _csp(r: httpx.Response) -> dict[str, list[str]]:
    header = r.headers.get("content-security-policy")
    assert header, f"no CSP on {r.request.url}"
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


FOREIGN = re.compile(r"^(\*|https?:|wss?:|data:|blob:|[a-z0-9.-]+\.[a-z]{2,}|'unsafe-eval'|'unsafe-hashes'"
                     r"|'strict-dynamic'|'wasm-unsafe-eval')", re.I)


@pytest.mark.parametrize("path", ["/", "/docs", "/openapi.json", "/api/runs", "/static/js/api.js", "/nope"])
def test_the_csp_allows_only_our_own_origin_for_scripts_styles_and_connections(http: httpx.Client,
                                                                                path: str) -> None:
    r = http.get(path)
    csp = _csp(r)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"], "scripts: our origin only, no inline, no eval"
    assert csp["connect-src"] == ["'self'"], "fetch and WebSocket: our origin only"
    styles = csp.get("style-src", csp["default-src"])
    assert "'self'" in styles and not [s for s in styles if FOREIGN.match(s)], styles
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] in (["'none'"], ["'self'"])
    assert r.headers["x-content-type-options"] == "nosniff"


def test_the_docs_work_offline_under_the_csp(http: httpx.Client) -> None:
    """/docs loads Swagger UI from this server (no CDN, no inline script), so the CSP does not break it."""
    html = http.get("/docs").text
    for src in re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html) + re.findall(r"<link[^>]*href=\"([^\"]+)\"",
                                                                                 html):
        if src.startswith("data:"):
            continue
        assert src.startswith("/"), f"/docs loads {src} from elsewhere"
        assert http.get(src).status_code == 200, src


# -- no inline script or handler in the page's files ----------------------------------------------------------
PAGE_FILES = sorted(p for p in [*ROOT.glob("templates/**/*"), *ROOT.glob("static/**/*")]
                    if p.is_file() and p.suffix in (".html", ".js", ".css", ".svg")
                    and "vendor" not in p.parts)
INLINE_HANDLER = re.compile(r"""<[a-z][^>]*\s(on[a-z]+)\s*=""", re.I | re.S)
HANDLER_IN_JS = re.compile(r"""<[a-z][^<>\n]*\son[a-z]+\s*=|setAttribute\(\s*['"]on[a-z]+""", re.I)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)


def test_the_page_files_exist() -> None:
    assert any(p.suffix == ".html" for p in PAGE_FILES) and any(p.suffix == ".js" for p in PAGE_FILES)


@pytest.mark.parametrize("path", PAGE_FILES, ids=[str(p.relative_to(ROOT)) for p in PAGE_FILES])
def test_no_inline_scripts_event_handlers_or_eval(path: Path) -> None:
    text = path.read_text(errors="replace")
    if path.suffix in (".html", ".svg"):
        assert not INLINE_HANDLER.search(text), f"inline event handler: {INLINE_HANDLER.search(text)}"
        assert not INLINE_SCRIPT.search(text), f"inline <script>: {INLINE_SCRIPT.search(text)}"
        assert not re.search(r"<style[\s>]", text, re.I), "an inline <style> element"
    if path.suffix == ".js":
        assert not HANDLER_IN_JS.search(text), f"an event handler written as markup: {HANDLER_IN_JS.search(text)}"
        assert not re.search(r"\beval\s*\(|new\s+Function\s*\(", text), "eval / new Function"
    assert "javascript:" not in text.lower(), "a javascript: URL"


def test_the_served_page_has_no_inline_script_either(http: httpx.Client) -> None:
    html = http.get("/").text
    assert not INLINE_HANDLER.search(html) and not INLINE_SCRIPT.search(html)
    for src in re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html):
        assert src.startswith("/"), f"the page loads a script from elsewhere: {src}"


# -- the WebSocket's Origin check -------------------------------------------------------------------------------
async def _first(url: str, origin: str | None, headers: dict[str, str] | None = None) -> Any:
    """The first message, or ('closed', code, reason)."""
    extra = dict(headers or {})
    if origin is not None:
        extra["Origin"] = origin
    try:
        async with websockets.connect(url, additional_headers=extra, compression=None, max_size=2**26) as ws:
            msg = await asyncio.wait_for(ws.recv(), 10)
            return kit.strict_loads(msg) if isinstance(msg, str) else msg
    except websockets.exceptions.ConnectionClosed as e:
        return ("closed", e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else "")


def _origin_verdicts(srv: Any, origins: list[str | None]) -> dict[str | None, Any]:
    with srv.client() as http:
        run = kit.create_run(http, start=False)
    url = f"{srv.ws_url}/ws/runs/{run['id']}"
    return {o: asyncio.run(_first(url, o)) for o in origins}


def test_the_websocket_accepts_its_own_origin_and_closes_1008_on_a_foreign_one(make_server: Any) -> None:
    srv = make_server()
    own = f"http://127.0.0.1:{srv.port}"
    foreign = ["http://evil.example", f"http://127.0.0.1:{srv.port}.evil.example", f"http://localhost:{srv.port + 1}",
               "null", f"https://evil.example/http://127.0.0.1:{srv.port}", "http://x"]
    verdicts = _origin_verdicts(srv, [own, None, *foreign])
    assert verdicts[own]["type"] == "hello"
    assert verdicts[None]["type"] == "hello", "no Origin (not a browser) is allowed"
    for o in foreign:
        assert verdicts[o][:2] == ("closed", 1008) and "origin" in verdicts[o][2], (o, verdicts[o])


def test_allowed_origins_are_configurable(make_server: Any) -> None:
    srv = make_server(BPV_ALLOWED_ORIGINS='["http://x", "https://class.example"]')
    own = f"http://127.0.0.1:{srv.port}"
    verdicts = _origin_verdicts(srv, [own, "http://x", "https://class.example", "http://evil.example"])
    assert all(verdicts[o]["type"] == "hello" for o in (own, "http://x", "https://class.example"))
    assert verdicts["http://evil.example"][:2] == ("closed", 1008)


# -- the API token ------------------------------------------------------------------------------------------
TOKEN = "s3cr3t-token-42"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _writes(run_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    csv = "x1,x2,label\n" + "\n".join(f"{i % 5},{i % 7},{i % 2}" for i in range(20))
    return [
        ("POST", "/api/runs", {"json": {"start": False}}),
        ("PATCH", f"/api/runs/{run_id}", {"json": {"learning_rate": 0.1}}),
        ("POST", f"/api/runs/{run_id}/step", {"json": {"unit": "epoch"}}),
        ("POST", f"/api/runs/{run_id}/resume", {}),
        ("POST", f"/api/runs/{run_id}/pause", {}),
        ("POST", f"/api/runs/{run_id}/stop", {}),
        ("POST", "/api/datasets", {"files": {"file": ("d.csv", csv.encode())}}),
        ("DELETE", f"/api/runs/{run_id}", {}),
    ]


def _reads(run_id: str) -> list[str]:
    return ["/api/runs", f"/api/runs/{run_id}", f"/api/runs/{run_id}/history", f"/api/runs/{run_id}/snapshots",
            f"/api/runs/{run_id}/snapshots/3", f"/api/runs/{run_id}/export", f"/api/runs/{run_id}/data",
            "/api/datasets", "/api/datasets/circle"]


@pytest.mark.parametrize("reads_need_it", [False, True], ids=["reads open", "reads need the token"])
def test_with_a_token_every_write_needs_it_and_reads_as_configured(make_server: Any, reads_need_it: bool) -> None:
    env = {"BPV_API_TOKEN": TOKEN}
    if reads_need_it:
        env["BPV_TOKEN_FOR_READS"] = "true"
    srv = make_server(**env)
    with srv.client() as anon, srv.client(headers=BEARER) as auth, \
            srv.client(headers={"X-API-Token": TOKEN}) as auth2, \
            srv.client(headers={"Authorization": "Bearer wrong"}) as wrong:
        run = kit.create_run(auth, start=False)
        kit.wait_epoch(auth, run["id"], 0)
        for method, path, kw in _writes(run["id"]):
            for who in (anon, wrong):
                r = who.request(method, path, **kw)
                assert r.status_code == 401, f"{method} {path} without the token: {r.status_code}"
                assert "token" in kit.strict_loads(r.text)["detail"]
                assert r.headers.get("www-authenticate") == "Bearer"
            r = (auth if method != "PATCH" else auth2).request(method, path, **kw)
            assert r.status_code in (200, 201, 204), f"{method} {path} with the token: {r.status_code} {r.text}"
        run = kit.create_run(auth, epochs=3)
        kit.wait_state(auth, run["id"], "done")
        for path in _reads(run["id"]):
            assert auth.get(path).status_code == 200, path
            status = anon.get(path).status_code
            assert status == (401 if reads_need_it else 200), f"GET {path} without the token: {status}"
        assert anon.get("/healthz").status_code == 200
        page = anon.get("/")  # with a token, the page's login form
        assert page.status_code == 401 and 'name="token"' in page.text

        live = kit.create_run(auth, start=False)
    url = f"{srv.ws_url}/ws/runs/{live['id']}"
    first = asyncio.run(_first(url, None))
    if reads_need_it:
        assert first[:2] == ("closed", 1008) and "token" in first[2], first
        assert asyncio.run(_first(f"{url}?token=wrong", None))[:2] == ("closed", 1008)
        assert asyncio.run(_first(f"{url}?token={TOKEN}", None))["type"] == "hello"
        assert asyncio.run(_first(url, None, BEARER))["type"] == "hello"
    else:  # an anonymous stream reads; its control messages need the token
        assert first["type"] == "hello"
        replies = asyncio.run(_control(url, [{"type": "control", "action": "step"},
                                             {"type": "probe", "index": 3},
                                             {"type": "control", "action": "step", "token": "wrong"},
                                             {"type": "control", "action": "step", "token": TOKEN}]))
        assert [r.get("status") for r in replies[:3]] == [401, 401, 401], replies
        assert all("token" in r["message"] for r in replies[:3])
        assert replies[3] is None, "a control message with the token is carried out without an error"
    # a stream that logged in with the token needs it on no message
    replies = asyncio.run(_control(f"{url}?token={TOKEN}", [{"type": "control", "action": "step"},
                                                           {"type": "probe", "index": 3}]))
    assert replies == [None, None], replies


async def _control(url: str, messages: list[dict[str, Any]]) -> list[Any]:
    """Send each message and return the error it gets, or None. Each is followed by a marker that always gets
    an error (an unknown type): the first error after a message is either its own or the marker's — no
    waiting for something that may not come."""
    out: list[Any] = []
    async with websockets.connect(url, compression=None, max_size=2**26) as ws:
        for m in messages:
            await ws.send(json.dumps(m))
            await ws.send(json.dumps({"type": "marker"}))
            errors = []
            while not errors or "marker" not in errors[-1]["message"]:
                msg = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(msg, str) and (body := kit.strict_loads(msg))["type"] == "error":
                    errors.append(body)
            out.append(errors[0] if len(errors) > 1 else None)
    return out


def test_without_a_token_setting_nothing_needs_one(http: httpx.Client) -> None:
    run = kit.create_run(http, start=False)
    assert http.post(f"/api/runs/{run['id']}/step").status_code == 200
    assert http.delete(f"/api/runs/{run['id']}").status_code == 204


# -- CORS ---------------------------------------------------------------------------------------------------
def test_cors_is_off_by_default(http: httpx.Client) -> None:
    for r in (http.get("/api/runs", headers={"Origin": "http://evil.example"}),
              http.options("/api/runs", headers={"Origin": "http://evil.example",
                                                 "Access-Control-Request-Method": "POST"})):
        assert not any(h.lower().startswith("access-control-") for h in r.headers), dict(r.headers)


def test_cors_answers_only_the_configured_origins(make_server: Any) -> None:
    srv = make_server(BPV_CORS_ORIGINS='["http://class.example"]')
    with srv.client() as http:
        ok = http.get("/api/runs", headers={"Origin": "http://class.example"})
        assert ok.headers.get("access-control-allow-origin") == "http://class.example"
        pre = http.options("/api/runs", headers={"Origin": "http://class.example",
                                                 "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 200 and pre.headers.get("access-control-allow-origin") == "http://class.example"
        other = http.get("/api/runs", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        bad = http.options("/api/runs", headers={"Origin": "http://evil.example",
                                                 "Access-Control-Request-Method": "POST"})
        assert bad.headers.get("access-control-allow-origin") != "http://evil.example"


# -- no user-given path is ever opened --------------------------------------------------------------------------
@pytest.mark.parametrize("path", [
    "/static/../app/config.py", "/static/%2e%2e/pyproject.toml", "/static/..%2fpyproject.toml",
    "/static/vendor/swagger/../../../pyproject.toml", "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static//etc/passwd", "/static/vendor/plotly.min.js/../../../pyproject.toml",
    "/api/datasets/..%2f..%2fetc%2fpasswd", "/api/datasets/%2fetc%2fpasswd",
])
def test_static_files_and_dataset_names_never_reach_outside(server: Any, path: str) -> None:
    status, body = _raw_get(server.port, path)  # by hand: HTTP clients would normalise the dots away
    assert status in (400, 404, 422), f"{path}: {status}"
    assert b"root:" not in body and b"[project]" not in body and b"BPV_" not in body


def _raw_get(port: int, path: str) -> tuple[int, bytes]:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data.split(b"\r\n\r\n", 1)[-1]
