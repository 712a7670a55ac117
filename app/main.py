"""The FastAPI application: ``create_app(settings)`` builds it; the lifespan owns the services.

Routes → services → core. Shared things live on ``app.state`` (settings, storage, data, runs), created in
the lifespan, never at module level.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from threadpoolctl import threadpool_limits

from . import __version__
from .api import api_router
from .config import Settings
from .middleware import BodyLimit, SecurityHeaders
from .paths import STATIC_DIR
from .services.data import DataError, DataService
from .services.lifecycle import IllegalTransition
from .services.reader import RunReader
from .services.run import RunError
from .services.runs import NotFound, RunManager
from .services.storage import Storage, StorageError

log = logging.getLogger("backprop_viz")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    s: Settings = app.state.settings
    storage = Storage(s.db_path, int(s.snapshot_budget_mb * 2**20))
    interrupted = storage.mark_interrupted()
    if interrupted:
        log.warning("%d run(s) were live when the server last stopped: now 'interrupted'", interrupted)
    data = DataService(s, storage)
    runs = RunManager(s, storage, data)
    runs.start()
    app.state.storage, app.state.data, app.state.runs = storage, data, runs
    app.state.reader = RunReader(runs, storage, data)
    try:
        yield
    finally:
        await runs.shutdown()
        storage.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app. Training happens in worker processes (``services/pool.py``); BLAS is pinned to one thread
    here too, for what little NumPy the web process does."""
    settings = settings or Settings()
    threadpool_limits(1)
    _return_big_blocks()
    app = FastAPI(title="backprop-viz", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Watch a neural network learn by backpropagation: runs over REST, "
                              "every epoch's tensors over WS /ws/runs/{id} (see docs/protocol.md).")
    app.state.settings = settings
    app.add_middleware(SecurityHeaders, frame_ancestors=settings.frame_ancestors)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes + 2**16)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"])
    _errors(app)
    app.include_router(api_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _return_big_blocks(threshold: int = 1 << 20) -> None:
    """Blocks of a MiB or more (snapshots, their copies in send buffers) are mapped and unmapped one by one,
    so that memory a client held goes back to the system when it leaves. glibc otherwise raises its mmap
    threshold as big blocks are freed and keeps them in its heap: the process's memory would stay at its
    peak. No-op without glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-3, threshold)  # M_MMAP_THRESHOLD


def _errors(app: FastAPI) -> None:
    def detail(status: int, message: Any) -> JSONResponse:
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, e: NotFound) -> JSONResponse:
        return detail(404, str(e))

    @app.exception_handler(IllegalTransition)
    async def conflict(_: Request, e: IllegalTransition) -> JSONResponse:
        return detail(409, str(e))

    @app.exception_handler(RunError)
    async def limit(_: Request, e: RunError) -> JSONResponse:
        return detail(e.status, str(e))

    @app.exception_handler(StorageError)
    async def storage_failing(_: Request, e: StorageError) -> JSONResponse:
        return detail(e.status, str(e))

    @app.exception_handler(DataError)
    async def data_error(_: Request, e: DataError) -> JSONResponse:
        return detail(e.status, str(e))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type", "")}
                  for err in e.errors()]
        text = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in errors)
        return JSONResponse({"detail": errors, "message": text}, status_code=422)
