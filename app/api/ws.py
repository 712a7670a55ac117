"""``WS /ws/runs/{id}``: the run stream (docs/protocol.md). The route checks who may connect (the Host was
checked already, by ``security.Guard``); the protocol itself is ``services/stream.py``'s ``StreamSession``."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from ..services.stream import StreamSession
from .deps import PolicyDep, ReaderDep, RunsDep, SettingsDep

router = APIRouter()


@router.websocket("/ws/runs/{run_id}")
async def run_stream(ws: WebSocket, run_id: str, settings: SettingsDep, policy: PolicyDep, runs: RunsDep,
                     reader: ReaderDep) -> None:
    await ws.accept()
    origin = ws.headers.get("origin")  # none: not a browser
    if origin is not None and not policy.origin_allowed(origin, ws.scope, ws.headers):
        await ws.close(1008, "origin not allowed: only this server's own (scheme, host and port) or a listed one")
        return
    # The session cookie, the token on the handshake (Authorization: Bearer), or ?token= (browsers cannot set
    # headers on a WebSocket; it shows in the access log).
    authenticated = policy.authenticated(ws) or policy.token_ok(ws.query_params.get("token"))
    if policy.reads_need_login and not authenticated:
        await ws.close(1008, "this server needs a token: log in, or connect with ?token= or Authorization: Bearer")
        return
    since = ws.query_params.get("since", "-1")
    if not since.lstrip("-").isdigit() or int(since) < -1 or len(since) > 19:
        await ws.close(1008, "since must be an epoch number (the last one the client has), or -1")
        return
    open_to_all = not policy.login_required or authenticated

    def authorized(message_token: str | None) -> bool:  # may this control or probe message change the run?
        return open_to_all or policy.token_ok(message_token)

    session = StreamSession(ws, runs, reader, settings, authorized)
    await session.serve(run_id, int(since))
