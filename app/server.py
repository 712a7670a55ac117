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


def settings_from(**given: object) -> Settings:
    """The settings, with the command line's options over the environment's (ValueError if invalid)."""
    return Settings(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Every uvicorn setting of the server, in one place."""
    return {"host": settings.host, "port": settings.port, "ws_per_message_deflate": False,
            "ws_max_size": WS_MAX_SIZE, "log_level": "info", "timeout_graceful_shutdown": 5,
            "timeout_keep_alive": settings.keep_alive_timeout,
            "http": guarded_http(settings.header_timeout, settings.max_connections)}


def run_server(host: str | None = None, port: int | None = None, data_dir: str | Path | None = None,
               broker: str | None = None, database: str | None = None,
               factory: Callable[[Settings], FastAPI] = create_app) -> int:
    try:
        settings = settings_from(host=host, port=port, data_dir=data_dir, broker_url=broker, database_url=database)
    except ValueError as e:
        print(f"backprop-viz: bad setting: {e}", file=sys.stderr)
        return 2
    if settings.clustered:
        problem = check_cluster(settings)
        if problem:
            print(f"backprop-viz: {problem}", file=sys.stderr)
            return 2
        return _serve(settings, 0, factory)
    try:  # what the server's start-up writes, done here first: a bad data directory is one clear line
        storage = Storage(settings.db_path, 1)
        try:
            interrupted = storage.mark_interrupted()
        finally:
            storage.close()
    except StorageError as e:
        print(f"backprop-viz: {e}", file=sys.stderr)
        return 2
    return _serve(settings, interrupted, factory)


def _serve(settings: Settings, interrupted: int, factory: Callable[[Settings], FastAPI] = create_app) -> int:
    if interrupted:
        print(f"backprop-viz: {interrupted} run(s) were live when the server last stopped: now 'interrupted'",
              file=sys.stderr)
    uvicorn.run(factory(settings), **uvicorn_options(settings))
    return 0


def check_cluster(settings: Settings) -> str | None:
    """Why the cluster's broker or database cannot be used (one line), or None."""
    import redis

    from .cluster.pgstore import PgStorage

    assert settings.broker_url is not None and settings.database_url is not None
    try:
        redis.Redis.from_url(settings.broker_url, socket_connect_timeout=5, socket_timeout=5).ping()
    except (redis.RedisError, ValueError) as e:
        return f"cannot reach the broker {settings.broker_url.split('@')[-1]}: {e}"
    try:
        PgStorage(settings.database_url, 1).close()
    except StorageError as e:
        return str(e)
    return None


def run_worker(broker: str | None = None, database: str | None = None) -> int:
    """``backprop-viz worker``: train a cluster's runs (until SIGTERM)."""
    try:
        settings = settings_from(broker_url=broker, database_url=database)
    except ValueError as e:
        print(f"backprop-viz: bad setting: {e}", file=sys.stderr)
        return 2
    if not settings.clustered:
        print("backprop-viz: a worker needs a broker and a database: --broker redis://… --database "
              "postgresql://… (or BPV_BROKER_URL, BPV_DATABASE_URL)", file=sys.stderr)
        return 2
    problem = check_cluster(settings)
    if problem:
        print(f"backprop-viz: {problem}", file=sys.stderr)
        return 2
    from .cluster.worker import run_worker as serve_worker

    return serve_worker(settings)
