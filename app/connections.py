"""Connections: a request-header time-out and a cap on open connections, which uvicorn lacks, and a cap on
requests and streams in flight.

uvicorn's HTTP protocols time out an idle keep-alive connection (``timeout_keep_alive``) but not one that is
slow to send its request: a client that sends a byte now and then keeps its socket, and 20 000 of them fill
the process's file-descriptor table. ``guarded_http`` subclasses uvicorn's protocol so that

- a connection must complete its request's headers within ``header_timeout`` seconds of connecting, or of
  its previous response; else it is closed;
- when more than ``max_connections`` are open, a new one closes the oldest that is waiting for a request
  (slow or idle), so slow clients cannot crowd out the rest.

``ConnectionCap`` (ASGI middleware) answers a request beyond ``max_connections`` in flight with 503 and a
message, and closes a WebSocket beyond it with 1013 ("try again later") and a reason.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .security import answer, close_stream


def _base_protocol() -> type[asyncio.Protocol]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:  # no httptools: uvicorn's pure-Python protocol
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def guarded_http(header_timeout: float, max_connections: int) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class with the header time-out and the connection cap (pass it as ``http=``)."""
    base: Any = _base_protocol()

    class GuardedHttp(base):  # type: ignore[misc]
        """Waiting = connected or answered, and no new request's headers complete yet (``self.cycle`` is
        still the one it was when the wait began: both of uvicorn's protocols make a new cycle per request)."""

        _waiting_cycle: object = None
        _timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._wait()
            if len(self.connections) > max_connections:
                self._make_room()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._wait()

        def connection_lost(self, exc: Exception | None) -> None:
            self._waiting().pop(self, None)
            if self._timer is not None:
                self._timer.cancel()
            super().connection_lost(exc)

        def _waiting(self) -> OrderedDict[Any, None]:
            """This server's connections in the order they began waiting (stale entries are skipped later)."""
            state = self.server_state
            if not hasattr(state, "bpv_waiting"):
                state.bpv_waiting = OrderedDict()
            waiting: OrderedDict[Any, None] = state.bpv_waiting
            return waiting

        def _wait(self) -> None:
            self._waiting_cycle = self.cycle
            waiting = self._waiting()
            waiting[self] = None
            waiting.move_to_end(self)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_later(header_timeout, self._expire)

        def _still_waiting(self) -> bool:
            # in self.connections: not closed, not handed over to the WebSocket protocol
            return self.cycle is self._waiting_cycle and self in self.connections and not self.transport.is_closing()

        def _expire(self) -> None:
            self._timer = None
            if self._still_waiting():
                self.transport.close()  # connection_lost forgets it
            elif self not in self.connections:  # handed over to the WebSocket protocol: forget it here
                self._waiting().pop(self, None)

        def _make_room(self) -> None:
            waiting = self._waiting()
            while waiting:
                oldest = next(iter(waiting))
                if oldest is self:
                    return
                del waiting[oldest]
                if oldest._still_waiting():
                    oldest.transport.close()
                    return

    return GuardedHttp


class ConnectionCap:
    """At most ``limit`` requests and streams in flight; 503 / close 1013 beyond, with a message."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit, self.active = app, limit, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            if scope["type"] == "websocket":
                await close_stream(receive, send, 1013, f"the server is at its limit of {self.limit} connections: "
                                                        "try again later")
            else:
                await answer(send, 503, f"the server is at its limit of {self.limit} connections at once "
                                        "(BPV_MAX_CONNECTIONS): try again shortly", [(b"retry-after", b"1")])
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
