"""Fixtures for the page's end-to-end tests: a real uvicorn on a free loopback port with a temporary data
directory, and headless Chromium (the Debian package, never `playwright install`) driven by Playwright's
sync API. Every page records console errors, page errors and every request that leaves 127.0.0.1
(those are aborted). Helpers live in e2e_helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LONG_RUN,
    Server,
    open_page,
    start_server,
    stop_running,
    stop_server,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("bpv-data"), skip=pytest.skip)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API keeps an asyncio loop running in this thread while it is open,
    and later test directories call asyncio.run(); a session-scoped browser would break them."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser: Any, server: Server) -> Iterator[tuple[Any, Any]]:
    p, w = open_page(browser, server, hash=LONG_RUN)
    yield p, w
    p.context.close()


@pytest.fixture(autouse=True)
def _stop_runs_after(server: Server) -> Iterator[None]:
    yield
    stop_running(server)
