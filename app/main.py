"""The FastAPI application: ``create_app(settings)`` builds it; the lifespan owns the services.

Routes → services → core. Shared things live on ``app.state`` (settings, storage, data, runs), created in
the lifespan, never at module level.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from threadpoolctl import threadpool_limits

from . import __version__
from .api import api_router
from .config import Settings
from .connections import ConnectionCap
from .middleware import BodyLimit, SecurityHeaders
from .openapi import finish_openapi
from .paths import STATIC_DIR
from .security import Guard, Policy, login_url
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
    policy: Policy = app.state.policy
    if policy.generated:  # one line, as Jupyter Server does: the only place this token is ever shown
        print(f"backprop-viz: listening beyond loopback with no BPV_API_TOKEN, so this run has a token; log in at "
              f"{login_url(s.host, s.port, policy.token or '')}", file=sys.stderr, flush=True)
    storage, runs, data = _services(s)
    runs.start()
    app.state.storage, app.state.data, app.state.runs = storage, data, runs
    app.state.reader = RunReader(runs, storage, data)
    try:
        yield
    finally:
        await runs.shutdown()
        storage.close()


def _services(s: Settings) -> tuple[Storage, RunManager, DataService]:
    """One server: SQLite in the data directory, local training workers. A cluster (broker and database
    set): PostgreSQL, and runs trained by `backprop-viz worker` processes wherever they are."""
    if s.clustered:
        from .cluster.pgstore import PgStorage
        from .cluster.replica import ClusterRuns

        assert s.database_url is not None
        storage: Storage = PgStorage(s.database_url, int(s.snapshot_budget_mb * 2**20))
        data = DataService(s, storage)
        return storage, ClusterRuns(s, storage, data), data
    storage = Storage(s.db_path, int(s.snapshot_budget_mb * 2**20))
    interrupted = storage.mark_interrupted()
    if interrupted:
        log.warning("%d run(s) were live when the server last stopped: now 'interrupted'", interrupted)
    data = DataService(s, storage)
    return storage, RunManager(s, storage, data), data


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app. Training happens in worker processes (``services/pool.py``); BLAS is pinned to one thread
    here too, for what little NumPy the web process does."""
    settings = settings or Settings()
    threadpool_limits(1)
    app = FastAPI(title="backprop-viz", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Watch a neural network learn by backpropagation: runs over REST, "
                              "every epoch's tensors over WS /ws/runs/{id} (see docs/protocol.md).")
    app.state.settings = settings
    app.state.policy = policy = Policy.from_settings(settings)
    # outermost last: the cap, the Host / Origin / CSRF guard, CORS, the body limit, the security headers
    app.add_middleware(SecurityHeaders, frame_ancestors=settings.frame_ancestors)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes + 2**16)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"])
    app.add_middleware(Guard, policy=policy)
    app.add_middleware(ConnectionCap, limit=settings.max_connections)
    _errors(app)
    app.include_router(api_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    finish_openapi(app, settings, policy)
    return app


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

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        """405 (and OPTIONS) with an Allow that lists every method of the path, not just one route's."""
        if e.status_code != 405:
            return await http_exception_handler(request, e)
        allow = ", ".join(_methods(app, request))
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        return JSONResponse({"detail": f"{request.method} is not a method of {request.url.path}; its methods: "
                                       f"{allow}"}, status_code=405, headers={"Allow": allow})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type", "")}
                  for err in e.errors()]
        text = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in errors)
        return JSONResponse({"detail": errors, "message": text}, status_code=422)


def _methods(app: FastAPI, request: Request) -> list[str]:
    """The methods some route answers at this path, and OPTIONS. Where the path is in the API's schema, the
    methods of its most specific path there (``/api/runs/external`` is its own path, not ``/api/runs/{run_id}``
    with the id "external")."""
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    out = {m for m in order
           if any(route.matches({**request.scope, "method": m})[0] == Match.FULL for route in app.router.routes)}
    path = request.url.path
    documented = [(template, ops) for template, ops in app.openapi().get("paths", {}).items()
                  if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)), path)]
    if documented:
        _, ops = min(documented, key=lambda t: (t[0].count("{"), -len(t[0])))
        named = {m.upper() for m in ops}
        out &= named | ({"HEAD"} if "GET" in named else set())
    return [m for m in order if m in out] + ["OPTIONS"]
