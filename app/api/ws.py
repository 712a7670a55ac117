"""``WS /ws/runs/{id}``: the run stream (docs/protocol.md). The route checks who may connect; the protocol
itself is ``services/stream.py``'s ``StreamSession``."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket

from ..config import Settings
from ..services.stream import StreamSession
from .deps import ReaderDep, RunsDep, SettingsDep, token_ok

router = APIRouter()


def origin_allowed(ws: WebSocket, settings: Settings) -> bool:
    """Same origin (the Host the client connected to), or one listed in the settings; no Origin = not a
    browser, allowed."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    if origin in settings.allowed_origins or "*" in settings.allowed_origins:
        return True
    return urlsplit(origin).netloc == ws.headers.get("host", "")


def _read_token(ws: WebSocket) -> str | None:
    """The token of a stream that reads need one for: ``?token=`` (browsers cannot set headers on a
    WebSocket) or ``Authorization: Bearer`` on the handshake."""
    auth = ws.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return ws.query_params.get("token")


@router.websocket("/ws/runs/{run_id}")
async def run_stream(ws: WebSocket, run_id: str, settings: SettingsDep, runs: RunsDep, reader: ReaderDep) -> None:
    await ws.accept()
    if not origin_allowed(ws, settings):
        await ws.close(1008, "origin not allowed")
        return
    if settings.token_for_reads and not token_ok(settings, _read_token(ws)):
        await ws.close(1008, "this server needs an API token for reads: connect with ?token=<token>")
        return
    since = ws.query_params.get("since", "-1")
    if not since.lstrip("-").isdigit() or int(since) < -1 or len(since) > 19:
        await ws.close(1008, "since must be an epoch number (the last one the client has), or -1")
        return
    session = StreamSession(ws, runs, reader, settings, lambda token: token_ok(settings, token))
    await session.serve(run_id, int(since))
