"""Pure ASGI middleware: security headers on every response, a cap on request bodies."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """A Content-Security-Policy that allows only our own origin (Plotly needs inline style attributes).

    ``frame_ancestors``: origins allowed to show our pages in a frame (a notebook's, for ``Run.show()``); with
    none, no one may (X-Frame-Options DENY as well)."""

    def __init__(self, app: ASGIApp, frame_ancestors: list[str] | None = None) -> None:
        self.app = app
        self.headers = HEADERS
        if frame_ancestors:
            csp = CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self' " + " ".join(frame_ancestors))
            self.headers = [(b"content-security-policy", csp.encode()),
                            *(h for h in HEADERS if h[0] not in (b"content-security-policy", b"x-frame-options"))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = message.get("headers", [])
                named = {name.lower() for name, _ in own}  # a response with a policy of its own keeps it
                message["headers"] = [*own, *(h for h in self.headers if h[0] not in named)]
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """413 for a request body over ``limit`` bytes, by Content-Length or while it streams in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(send, self.limit)
            return
        seen = 0
        started = refused = False

        async def counted() -> Message:
            # Over the limit while it streams in (no Content-Length): answer 413 at once and tell the app the
            # client left. (Raising instead would reach the form parser, which turns any error into a 400.)
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    if not started and not refused:
                        refused = True
                        await _too_large(send, self.limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:  # the 413 went out: whatever the app answers to the "disconnect" is dropped
                return
            started = True
            await send(message)

        await self.app(scope, counted, guarded)


async def _too_large(send: Send, limit: int) -> None:
    body = b'{"detail":"the request body is larger than the limit of %d bytes"}' % limit
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *HEADERS]})
    await send({"type": "http.response.body", "body": body})
