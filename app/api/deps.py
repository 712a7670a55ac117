"""Typed dependencies: the services on ``app.state`` (for HTTP routes and the WebSocket alike) and the
optional API token. All ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
hop per request for a dictionary look-up."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection

from ..config import Settings
from ..services.data import DataService
from ..services.reader import RunReader
from ..services.runs import RunManager
from ..services.storage import Storage


async def get_settings(request: HTTPConnection) -> Settings:
    s: Settings = request.app.state.settings
    return s


async def get_runs(request: HTTPConnection) -> RunManager:
    m: RunManager = request.app.state.runs
    return m


async def get_storage(request: HTTPConnection) -> Storage:
    s: Storage = request.app.state.storage
    return s


async def get_data(request: HTTPConnection) -> DataService:
    d: DataService = request.app.state.data
    return d


async def get_reader(request: HTTPConnection) -> RunReader:
    r: RunReader = request.app.state.reader
    return r


def token_ok(settings: Settings, given: str | None) -> bool:
    """True when no token is configured or ``given`` matches it (constant-time)."""
    if not settings.api_token:
        return True
    return given is not None and secrets.compare_digest(given.encode(), settings.api_token.encode())


def _given_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-token")


async def require_token(request: Request) -> None:
    """State-changing calls: the API token, when one is set (``Authorization: Bearer …`` or ``X-API-Token``)."""
    if not token_ok(request.app.state.settings, _given_token(request)):
        raise HTTPException(401, "this server needs an API token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})


async def require_read_token(request: Request) -> None:
    """Reads: the token too, when the settings say reads need it."""
    settings: Settings = request.app.state.settings
    if settings.token_for_reads and not token_ok(settings, _given_token(request)):
        raise HTTPException(401, "this server needs an API token for reads too",
                            headers={"WWW-Authenticate": "Bearer"})


SettingsDep = Annotated[Settings, Depends(get_settings)]
RunsDep = Annotated[RunManager, Depends(get_runs)]
StorageDep = Annotated[Storage, Depends(get_storage)]
DataDep = Annotated[DataService, Depends(get_data)]
ReaderDep = Annotated[RunReader, Depends(get_reader)]
Write = [Depends(require_token)]
Read = [Depends(require_read_token)]
