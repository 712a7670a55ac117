"""Who may do what: Jupyter Server's model (``jupyter_server/auth/``, ``base/handlers.py``), for one user.

- **Host allow-list** (DNS rebinding): the Host header must name this machine's loopback (``localhost``, any
  loopback IP), the address the server listens on, or a name in ``BPV_ALLOWED_HOSTS`` (``*``: any); else 403,
  or a 1008 close on the stream.
- **Login**: when a token is in effect — ``BPV_API_TOKEN``, or one generated at start because the server
  listens beyond loopback with none set (printed in a login URL) — API clients send ``Authorization: Bearer
  <token>`` and the page trades ``/?token=…`` for an HttpOnly, SameSite=Strict session cookie.
- **CSRF**: a state-changing request that rides on the browser (the session cookie; a form or text/plain
  body, which any page may send; a browser's multipart upload) must carry ``X-CSRF-Token`` equal to the
  ``bpv-csrf`` cookie (the double submit of Tornado's ``_xsrf``); one with a foreign ``Origin`` or
  ``Sec-Fetch-Site`` is refused outright. A valid Bearer token needs neither: no browser sends it by itself.
- ``GET /healthz`` is open to any Host: orchestrators probe it by the container's address.
- On loopback with no token nothing needs a login, as before; the Host and CSRF rules still hold, and a
  request that reaches such a server over a non-loopback address is refused (it listens wider than it thinks).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .config import Settings
from .middleware import HEADERS

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_COOKIE = "bpv-csrf"
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "*"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None]:
    """``Host`` header → (lower-case name without brackets, port or None): ``[::1]:8000`` → (``::1``, 8000)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    else:
        name, port = value, ""
    return name, int(port) if port.isdigit() and len(port) <= 5 else None


def _web_scheme(scope: Scope) -> str:
    return "https" if scope.get("scheme") in ("https", "wss") else "http"


def _origin_key(origin: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port with the scheme's default filled in) of an Origin, or None when it is not one."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


@dataclass(frozen=True)
class Policy:
    """The server's rules, fixed at start. ``token``: the one in effect (configured or generated), or None."""

    token: str | None
    generated: bool
    reads_need_login: bool
    hosts: frozenset[str]
    any_host: bool
    origins: frozenset[tuple[str, str, int | None]]
    any_origin: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        exposed = not is_loopback(settings.host)
        token, generated = settings.api_token, False
        if token is None and exposed:
            token, generated = secrets.token_urlsafe(32), True
            if settings.clustered and settings.broker_url:  # one token for every replica of a cluster
                from .cluster.bus import shared_token

                token = shared_token(settings.broker_url, token)
        reads = settings.token_for_reads if settings.token_for_reads is not None else exposed
        hosts = {"localhost", *(split_host(h)[0] for h in settings.allowed_hosts if h != "*")}
        if settings.host.strip("[]") not in WILDCARD_HOSTS:
            hosts.add(split_host(settings.host)[0])  # the address it was told to listen on is its own
        trusted = [*settings.allowed_origins, *settings.cors_origins]
        return cls(token=token, generated=generated, reads_need_login=token is not None and reads,
                   hosts=frozenset(hosts), any_host="*" in settings.allowed_hosts,
                   origins=frozenset(k for o in trusted if (k := _origin_key(o)) is not None),
                   any_origin="*" in settings.allowed_origins)

    @property
    def login_required(self) -> bool:
        return self.token is not None

    # -- credentials ---------------------------------------------------------------------------------------------
    def token_ok(self, given: str | None) -> bool:
        """``given`` is the token (constant-time); always False when there is none."""
        return self.token is not None and given is not None and secrets.compare_digest(
            given.encode(), self.token.encode())

    def bearer(self, headers: Headers) -> bool:
        """``Authorization: Bearer <token>`` (or ``X-API-Token``) carries the token."""
        auth = headers.get("authorization", "")
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-token")
        return self.token_ok(given)

    def session_value(self) -> str:
        """The session cookie's value: an HMAC of the token, so a new token ends every session."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"backprop-viz session", hashlib.sha256).hexdigest()

    def session(self, conn: HTTPConnection) -> bool:
        given = conn.cookies.get(session_cookie(conn.scope, conn.headers))
        return self.token is not None and given is not None and secrets.compare_digest(
            given.encode(), self.session_value().encode())

    def authenticated(self, conn: HTTPConnection) -> bool:
        """The token (header), or the session cookie. (``?token=`` counts only where a route says so.)"""
        return self.bearer(conn.headers) or self.session(conn)

    # -- the rules -----------------------------------------------------------------------------------------------
    def host_allowed(self, headers: Headers) -> bool:
        name, _ = split_host(headers.get("host", ""))
        return bool(name) and (self.any_host or name in self.hosts or is_loopback(name))

    def origin_allowed(self, origin: str, scope: Scope, headers: Headers) -> bool:
        """Same origin — scheme, host and port all equal to what the client connected to — or a listed one."""
        key = _origin_key(origin)
        if key is None:
            return self.any_origin
        scheme = _web_scheme(scope)
        name, port = split_host(headers.get("host", ""))
        return key == (scheme, name, port or DEFAULT_PORTS[scheme]) or key in self.origins or self.any_origin

    def refusal(self, scope: Scope) -> str | None:
        """Why this request or stream is refused (403 / close 1008), or None. Authentication itself (401) is
        the routes' business: ``api/deps.py``."""
        if scope["type"] == "http" and scope["path"] == "/healthz" and scope["method"] in SAFE_METHODS:
            return None  # says nothing but "ok", the number of live runs and the version
        headers = Headers(scope=scope)
        if not self.host_allowed(headers):
            host = headers.get("host", "")[:40]
            return (f"Host {host!r} is not allowed (DNS rebinding guard): add it to BPV_ALLOWED_HOSTS"
                    if host else "a request needs a Host header")
        local = (scope.get("server") or ("",))[0] or ""
        if not self.login_required and _is_ip(local) and not is_loopback(local):
            return ("this server has no token but was reached over a non-loopback address: set BPV_API_TOKEN, or "
                    "start it with `backprop-viz serve --host ADDRESS` (which makes a token)")
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            return self._unsafe_refusal(scope, headers)
        return None

    def _unsafe_refusal(self, scope: Scope, headers: Headers) -> str | None:
        if self.bearer(headers):
            return None  # an API client's own token: no page can make a browser send it
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin, scope, headers):
            return f"cross-origin request refused: Origin {origin[:100]!r} is not this server's"
        if origin is None and headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            return "cross-site request refused (Sec-Fetch-Site)"
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in ("text/plain", "application/x-www-form-urlencoded"):
            what = "a form or text/plain request"  # no route takes one: only other pages' forms and beacons do
        elif content_type == "multipart/form-data" and (origin is not None or "sec-fetch-site" in headers):
            what = "an upload from a browser"  # API clients send no Origin and need no header
        elif self.login_required and self.session(HTTPConnection(scope)):
            what = "a request with the session cookie"
        else:
            return None
        if not csrf_ok(scope, headers):
            return (f"{what} needs the X-CSRF-Token header, equal to the {CSRF_COOKIE} cookie the page gets: "
                    "requests from other sites are refused (reload the page; API clients: a Bearer token)")
        return None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def session_cookie(scope: Scope, headers: Headers) -> str:
    """``bpv-session-<port>``: cookies ignore ports, so two servers on one host must not share a name."""
    _, port = split_host(headers.get("host", ""))
    return f"bpv-session-{port or DEFAULT_PORTS[_web_scheme(scope)]}"


def csrf_ok(scope: Scope, headers: Headers) -> bool:
    given = headers.get(CSRF_HEADER)
    cookie = HTTPConnection(scope).cookies.get(CSRF_COOKIE)
    return bool(given and cookie) and secrets.compare_digest(str(given).encode(), str(cookie).encode())


def set_cookies(response: Response, conn: HTTPConnection, policy: Policy, login: bool) -> None:
    """The CSRF cookie when the browser has none (readable by the page's script); with ``login``, the session
    cookie too (HttpOnly). Both SameSite=Strict, Secure over https."""
    secure = _web_scheme(conn.scope) == "https"
    if login:
        response.set_cookie(session_cookie(conn.scope, conn.headers), policy.session_value(), httponly=True,
                            samesite="strict", secure=secure, path="/")
    if login or not conn.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), samesite="strict", secure=secure, path="/")


def login_url(host: str, port: int, token: str) -> str:
    shown = "127.0.0.1" if host.strip("[]") in WILDCARD_HOSTS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={quote(token)}"


class Guard:
    """Pure ASGI middleware: ``Policy.refusal`` for every request and stream, before anything reads a body."""

    def __init__(self, app: ASGIApp, policy: Policy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = self.policy.refusal(scope) if scope["type"] in ("http", "websocket") else None
        if reason is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await close_stream(receive, send, 1008, reason)
        else:
            await answer(send, 403, reason)


async def answer(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """A JSON ``{"detail": message}`` answer with the security headers, from middleware."""
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(extra or []), *HEADERS]})
    await send({"type": "http.response.body", "body": body})


async def close_stream(receive: Receive, send: Send, code: int, reason: str) -> None:
    """Accept the WebSocket, then close it with ``code`` and ``reason`` (a refusal before accepting would be a
    bare HTTP 403, and the client would learn nothing)."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason.encode()[:123].decode(errors="ignore")})
