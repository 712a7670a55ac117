"""Helpers for the server tests (imported as ``tests.app.helpers``): polling, a by-the-letter decoder of the
binary snapshot frame, the protocol's tensor shapes, and ``LiveServer`` — a REAL uvicorn in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


# -- helpers ---------------------------------------------------------------------------------------------------
def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


async def wait_async(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
                     what: str = "") -> Any:
    """``wait_for`` for a coroutine function ``predicate`` inside a running event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(interval)


def check_frame_layout(frame: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Decode a binary snapshot frame by hand, following docs/protocol.md to the letter, and check it:
    uint32 LE header length, UTF-8 JSON header, padding to a multiple of 4, f4 data at offsets that are
    multiples of 4, tensors that tile the data section exactly. Returns (header, tensors)."""
    assert isinstance(frame, bytes | bytearray) and len(frame) >= 4
    (h,) = struct.unpack_from("<I", frame, 0)
    assert 0 < h <= len(frame) - 4
    header = json.loads(frame[4:4 + h].decode("utf-8"))
    assert header["type"] == "snapshot"
    for key in ("epoch", "batch", "probe_index", "train_cost", "test_cost", "accuracy", "tensors"):
        assert key in header, key
    start = 4 + h
    pad = -start % 4
    assert frame[start:start + pad] == b"\0" * pad
    start += pad
    assert start % 4 == 0
    out: dict[str, np.ndarray] = {}
    end = 0
    for spec in sorted(header["tensors"], key=lambda s: s["offset"]):
        assert spec["dtype"] in ("f4", "u1"), spec
        assert spec["offset"] % 4 == 0, spec
        assert spec["offset"] == end, f"tensors must tile the data section: {spec} after byte {end}"
        assert all(isinstance(d, int) and d >= 0 for d in spec["shape"]), spec
        count = math.prod(spec["shape"])
        size = 4 if spec["dtype"] == "f4" else 1
        dtype = "<f4" if spec["dtype"] == "f4" else "u1"
        out[spec["name"]] = np.frombuffer(frame, dtype, count, start + spec["offset"]).reshape(spec["shape"])
        end = spec["offset"] + count * size
    assert start + end == len(frame), "the frame ends where the last tensor does"
    return header, out


def expected_shapes(layer_sizes: list[int], grid: int | None = None) -> dict[str, tuple[int, ...]]:
    """The protocol's tensor table for a network (without grids / test_outputs, checked separately)."""
    L = len(layer_sizes) - 1
    shapes: dict[str, tuple[int, ...]] = {}
    for l in range(1, L + 1):
        n_in, n = layer_sizes[l - 1], layer_sizes[l]
        shapes[f"W{l}"] = (n_in, n)
        shapes[f"b{l}"] = (n,)
        shapes[f"dW{l}"] = (n_in, n)
        shapes[f"db{l}"] = (n,)
        shapes[f"mean_abs_delta{l}"] = (n,)
        shapes[f"z{l}"] = (n,)
        shapes[f"delta{l}"] = (n,)
    for l in range(0, L + 1):
        shapes[f"a{l}"] = (layer_sizes[l],)
    shapes["y"] = (layer_sizes[-1],)
    if grid:
        for l in range(1, L + 1):
            if layer_sizes[l] <= 32 or l == L:
                shapes[f"grid{l}"] = (layer_sizes[l], grid, grid)
    return shapes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a real uvicorn ---------------------------------------------------------------------------------------------
class LiveServer:
    """``python -m uvicorn app.main:create_app --factory`` on 127.0.0.1:<free port>, data in ``data_dir``."""

    def __init__(self, data_dir: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_env = env or {}
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> LiveServer:
        self.port = free_port()
        env = {**os.environ, "BPV_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1", **self.extra_env}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--ws-per-message-deflate", "false", "--ws-max-size", "1048576",
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop(kill=True)
                raise RuntimeError(f"uvicorn did not answer /healthz within {timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def stop(self, kill: bool = False, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful: the lifespan's shutdown runs) or SIGKILL (a crash); returns the exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")
