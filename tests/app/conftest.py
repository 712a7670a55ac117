"""Fixtures for the server tests.

- ``make_client(**settings)``: the FastAPI app on a fresh temporary data dir (``create_app(Settings(...))``)
  in Starlette's TestClient (httpx against the ASGI app, lifespan run); ``client`` is the default one.
- ``live_server``: a REAL uvicorn in a subprocess on a free loopback port, started as ``backprop-viz serve``
  starts it (``app.server.run_server``) with ``BPV_DATA_DIR`` set, ready once ``/healthz`` answers; it can
  be stopped (SIGTERM or SIGKILL) and started again on the same data dir (see ``tests/support.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")  # Starlette's own deprecation

from fastapi.testclient import TestClient  # noqa: E402

from app.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402
from tests.support import Server  # noqa: E402


# -- the ASGI app --------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _testserver_is_a_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starlette's TestClient says ``Host: testserver`` (and test_app_rest's ASGI client ``test``): allow those
    names, as a deployment would its own (BPV_ALLOWED_HOSTS)."""
    monkeypatch.setenv("BPV_ALLOWED_HOSTS", "testserver,test")


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """A factory: ``make_client(max_running=1, ...)`` → a started TestClient on its own temp data dir."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        data_dir = tmp_path / f"data{len(opened)}"
        app = create_app(Settings(data_dir=data_dir, **overrides))
        c = TestClient(app)
        c.__enter__()
        opened.append(c)
        return c

    yield make
    for c in reversed(opened):
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture(scope="module")
def _module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One uvicorn per test module: starting one costs seconds on a loaded 2-core machine."""
    d = tmp_path_factory.mktemp("live")
    server = Server(d / "data", d / "uvicorn.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(_module_server: Server) -> Iterator[Server]:
    """The module's uvicorn; afterwards every run the test left live is stopped, so the next test measures a
    quiet server."""
    if not _module_server.alive():
        _module_server.start()
    yield _module_server
    if not _module_server.alive():
        return
    with httpx.Client(base_url=_module_server.url, timeout=10) as http:
        for run in http.get("/api/runs", params={"limit": 200}).json()["items"]:
            if run["state"] in ("queued", "running", "paused"):
                http.post(f"/api/runs/{run['id']}/stop")
