"""Fixtures for the reliability tests: REAL uvicorn servers in subprocesses on free loopback ports.

- ``server``: one server for the whole module, on its own temporary data dir (tests that need a fresh
  one, other settings or a kill use ``make_server``).
- ``make_server(**env)``: a factory; ``make_server(BPV_API_TOKEN="t")`` starts a server with that env.
  Every server it made is stopped at the end, and each test's server log is checked for errors unless
  the test says it expects some (``srv.expect_errors = True``).
- ``http``: an httpx client on ``server``.

The helpers (``Server``, ``watch``, ``strict_loads`` …) live in ``tests/support.py``, shared by every test
directory and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import support as kit  # noqa: E402


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if kit.FIGURES:
        terminalreporter.section("reliability figures")
        for key, value in kit.FIGURES.items():
            terminalreporter.write_line(f"{key}: {value}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("server")
    srv = kit.Server(base / "data", base / "uvicorn.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def http(server: Any) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(data_dir: Path | None = None, factory: str | None = None, start: bool = True, **env: str) -> Any:
        n = len(made)
        srv = kit.Server(data_dir or tmp_path / f"data{n}", tmp_path / f"uvicorn{n}.log", env=dict(env))
        if factory:
            srv.factory = factory
        srv.expect_errors = False
        made.append(srv)
        return srv.start() if start else srv

    yield make
    for srv in made:
        srv.stop()
    for srv in made:
        if not srv.expect_errors:
            assert srv.errors() == [], f"errors in the server log:\n{srv.log()[-4000:]}"
