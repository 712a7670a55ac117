"""Safe to share (issue 11): no other web page can drive the server, no rebound DNS name reaches it, and the
token does not switch the page off. Against a REAL server, with the requests an attacker's page makes.

- CSRF: a form, text/plain or multipart POST (what any page may send without asking), or one with another
  origin's ``Origin`` / ``Sec-Fetch-Site``, is refused with 403 on every state-changing route — and changes
  nothing; API clients (JSON, no Origin) and the page (its own Origin and the CSRF header) still work.
- DNS rebinding: a Host that is not a loopback name (or listed in BPV_ALLOWED_HOSTS) gets 403, and the stream
  closes with 1008 and a reason.
- The login: ``/?token=`` sets an HttpOnly, SameSite=Strict session cookie and redirects to ``/``; the cookie
  works only with the CSRF header; a Bearer token works alone; the stream takes the cookie or the token and
  compares the Origin's scheme too.
- Listening beyond loopback with no token: the server makes one, prints one login URL, and wants it for
  reads as well.

(The page itself, in Chromium, with a token and under a foreign page's attacks: tests/e2e/test_page_security.py.)
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.security import Policy
from tests import support as kit

TOKEN = "t0ken-for-the-csrf-tests"
CSV = "x1,x2,label\n" + "\n".join(f"{i % 5},{i % 7},{i % 2}" for i in range(20))


def _foreign(port: int) -> str:
    """A page on another port of the same host: the same site (SameSite cookies go along), another origin."""
    return f"http://127.0.0.1:{port + 1}"


def _targets(run_id: str) -> list[tuple[str, str]]:
    return [("POST", "/api/runs"), ("POST", f"/api/runs/{run_id}/pause"), ("POST", f"/api/runs/{run_id}/resume"),
            ("POST", f"/api/runs/{run_id}/step"), ("POST", f"/api/runs/{run_id}/stop"),
            ("PATCH", f"/api/runs/{run_id}"), ("DELETE", f"/api/runs/{run_id}"), ("POST", "/api/datasets")]


def _attacks(port: int) -> dict[str, dict[str, Any]]:
    """What another page can make a browser send without a CORS preflight, as the browser sends it."""
    origin = {"Origin": _foreign(port), "Sec-Fetch-Site": "same-site"}
    return {
        "form": {"data": {"name": "pwned"}},
        "empty text/plain": {"content": b"", "headers": {"Content-Type": "text/plain"}},
        "text/plain JSON": {"content": b'{"name": "pwned"}', "headers": {"Content-Type": "text/plain"}},
        "form from another origin": {"data": {"name": "pwned"}, "headers": origin},
        "text/plain from another site": {"content": b"{}", "headers": {"Content-Type": "text/plain;charset=UTF-8",
                                                                       "Origin": "http://evil.example",
                                                                       "Sec-Fetch-Site": "cross-site"}},
        "multipart from another origin": {"files": {"file": ("d.csv", CSV.encode(), "text/csv")},
                                          "data": {"label_column": "label"}, "headers": origin},
        "no body from another origin": {"headers": origin},
        "multipart, Sec-Fetch-Site only": {"files": {"file": ("d.csv", CSV.encode(), "text/csv")},
                                           "headers": {"Sec-Fetch-Site": "cross-site"}},
    }


def _state(http: httpx.Client) -> tuple[Any, ...]:
    runs = kit.strict_loads(http.get("/api/runs", params={"limit": 200}).text)["items"]
    datasets = kit.strict_loads(http.get("/api/datasets").text)["items"]
    return (tuple(sorted((r["id"], r["state"], r["name"], r["config"]["learning_rate"]) for r in runs)),
            tuple(sorted(d["name"] for d in datasets)))


# -- CSRF without a token: today's no-login server -----------------------------------------------------------------
def test_no_other_page_can_create_steer_or_upload(server: Any, http: httpx.Client) -> None:
    run = kit.create_run(http, start=False, name="mine")
    before = _state(http)
    for name, kw in _attacks(server.port).items():
        for method, path in _targets(run["id"]):
            r = http.request(method, path, **kw)
            assert r.status_code == 403, f"{name} → {method} {path}: {r.status_code} {r.text[:200]}"
            detail = kit.strict_loads(r.text)["detail"]
            assert re.search(r"cross-(origin|site)|X-CSRF-Token", detail), detail
    assert _state(http) == before, "a refused request changed something"


def test_api_clients_and_the_page_itself_still_work(server: Any, http: httpx.Client) -> None:
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    run = kit.create_run(http, start=False)  # JSON, no Origin: an API client
    assert http.post(f"/api/runs/{run['id']}/step").status_code == 200
    assert http.post("/api/runs", json={"start": False}, headers=own).status_code == 201  # the page's JSON
    upload = {"files": {"file": ("d.csv", CSV.encode(), "text/csv")}, "data": {"label_column": "label"}}
    assert http.post("/api/datasets", **upload).status_code == 201, "an API client's upload (no Origin)"
    r = http.post("/api/datasets", headers=own, **upload)
    assert r.status_code == 403 and "X-CSRF-Token" in r.text, "a browser upload needs the CSRF header"
    page = http.get("/")  # the page sets the CSRF cookie
    csrf = page.cookies.get("bpv-csrf")
    assert csrf and "samesite=strict" in page.headers["set-cookie"].lower()
    assert "httponly" not in page.headers["set-cookie"].lower(), "the page's script reads it"
    r = http.post("/api/datasets", headers={**own, "X-CSRF-Token": csrf}, **upload)
    assert r.status_code == 201, r.text
    r = http.post("/api/datasets", headers={**own, "X-CSRF-Token": csrf + "x"}, **upload)
    assert r.status_code == 403, "the header must equal the cookie"


def test_the_origin_check_compares_scheme_host_and_port(server: Any, http: httpx.Client) -> None:
    p = server.port
    for origin in (f"https://127.0.0.1:{p}", f"http://127.0.0.1:{p + 1}", f"http://localhost:{p}",
                   f"http://127.0.0.1:{p}.evil.example", "null", f"ws://127.0.0.1:{p}", "http://127.0.0.1"):
        r = http.post("/api/runs", json={"start": False}, headers={"Origin": origin})
        assert r.status_code == 403, f"Origin {origin}: {r.status_code}"
        closed = _ws_close(p, origin=origin)
        assert closed is not None and closed[0] == 1008 and "origin" in closed[1], (origin, closed)
    assert http.post("/api/runs", json={"start": False}, headers={"Origin": f"http://127.0.0.1:{p}"}).status_code \
        == 201


# -- DNS rebinding ------------------------------------------------------------------------------------------------
HOSTILE_HOSTS = ["rebind.attacker.example", "localhost.attacker.example", "127.0.0.1.nip.io", "evil", "0.0.0.0"]


def _ws_close(port: int, run_id: str = "000000000000", **kw: Any) -> tuple[int, str] | None:
    """The close (code, reason) the stream ends with, or None when it sent a message first."""
    ws = kit.RawWS(port, f"/ws/runs/{run_id}", **kw)
    try:
        assert ws.status == 101, ws.status
        for message in ws.messages(timeout=20):
            return message if isinstance(message, tuple) else None
        return None
    finally:
        ws.close()


def test_a_rebound_name_gets_403_and_the_stream_1008(server: Any, http: httpx.Client) -> None:
    run = kit.create_run(http, start=False)
    for name in HOSTILE_HOSTS:
        host = f"{name}:{server.port}"
        for method, path in [("GET", "/api/runs"), ("GET", f"/api/runs/{run['id']}"), ("GET", "/"),
                             ("POST", "/api/runs"), ("POST", f"/api/runs/{run['id']}/stop")]:
            r = http.request(method, path, headers={"Host": host}, json={} if method == "POST" else None)
            assert r.status_code == 403, f"Host {host}: {method} {path} → {r.status_code}"
            assert "BPV_ALLOWED_HOSTS" in kit.strict_loads(r.text)["detail"]
        closed = _ws_close(server.port, run["id"], host=host)
        assert closed is not None and closed[0] == 1008 and "Host" in closed[1], (host, closed)
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}", f"[::1]:{server.port}", "LOCALHOST",
                 f"127.0.0.2:{server.port}"):
        assert http.get("/api/runs", headers={"Host": host}).status_code == 200, host
    assert _ws_close(server.port, run["id"], host=f"localhost:{server.port}") is None
    assert http.get("/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200, "probes use any address"


@pytest.mark.parametrize("allowed", ["viz.example.org, 10.1.2.3", "*"])
def test_allowed_hosts_add_names(make_server: Any, allowed: str) -> None:
    srv = make_server(BPV_ALLOWED_HOSTS=allowed)
    with srv.client() as http:
        for host in ("viz.example.org", f"viz.example.org:{srv.port}", "10.1.2.3:80", f"localhost:{srv.port}"):
            assert http.get("/api/runs", headers={"Host": host}).status_code == 200, host
        status = http.get("/api/runs", headers={"Host": "rebind.attacker.example"}).status_code
        assert status == (200 if allowed == "*" else 403)


# -- the login ----------------------------------------------------------------------------------------------------
def _login(srv: Any, http: httpx.Client) -> str:
    """``/?token=…`` as the browser follows the login URL; returns the CSRF cookie's value."""
    r = http.get("/", params={"token": TOKEN})
    assert r.status_code == 303 and r.headers["location"] == "/", (r.status_code, r.headers)
    cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    session = cookies[f"bpv-session-{srv.port}"]
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session, session
    assert TOKEN.lower() not in session, "the cookie holds a value derived from the token, not the token"
    assert "samesite=strict" in cookies["bpv-csrf"] and "httponly" not in cookies["bpv-csrf"]
    csrf = http.cookies.get("bpv-csrf")
    assert csrf
    return csrf


def test_the_login_url_gives_a_session_that_needs_the_csrf_header(make_server: Any) -> None:
    srv = make_server(BPV_API_TOKEN=TOKEN, BPV_TOKEN_FOR_READS="true")
    own = {"Origin": srv.url}
    with srv.client() as anon, srv.client() as browser, srv.client(headers={"Authorization": f"Bearer {TOKEN}"}) \
            as api:
        page = anon.get("/")
        assert page.status_code == 401 and 'name="token"' in page.text, "no cookie: the login form"
        wrong = anon.get("/", params={"token": "nope"})
        assert wrong.status_code == 401 and "Wrong token" in wrong.text
        assert not any(c.startswith("bpv-session") for c in wrong.headers.get_list("set-cookie"))
        assert anon.get("/api/runs").status_code == 401 and anon.post("/api/runs", json={}).status_code == 401

        csrf = _login(srv, browser)
        assert browser.get("/").status_code == 200 and browser.get("/api/runs").status_code == 200
        r = browser.post("/api/runs", json={"start": False}, headers=own)
        assert r.status_code == 403 and "X-CSRF-Token" in r.text, "the cookie alone is not enough"
        for bad in ({"X-CSRF-Token": csrf + "x"}, {"X-CSRF-Token": ""}):
            assert browser.post("/api/runs", json={"start": False}, headers={**own, **bad}).status_code == 403
        foreign = {"Origin": _foreign(srv.port), "X-CSRF-Token": csrf}
        assert browser.post("/api/runs", json={"start": False}, headers=foreign).status_code == 403
        run = kit.strict_loads(browser.post("/api/runs", json={"start": False},
                                            headers={**own, "X-CSRF-Token": csrf}).text)
        assert browser.post(f"/api/runs/{run['id']}/step", headers={**own, "X-CSRF-Token": csrf}).status_code == 200
        up = browser.post("/api/datasets", files={"file": ("d.csv", CSV.encode(), "text/csv")},
                          headers={**own, "X-CSRF-Token": csrf})
        assert up.status_code == 201, up.text

        assert api.post("/api/runs", json={"start": False}).status_code == 201, "Bearer needs no CSRF header"
        browser.cookies.set(f"bpv-session-{srv.port}", "forged", domain="127.0.0.1")
        assert browser.get("/api/runs").status_code == 401, "a forged session cookie is refused"

    # the stream: the cookie or the token; control messages ride on that login
    cookie = f"bpv-session-{srv.port}={_session_value(srv)}"
    assert _ws_close(srv.port, run["id"])[:1] == (1008,), "no login, no stream"
    assert _ws_close(srv.port, run["id"], origin=srv.url, headers={"Cookie": cookie}) is None
    closed = _ws_close(srv.port, run["id"], origin=f"https://127.0.0.1:{srv.port}", headers={"Cookie": cookie})
    assert closed is not None and closed[0] == 1008 and "origin" in closed[1], "https page, ws:// stream: refused"
    assert _ws_close(srv.port, run["id"], headers={"Authorization": f"Bearer {TOKEN}"}) is None
    ws = kit.RawWS(srv.port, f"/ws/runs/{run['id']}", origin=srv.url, headers={"Cookie": cookie})
    try:
        ws.send(b'{"type": "control", "action": "step"}')
        seen = [m for m, _ in zip(ws.messages(timeout=20), range(50), strict=False)
                if isinstance(m, dict) and m["type"] in ("error", "metrics")]
        assert seen and seen[0]["type"] == "metrics", f"a logged-in page's step is carried out: {seen[:1]}"
    finally:
        ws.close()


def _session_value(srv: Any) -> str:
    with srv.client() as http:
        http.get("/", params={"token": TOKEN})
        value = http.cookies.get(f"bpv-session-{srv.port}")
    assert value
    return str(value)


def test_listening_beyond_loopback_with_no_token_makes_one(make_server: Any) -> None:
    srv = make_server(start=False)
    srv.host = "0.0.0.0"  # noqa: S104 - what the Docker image does; the server must protect itself
    srv.start()
    lines = [line for line in srv.log().splitlines() if "?token=" in line]
    assert len(lines) == 1, srv.log()
    url = re.search(r"(http://\S+/\?token=(\S+))", lines[0])
    assert url and url.group(1).startswith(f"http://127.0.0.1:{srv.port}/?token="), lines[0]
    token = url.group(2)
    assert len(token) >= 32
    with srv.client() as anon, srv.client(follow_redirects=True) as browser:
        assert anon.get("/healthz").status_code == 200, "health stays open (the image's HEALTHCHECK)"
        for path in ("/api/runs", "/api/datasets", "/api/catalog"):
            assert anon.get(path).status_code == 401, f"reads need the login when exposed: {path}"
        assert anon.post("/api/runs", json={}).status_code == 401
        assert anon.get("/").status_code == 401
        page = browser.get(url.group(1))
        assert page.status_code == 200 and str(page.url) == f"{srv.url}/" and "<title>backprop-viz" in page.text
        assert browser.get("/api/runs").status_code == 200
        api = httpx.post(f"{srv.url}/api/runs", json={"start": False}, headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 201


def test_a_server_without_a_token_refuses_requests_over_a_non_loopback_address() -> None:
    """The safety net for a server started some other way (``uvicorn --host 0.0.0.0``) that thinks it is on
    loopback: the policy looks at the address the request arrived on."""
    policy = Policy.from_settings(Settings(host="127.0.0.1"))
    scope = {"type": "http", "method": "GET", "path": "/api/runs", "headers": [(b"host", b"localhost:8000")],
             "scheme": "http"}
    assert policy.refusal({**scope, "server": ("127.0.0.1", 8000)}) is None
    assert policy.refusal({**scope, "server": ("/tmp/bpv.sock", None)}) is None
    assert "BPV_API_TOKEN" in (policy.refusal({**scope, "server": ("192.0.2.2", 8000)}) or "")
    exposed = Policy.from_settings(Settings(host="0.0.0.0"))  # noqa: S104
    assert exposed.generated and exposed.reads_need_login
    assert exposed.refusal({**scope, "server": ("192.0.2.2", 8000)}) is None
    named = Policy.from_settings(Settings(host="192.0.2.2"))
    assert named.host_allowed(_host_header("192.0.2.2:8000")) and not named.host_allowed(_host_header("evil:8000"))


def _host_header(host: str) -> Any:
    from starlette.datastructures import Headers

    return Headers(raw=[(b"host", host.encode())])
