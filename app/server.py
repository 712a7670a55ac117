"""``backprop-viz serve``: uvicorn with the stream's settings (no permessage-deflate) and the connection
guards (``app/connections.py``: a request-header time-out, an idle keep-alive time-out, a cap on open
connections), after checking that the data directory is usable — a clear message and exit code 2 when it
is not, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from .config import Settings
from .connections import guarded_http
from .main import create_app
from .services.storage import Storage, StorageError

WS_MAX_SIZE = 1 << 20  # client messages are small JSON; uvicorn closes bigger ones with 1009


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Every uvicorn setting of the server, in one place."""
    return {"host": settings.host, "port": settings.port, "ws_per_message_deflate": False,
            "ws_max_size": WS_MAX_SIZE, "log_level": "info", "timeout_graceful_shutdown": 5,
            "timeout_keep_alive": settings.keep_alive_timeout,
            "http": guarded_http(settings.header_timeout, settings.max_connections)}


def run_server(host: str | None = None, port: int | None = None, data_dir: str | Path | None = None,
               factory: Callable[[Settings], FastAPI] = create_app) -> int:
    overrides: dict[str, object] = {k: v for k, v in (("host", host), ("port", port), ("data_dir", data_dir))
                                    if v is not None}
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as e:
        print(f"backprop-viz: bad setting: {e}", file=sys.stderr)
        return 2
    try:
        Storage(settings.db_path, 1).close()
    except StorageError as e:
        print(f"backprop-viz: {e}", file=sys.stderr)
        return 2
    uvicorn.run(factory(settings), **uvicorn_options(settings))
    return 0
