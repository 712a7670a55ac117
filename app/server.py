"""``backprop-viz serve``: uvicorn with the stream's settings (no permessage-deflate), after checking that
the data directory is usable — a clear message and exit code 2 when it is not, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from .config import Settings
from .main import create_app
from .services.storage import Storage, StorageError

WS_MAX_SIZE = 1 << 20  # client messages are small JSON; uvicorn closes bigger ones with 1009


def run_server(host: str | None = None, port: int | None = None, data_dir: str | Path | None = None) -> int:
    overrides: dict[str, object] = {k: v for k, v in (("host", host), ("port", port), ("data_dir", data_dir))
                                    if v is not None}
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as e:
        print(f"backprop-viz: bad setting: {e}", file=sys.stderr)
        return 2
    try:  # what the server's start-up writes, done here first: a bad data directory is one clear line
        storage = Storage(settings.db_path, 1)
        try:
            interrupted = storage.mark_interrupted()
        finally:
            storage.close()
    except StorageError as e:
        print(f"backprop-viz: {e}", file=sys.stderr)
        return 2
    if interrupted:
        print(f"backprop-viz: {interrupted} run(s) were live when the server last stopped: now 'interrupted'",
              file=sys.stderr)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, ws_per_message_deflate=False,
                ws_max_size=WS_MAX_SIZE, log_level="info", timeout_graceful_shutdown=5)
    return 0
