"""Fixtures for the image tests: the container engine, the image (built cold), named volumes and
containers — all removed at the end of the session, whatever happens. The measured figures (image size,
build times, time from ``run`` to healthy) are printed in pytest's terminal summary.

No engine at all: the tests skip with the reason, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load_kit() -> ModuleType:
    """tests/docker/engine.py, loaded by path (works whatever pytest's import mode)."""
    name = "bpv_docker_engine"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("engine.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


kit = _load_kit()
SESSION = uuid.uuid4().hex[:10]
FIGURES: dict[str, Any] = {}  # filled by the fixtures and tests, printed at the end


@dataclass
class Server:
    """A running container of the image: its name, the volume at /data and the URL it answers on."""

    engine: str
    name: str
    volume: str
    port: int
    seconds_to_healthy: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def docker_kit() -> ModuleType:
    return kit


@pytest.fixture(scope="session")
def figures() -> dict[str, Any]:
    return FIGURES


@pytest.fixture(scope="session")
def engine() -> str:
    name, why = kit.find_engine()
    if name is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no container engine can be had: {why}", pytrace=False)
        FIGURES["_skipped"] = why  # printed in the summary even without -rs
        pytest.skip(f"no container engine: {why}")
    return str(name)


@pytest.fixture(scope="session")
def image(engine: str) -> Iterator[str]:
    """The project's image, built from scratch (``--no-cache``) so that the figure is a cold build and a
    broken step cannot hide behind an old cache. ``BPV_DOCKER_USE_CACHE=1`` allows the cache."""
    tag = f"backprop-viz-test:{SESSION}"
    cold = os.environ.get("BPV_DOCKER_USE_CACHE") != "1"
    try:
        seconds, output = kit.build(engine, tag, no_cache=cold)
        FIGURES["engine"] = engine
        FIGURES["build (cold, --no-cache)" if cold else "build (cache allowed)"] = f"{seconds:.1f} s"
        FIGURES["image size"] = f"{kit.image_size(engine, tag) / 1e6:.0f} MB"
        FIGURES["_build_output"] = output
        FIGURES["_build_was_cold"] = cold
        yield tag
    finally:
        kit.remove(engine, images=[tag])


@pytest.fixture(scope="session")
def make_volume(engine: str) -> Iterator[Callable[[], str]]:
    """Creates named volumes (``<engine> volume create``); all are removed at the end."""
    made: list[str] = []

    def make() -> str:
        name = f"bpv-test-{SESSION}-{len(made)}"
        kit.run(engine, "volume", "create", name)
        made.append(name)
        return name

    try:
        yield make
    finally:
        kit.remove(engine, volumes=made)


@pytest.fixture(scope="session")
def start_server(engine: str, image: str, make_volume: Callable[[], str]) -> Iterator[Callable[..., Server]]:
    """Starts a container of the image on the host network, bound to 127.0.0.1 (``host=None``: the image's
    0.0.0.0) on a free port, with a named volume at /data, and waits until /healthz answers. Containers are
    removed at the end (before the volumes and the image, as this fixture is set up after them)."""
    started: list[str] = []

    def start(volume: str | None = None, host: str | None = "127.0.0.1") -> Server:
        volume = volume or make_volume()
        name = f"bpv-test-{SESSION}-{len(started)}"
        port = kit.free_port()
        t0 = time.perf_counter()
        started.append(name)
        kit.start(engine, image, name, port, volume, host)
        try:
            kit.wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=90,
                             alive=lambda: kit.dead_reason(engine, name))
        except (TimeoutError, RuntimeError) as exc:
            pytest.fail(f"{exc}\n--- container log ---\n{kit.logs(engine, name)}", pytrace=False)
        seconds = time.perf_counter() - t0
        FIGURES.setdefault("_run_to_healthy", []).append(seconds)
        return Server(engine, name, volume, port, seconds)

    try:
        yield start
    finally:
        kit.remove(engine, containers=started)


@pytest.fixture(scope="session")
def server(start_server: Callable[..., Server]) -> Server:
    """One container shared by the tests that only read from it or add runs."""
    return start_server()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    if "_skipped" in FIGURES:
        terminalreporter.section("docker image tests skipped")
        terminalreporter.write_line(f"no container engine: {FIGURES['_skipped']}")
        return
    terminalreporter.section("docker image figures")
    for key, value in FIGURES.items():
        if key == "_run_to_healthy":
            runs = ", ".join(f"{s:.2f}" for s in value)
            terminalreporter.write_line(f"run → healthy (/healthz 200), per container started: {runs} s")
        elif not key.startswith("_"):
            terminalreporter.write_line(f"{key}: {value}")
