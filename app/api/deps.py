"""Typed dependencies: the services on ``app.state`` (for HTTP routes and the WebSocket alike) and who may
call what (``app/security.py``'s ``Policy``: the token, the session cookie)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection

from ..config import Settings
from ..security import Policy
from ..services.data import DataService
from ..services.reader import RunReader
from ..services.runs import RunManager
from ..services.storage import Storage

LOGIN_HINT = ("open the login URL the server printed at start (/?token=…), or send 'Authorization: Bearer <token>' "
              "(the server's BPV_API_TOKEN)")


def get_settings(request: HTTPConnection) -> Settings:
    s: Settings = request.app.state.settings
    return s


def get_policy(request: HTTPConnection) -> Policy:
    p: Policy = request.app.state.policy
    return p


def get_runs(request: HTTPConnection) -> RunManager:
    m: RunManager = request.app.state.runs
    return m


def get_storage(request: HTTPConnection) -> Storage:
    s: Storage = request.app.state.storage
    return s


def get_data(request: HTTPConnection) -> DataService:
    d: DataService = request.app.state.data
    return d


def get_reader(request: HTTPConnection) -> RunReader:
    r: RunReader = request.app.state.reader
    return r


def require_login(request: Request) -> None:
    """State-changing calls: the token or the session cookie, when the server has a token. (The CSRF header
    that a cookie needs beside it is checked earlier, by ``security.Guard``.)"""
    policy = get_policy(request)
    if policy.login_required and not policy.authenticated(request):
        raise HTTPException(401, f"this server needs a token: {LOGIN_HINT}", headers={"WWW-Authenticate": "Bearer"})


def require_read_login(request: Request) -> None:
    """Reads: the same, when reads need it (by default when the server listens beyond loopback)."""
    policy = get_policy(request)
    if policy.reads_need_login and not policy.authenticated(request):
        raise HTTPException(401, f"this server needs a token for reads too: {LOGIN_HINT}",
                            headers={"WWW-Authenticate": "Bearer"})


SettingsDep = Annotated[Settings, Depends(get_settings)]
PolicyDep = Annotated[Policy, Depends(get_policy)]
RunsDep = Annotated[RunManager, Depends(get_runs)]
StorageDep = Annotated[Storage, Depends(get_storage)]
DataDep = Annotated[DataService, Depends(get_data)]
ReaderDep = Annotated[RunReader, Depends(get_reader)]
Write = [Depends(require_login)]
Read = [Depends(require_read_login)]
