"""Fixtures of the client tests: a REAL uvicorn per module (tests/support.py ``Server``), a ``Client`` on
it (every run a test left live is stopped afterwards), and headless Chromium (the Debian package)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backprop_viz import Client, ConflictError
from tests.e2e.e2e_helpers import CHROMIUM, CHROMIUM_ARGS
from tests.support import Server

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("backprop-viz"))  # the console script of this environment


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("client")
    srv = Server(d / "data", d / "uvicorn.log").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.url) as c:
        yield c
        for run in c.runs(limit=200):
            if not run.finished:
                with contextlib.suppress(ConflictError):  # it finished between the listing and the stop
                    run.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped, as in tests/e2e: Playwright's sync API holds an asyncio loop while it is open."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
