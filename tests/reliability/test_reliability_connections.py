"""Connections (issue 11, finding 9): slow clients cannot hold the server's sockets, and a cap on connections
answers with a message instead of failing. Against a REAL server started as ``backprop-viz serve`` does
(app/server.py), with real sockets.

- A client that never finishes its request headers is closed after ``BPV_HEADER_TIMEOUT`` seconds — also on
  a keep-alive connection after a first answer (uvicorn stops its idle time-out once a byte arrives).
- Many of them at once — more than the server's file-descriptor limit allows — do not stop ``/healthz``: a
  new connection beyond ``BPV_MAX_CONNECTIONS`` displaces the oldest one that has not sent a request.
- Beyond ``BPV_MAX_CONNECTIONS`` requests and streams in flight: 503 with a message, and a WebSocket close
  1013 with a reason; once one leaves, requests are served again.

Every wait is for the event itself (the server closing the socket, an answer), with a generous time-out.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Any

import httpx

from tests import support as kit

SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # a request whose headers never end


def _open_slow(port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(SLOW_HEAD)
        out.append(s)
    return out


def _wait_closed(socks: list[socket.socket], until: int, timeout: float = 120.0) -> int:
    """Until the server has closed (EOF or reset) at least ``until`` of the sockets; returns how many it has."""
    pending = set(socks)
    deadline = time.monotonic() + timeout
    while len(socks) - len(pending) < until and time.monotonic() < deadline:
        readable, _, _ = select.select(list(pending)[:512], [], [], 0.5)
        for s in readable:
            try:
                data = s.recv(4096)
            except OSError:  # reset
                data = b""
            if not data:
                pending.discard(s)
    return len(socks) - len(pending)


def _trickle(socks: list[socket.socket]) -> None:
    """A slowloris sends a byte now and then: that must not buy it time."""
    for s in socks:
        try:
            s.sendall(b"x")
        except OSError:
            pass  # closed already


def test_slow_headers_are_cut_off(make_server: Any) -> None:
    srv = make_server(BPV_HEADER_TIMEOUT="2")
    socks = _open_slow(srv.port, 50)
    try:
        assert httpx.get(f"{srv.url}/healthz", timeout=60).status_code == 200
        _trickle(socks)
        closed = _wait_closed(socks, len(socks))
    finally:
        for s in socks:
            s.close()
    assert closed == len(socks), f"{len(socks) - closed} of {len(socks)} slow connections are still open"


def test_a_flood_beyond_the_descriptor_limit_does_not_stop_healthz(make_server: Any) -> None:
    """600 slow clients against a server that can hold ~240 sockets (256 descriptors) and never times them
    out here: it still answers, because each new connection beyond the cap (128: half the descriptors)
    displaces the oldest one waiting for its request."""
    srv = make_server(start=False, BPV_HEADER_TIMEOUT="3600")
    srv.nofile = 256
    srv.start()
    cap = 128
    socks = _open_slow(srv.port, 600)
    try:
        r = httpx.get(f"{srv.url}/healthz", timeout=60)
        assert r.status_code == 200, r.text
        with srv.client() as http:
            run = kit.create_run(http, epochs=3)
            kit.wait_state(http, run["id"], "done")
        closed = _wait_closed(socks, len(socks) - cap)
        assert closed >= len(socks) - cap, f"only {closed} of the {len(socks)} slow connections were closed"
        assert closed < len(socks), "the newest slow clients keep their place until the time-out (3600 s here)"
    finally:
        for s in socks:
            s.close()
    assert httpx.get(f"{srv.url}/healthz", timeout=30).status_code == 200


def test_a_keep_alive_connection_cannot_stall_its_next_request(make_server: Any) -> None:
    srv = make_server(BPV_HEADER_TIMEOUT="2")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    s.sendall(SLOW_HEAD)  # the next request starts, and never ends
    try:
        assert _wait_closed([s], 1) == 1, "the connection stays open"
    finally:
        s.close()


async def _stream_close(url: str) -> tuple[int, str] | str:
    """The close (code, reason) the stream ends with, or its first message's type."""
    import websockets

    try:
        async with websockets.connect(url, compression=None, open_timeout=30) as ws:
            msg = await ws.recv()
            return str(kit.strict_loads(msg)["type"]) if isinstance(msg, str) else "binary"
    except websockets.exceptions.ConnectionClosed as e:
        assert e.rcvd is not None
        return e.rcvd.code, e.rcvd.reason


def test_over_the_connection_cap_requests_get_503_and_streams_1013(make_server: Any) -> None:
    import asyncio

    import websockets

    srv = make_server(BPV_MAX_CONNECTIONS="4")
    with srv.client() as http:
        run = kit.create_run(http, start=False)
    url = f"{srv.ws_url}/ws/runs/{run['id']}"

    async def scenario() -> None:
        held = [await websockets.connect(url, compression=None, open_timeout=30) for _ in range(4)]
        try:
            for ws in held:
                assert kit.strict_loads(await ws.recv())["type"] == "hello"
            closed = await _stream_close(url)
            assert isinstance(closed, tuple) and closed[0] == 1013 and "limit of 4" in closed[1], closed
            async with httpx.AsyncClient(timeout=30) as client:
                r = await client.get(f"{srv.url}/healthz")
                assert r.status_code == 503 and r.headers.get("retry-after") == "1", (r.status_code, r.text)
                assert "BPV_MAX_CONNECTIONS" in kit.strict_loads(r.text)["detail"]
                await held.pop().close()
                await kit.wait_async(lambda: _ok(client, f"{srv.url}/healthz"), timeout=60,
                                     what="/healthz answering once a stream left")
            assert await _stream_close(url) == "hello"
        finally:
            for ws in held:
                await ws.close()

    asyncio.run(scenario())


async def _ok(client: httpx.AsyncClient, url: str) -> bool:
    return (await client.get(url)).status_code == 200
