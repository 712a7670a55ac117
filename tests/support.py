"""The tests' and benchmarks' one toolbox (``from tests import support as kit``): a REAL uvicorn server in a
subprocess on a free loopback port, waiting for events, strict JSON, WebSocket watchers, a by-the-letter
decoder of the binary snapshot frame.

Nothing here talks to anything but 127.0.0.1, and every loop is bounded in count and time. Waits are for an
event, with a generous time-out, never for a length of time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]  # the checkout: tests/support.py is one level down
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
CLI = str(Path(PYTHON).with_name("backprop-viz"))
FIGURES: dict[str, str] = {}  # measured figures, printed in pytest's terminal summary
ERROR_MARKERS = ("Traceback", " ERROR", "ERROR:", "Exception in ASGI application")


# -- strict JSON: NaN, Infinity and -Infinity are not JSON ------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in JSON")


def strict_loads(text: str | bytes) -> Any:
    """json.loads that refuses NaN / Infinity / -Infinity (Python's json accepts them by default)."""
    return json.loads(text, parse_constant=_reject_constant)


def _die_with_parent() -> None:
    """In the child: SIGKILL it when the process that started it dies (a test killed by a timeout …)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


async def wait_async(predicate: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.05,
                     what: str = "") -> Any:
    """``wait_for`` for a coroutine function, inside a running event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(interval)


# -- the server -----------------------------------------------------------------------------------------------
@dataclass
class Server:
    """The server as ``backprop-viz serve`` runs it, on its own data dir and log file; ``start`` waits for
    /healthz. ``nofile``: a lower file-descriptor limit for the server process."""

    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    factory: str = "app.main:create_app"
    expect_errors: bool = False  # the test expects errors in the log (a run made to raise …)
    root: Path = ROOT  # the checkout to serve (a benchmark may serve an older one beside this one)
    nofile: int | None = None
    host: str = "127.0.0.1"  # the address it listens on (url and ws_url stay on 127.0.0.1)
    proc: subprocess.Popen[bytes] | None = None
    _log_offset: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "backprop-viz.sqlite3"

    def start(self, timeout: float = 30.0) -> Server:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.port = free_port()
        env = {**os.environ, "BPV_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("BPV_PORT", None)
        # The same entry point as `backprop-viz serve` (app/server.py: uvicorn's settings and the connection
        # guards), with the app made by ``factory``.
        module, _, name = self.factory.partition(":")
        cmd = [PYTHON, "-c", f"import sys; from app.server import run_server; from {module} import {name}; "
                             f"sys.exit(run_server({self.host!r}, {self.port}, factory={name}))"]
        if self.root != ROOT:  # another checkout (an older page, measured beside this one): its own uvicorn line
            cmd = [PYTHON, "-m", "uvicorn", self.factory, "--factory", "--host", self.host, "--port", str(self.port),
                   "--ws-per-message-deflate", "false"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        nofile = self.nofile

        def prepare() -> None:
            _die_with_parent()
            if nofile is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=prepare)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not answer /healthz within {timeout} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, kill: bool = False, timeout: float = 15.0) -> int | None:
        """SIGTERM (uvicorn's graceful shutdown; SIGKILL if it takes more than ``timeout`` s), or SIGKILL at
        once with ``kill`` (a crash). Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if kill:
                self.kill()
            else:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds (user + system) so far of the server's event-loop thread (its main thread), of its
        other threads (the storage writer, thread-pool work) and of its training workers, from /proc."""
        tick = os.sysconf("SC_CLK_TCK")

        def seconds(stat: Path) -> float:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        main = other = 0.0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                t = seconds(task / "stat")
                if task.name == str(self.pid):
                    main += t
                else:
                    other += t
        workers = 0.0
        for pid in self.workers():
            with contextlib.suppress(OSError):
                workers += seconds(Path(f"/proc/{pid}/stat"))
        return main, other, workers

    def workers(self) -> list[int]:
        """The pids of the server's training workers (its ``python -m app.worker`` children)."""
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.pid and b"app.worker" in cmd:
                out.append(int(entry.name))
        return out

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_mb(self) -> float:
        """Resident memory of the server process (VmRSS), in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def mark_log(self) -> None:
        """Later ``errors()`` calls look only at what the log gets after this."""
        self._log_offset = len(self.log())

    def errors(self) -> list[str]:
        """Log lines that show a server-side error (tracebacks, ERROR records) since ``mark_log``."""
        text = self.log()[self._log_offset:]
        return [line for line in text.splitlines() if any(m in line for m in ERROR_MARKERS)]

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", 30.0), **kw)

    # one-line REST calls (a fresh connection each; raise on an error status)
    def get(self, path: str) -> Any:
        r = httpx.get(self.url + path, timeout=30)
        r.raise_for_status()
        return strict_loads(r.text)

    def get_bytes(self, path: str) -> bytes:
        r = httpx.get(self.url + path, timeout=30)
        r.raise_for_status()
        return r.content

    def send(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(method, self.url + path, json=body, timeout=30)
        r.raise_for_status()
        return strict_loads(r.text) if r.content else None

    def snapshot(self, run_id: str, epoch: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The binary snapshot of an epoch, decoded by hand (docs/protocol.md)."""
        return check_frame_layout(self.get_bytes(f"/api/runs/{run_id}/snapshots/{epoch}?format=binary"))

    def upload_csv(self, text: str, label_column: str = "label", name: str = "upload") -> Any:
        """POST /api/datasets with a CSV file (multipart), returning the dataset info."""
        r = httpx.post(self.url + "/api/datasets", files={"file": (f"{name}.csv", text.encode(), "text/csv")},
                       data={"label_column": label_column, "name": name}, timeout=60)
        r.raise_for_status()
        return strict_loads(r.text)


# -- REST helpers ---------------------------------------------------------------------------------------------
def create_run(http: httpx.Client, **config: Any) -> dict[str, Any]:
    r = http.post("/api/runs", json=config)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = strict_loads(r.text)
    return out


def wait_state(http: httpx.Client, run_id: str, states: set[str] | str, timeout: float = 30.0) -> dict[str, Any]:
    wanted = {states} if isinstance(states, str) else states
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = strict_loads(http.get(f"/api/runs/{run_id}").text)
        if run["state"] in wanted:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} is {run.get('state')!r} after {timeout} s, wanted {sorted(wanted)}")


def wait_epoch(http: httpx.Client, run_id: str, epoch: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = strict_loads(http.get(f"/api/runs/{run_id}").text)
        if run["epoch"] >= epoch:
            return run
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} is at epoch {run.get('epoch')} after {timeout} s, wanted {epoch}")


def _ask_paused(http: httpx.Client, run_id: str) -> Any:
    """A question only a paused run takes, answered by its worker from the run's current weights and the
    mini-batch it trains next (docs/walkthrough.md ``whatif``; it changes nothing, and nets of any size)."""
    r = http.post(f"/api/runs/{run_id}/whatif", json={"layer": 1, "bias": 0, "delta": 0.0})
    assert r.status_code == 200, f"{r.status_code}: {r.text[:300]}"
    return strict_loads(r.text)


def at_rest(http: httpx.Client, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """A paused run once REST shows all it trained (an epoch in flight at the pause still comes); the run.

    Its worker is asked twice about the run's weights. A worker takes its commands in order, between two steps
    of training, and looks for work after each (app/worker/host.py); its answer follows, on the one channel,
    everything it sent before. So the first answer comes after the pause was carried out and the run's last
    points have reached the web process, and a second answer equal to the first (same weights, same next
    batch) means the paused run does not train. Events, not a length of time."""
    first = _ask_paused(http, run_id)
    again = _ask_paused(http, run_id)
    assert again == first, f"a paused run moved: {first} then {again}"

    def caught_up() -> dict[str, Any] | None:
        run: dict[str, Any] = strict_loads(http.get(f"/api/runs/{run_id}").text)
        points = strict_loads(http.get(f"/api/runs/{run_id}/history").text)["points"]
        return run if len(points) == run["epoch"] + 1 else None

    run: dict[str, Any] = wait_for(caught_up, timeout, what=f"the history of run {run_id} to reach its epoch")
    return run


def committed(db_path: Path, run_id: str) -> dict[str, Any]:
    """What the server has committed to its SQLite file for a run, read from the file: ``epochs`` (the stored
    history's epoch numbers, in order) and the row's ``state``, ``epoch`` and ``latest`` (the newest frame's
    epoch). Waiting on it waits for the storage writer's commit itself, not for its interval."""
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as db:
        epochs = [int(r[0]) for r in db.execute("SELECT epoch FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,))]
        row = db.execute("SELECT state, epoch, latest_epoch FROM runs WHERE id=?", (run_id,)).fetchone()
    state, epoch, latest = row if row else (None, None, None)
    return {"epochs": epochs, "state": state, "epoch": epoch, "latest": latest}


# -- WebSocket watchers ---------------------------------------------------------------------------------------
@dataclass
class Watch:
    """What one client saw: every metrics point (epoch numbers in arrival order), latencies, frames, states."""

    hello: bool = False
    epochs: list[int] = field(default_factory=list)
    hello_epochs: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, metrics' ended_at → receipt
    frames: int = 0
    frame_bytes: int = 0
    states: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # of the state messages after hello
    errors: list[str] = field(default_factory=list)
    close: tuple[int | None, str] | None = None
    receipt_times: list[float] = field(default_factory=list)

    def all_epochs(self) -> list[int]:
        return self.hello_epochs + self.epochs

    def gaps(self) -> list[tuple[int, int]]:
        """Pairs of consecutive epochs (hello history + metrics) that are not n, n+1."""
        seq = self.all_epochs()
        return [(a, b) for a, b in zip(seq, seq[1:], strict=False) if b != a + 1]


TERMINAL = {"done", "stopped", "diverged", "failed", "interrupted"}


async def watch(url: str, *, until_epoch: int | None = None, until_terminal: bool = True,
                read_delay: float = 0.0, timeout: float = 60.0, origin: str | None = None,
                watch_out: Watch | None = None, stop: asyncio.Event | None = None) -> Watch:
    """Follow a run stream until its run ends (or ``until_epoch`` is seen, ``stop`` is set, or ``timeout``).

    ``read_delay`` > 0 makes a slow client: it sleeps that long after every message it takes.
    """
    import websockets

    w = watch_out if watch_out is not None else Watch()
    headers = {"Origin": origin} if origin else None
    deadline = time.monotonic() + timeout
    async with websockets.connect(url, max_size=64 * 2**20, compression=None, open_timeout=20, close_timeout=2,
                                  additional_headers=headers, ping_interval=None) as ws:
        try:
            while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
                try:
                    msg = await asyncio.wait_for(ws.recv(), max(0.01, min(0.25, deadline - time.monotonic())))
                except TimeoutError:
                    continue
                now = time.time()
                if isinstance(msg, bytes):
                    w.frames += 1
                    w.frame_bytes += len(msg)
                else:
                    m = strict_loads(msg)
                    kind = m.get("type")
                    if kind == "hello":
                        w.hello = True
                        w.hello_epochs = [p["epoch"] for p in m["history"]]
                        if m["run"]["state"] in TERMINAL and until_terminal:
                            w.states.append(m["run"]["state"])
                    elif kind == "metrics":
                        w.epochs.extend(p["epoch"] for p in m["points"])
                        w.receipt_times.append(now)
                        if "ended_at" in m:
                            w.latencies.append(now - float(m["ended_at"]))
                    elif kind == "state":
                        w.states.append(m["state"])
                        w.reasons.append(str(m.get("reason", "")))
                    elif kind == "error":
                        w.errors.append(m["message"])
                    if until_terminal and w.states and w.states[-1] in TERMINAL:
                        break
                    if until_epoch is not None and w.all_epochs() and w.all_epochs()[-1] >= until_epoch:
                        break
                if read_delay:
                    await asyncio.sleep(read_delay)
        except Exception as e:  # a close by the server ends the watch; record it
            import websockets.exceptions as wse

            if not isinstance(e, wse.ConnectionClosed):
                raise
        if ws.close_code is not None:
            w.close = (ws.close_code, ws.close_reason or "")
    return w


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


# -- raw WebSocket over a plain socket: for clients that misbehave below the websockets library ---------------
class RawWS:
    """A hand-made WebSocket client: the handshake, then frames written and read by hand."""

    def __init__(self, port: int, path: str, origin: str | None = None, rcvbuf: int | None = None,
                 host: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if origin:
            lines.append(f"Origin: {origin}")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.ended = False  # the server ended the connection (end of stream or a reset), as ``frames`` found
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ", 2)[1])

    def send(self, payload: bytes, opcode: int = 1, fin: bool = True) -> None:
        self.sock.sendall(self._frame(payload, opcode, fin))

    @staticmethod
    def _frame(payload: bytes, opcode: int, fin: bool) -> bytes:
        """A masked client frame."""
        n = len(payload)
        first = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            length = bytes([0x80 | n])
        elif n < 1 << 16:
            length = bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            length = bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        return first + length + mask + _mask(payload, mask)

    def send_big(self, payload: bytes, opcode: int = 1, fin: bool = True, chunk: int = 1 << 16,
                 timeout: float = 120.0) -> int:
        """Send a frame in pieces, as a big upload does, reading what the server sends meanwhile, and stop once
        the server's close frame is in what we have read instead of writing into a reset. Reading keeps our
        receive window open, so the server's close frame leaves it before it drops the connection (a close
        with our bytes unread is a reset, which discards what it had not sent yet). Returns the bytes sent."""
        frame = self._frame(payload, opcode, fin)
        sent = 0
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0)
        try:
            while sent < len(frame) and not self._close_in_buf():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"sent {sent} of {len(frame)} bytes in {timeout} s")
                readable, writable, _ = select.select([self.sock], [self.sock], [], left)
                if readable:  # the server's answer first, before more of ours
                    data = self.sock.recv(1 << 20)
                    if not data:
                        return sent
                    self.buf += data
                    if self._close_in_buf():
                        break
                if writable:
                    sent += self.sock.send(frame[sent:sent + chunk])
        finally:
            self.sock.settimeout(10)
        return sent

    def _close_in_buf(self) -> bool:
        i = 0
        while (parsed := _parse(self.buf[i:])) is not None:
            (opcode, _), used = parsed
            if opcode == 8:
                return True
            i += used
        return False

    def frames(self, timeout: float = 10.0, max_bytes: int = 256 * 2**20) -> Iterator[tuple[int, bytes]]:
        """(opcode, payload) of every frame until the close frame, the end of the connection, or ``timeout``
        seconds in all."""
        deadline = time.monotonic() + timeout
        total = 0
        while total < max_bytes:
            while True:
                frame = _parse(self.buf)
                if frame is None:
                    break
                (opcode, payload), used = frame
                self.buf = self.buf[used:]
                yield opcode, payload
                if opcode == 8:
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                return
            except OSError:
                self.ended = True
                return
            if not chunk:
                self.ended = True
                return
            total += len(chunk)
            self.buf += chunk

    def messages(self, timeout: float = 10.0) -> Iterator[dict[str, Any] | tuple[int, str]]:
        """The JSON text messages (strictly parsed), then (code, reason) if the server closes."""
        for opcode, payload in self.frames(timeout):
            if opcode == 1:
                yield strict_loads(payload)
            elif opcode == 8:
                yield (struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005,
                       payload[2:].decode(errors="replace"))

    def first_error_or_close(self, timeout: float = 10.0) -> dict[str, Any] | tuple[int, str] | None:
        for m in self.messages(timeout):
            if isinstance(m, tuple) or m.get("type") == "error":
                return m
        return None

    def close_code(self, timeout: float = 10.0) -> tuple[int, str] | None:
        """Read until the server's close frame: (code, reason), or None if the connection just ended."""
        for opcode, payload in self.frames(timeout):
            if opcode == 8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:].decode(errors="replace")
        return None

    def abort(self) -> None:
        """Drop the TCP connection with a RST (SO_LINGER 0): no close frame, no FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


def _mask(payload: bytes, mask: bytes) -> bytes:
    import numpy as np

    data = np.frombuffer(payload, np.uint8)
    key = np.resize(np.frombuffer(mask, np.uint8), len(data))
    return (data ^ key).tobytes()


def _parse(buf: bytes) -> tuple[tuple[int, bytes], int] | None:
    if len(buf) < 2:
        return None
    opcode, n, i = buf[0] & 0x0F, buf[1] & 0x7F, 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, i = struct.unpack(">H", buf[2:4])[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, i = struct.unpack(">Q", buf[2:10])[0], 10
    if len(buf) < i + n:
        return None
    return (opcode, buf[i:i + n]), i + n


# -- the binary snapshot frame, by the letter of docs/protocol.md -------------------------------------------
def check_frame_layout(frame: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Decode a binary snapshot frame by hand, following docs/protocol.md to the letter, and check it:
    uint32 LE header length, UTF-8 JSON header, padding to a multiple of 4, f4 (or u1, padded) data at
    offsets that are multiples of 4, tensors that tile the data section exactly. Returns (header, tensors)."""
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
        count = int(np.prod(spec["shape"]))
        size = 4 if spec["dtype"] == "f4" else 1
        dtype = "<f4" if spec["dtype"] == "f4" else "u1"
        out[spec["name"]] = np.frombuffer(frame, dtype, count, start + spec["offset"]).reshape(spec["shape"])
        end = spec["offset"] + count * size
        end += -end % 4 if spec["dtype"] == "u1" else 0  # a u1 tensor is padded to a multiple of 4 bytes
    assert start + end == len(frame), "the frame ends where the last tensor does"
    return header, out


def expected_shapes(layer_sizes: list[int], grid: int | None = None) -> dict[str, tuple[int, ...]]:
    """The protocol's tensor table for a network (without test_outputs, checked separately)."""
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


# -- a cluster's services: Redis and PostgreSQL, our own instances on free loopback ports ----------------------
def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (make test installs Debian's postgresql)")
    return found[-1].parent


@dataclass
class RedisServer:
    """``redis-server`` on 127.0.0.1:<free port>, data in ``dir`` (appendonly: a restart keeps it)."""

    dir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        import redis

        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        wait_for(lambda: _pings(redis.Redis(port=self.port, socket_connect_timeout=1)), timeout=30,
                 what="redis-server to answer")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _pings(r: Any) -> bool:
    import redis

    try:
        return bool(r.ping())
    except redis.RedisError:
        return False


@dataclass
class Postgres:
    """A PostgreSQL cluster of our own (initdb as the postgres user, trust on loopback), on a free port."""

    dir: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> Postgres:
        pg = _pg_bin()
        self.port = self.port or free_port()
        data = self.dir / "db"
        if not data.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            shutil.chown(self.dir, "postgres")
            subprocess.run(["runuser", "-u", "postgres", "--", str(pg / "initdb"), "-D", str(data), "--auth=trust",
                            "-U", "postgres", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        subprocess.run(["runuser", "-u", "postgres", "--", str(pg / "pg_ctl"), "-D", str(data), "-l",
                        str(self.dir / "postgres.log"), "-w", "-t", "120", "-o",
                        f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, timeout=150)
        return self

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(_pg_bin() / "pg_ctl"), "-D", str(self.dir / "db"),
                        "-m", "fast", "-w", "stop"], capture_output=True, timeout=120)


def make_pg_dir() -> Path:
    """A directory PostgreSQL's own user can reach (pytest's tmp dirs are private to root)."""
    return Path(tempfile.mkdtemp(prefix="bpv-pg-"))


@dataclass
class WorkerProc:
    """``backprop-viz worker`` in a subprocess (a cluster's training worker), logging to ``log_path``."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen([CLI, "worker"], env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                                     cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        log.close()
        wait_for(lambda: "ready" in self.log() or (self.proc is not None and self.proc.poll() is not None),
                 timeout=60, what="a worker to be ready")
        assert self.proc.poll() is None, self.log()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A real, small tmpfs mounted at ``where`` (e.g. ``size=64k``, ``ro,size=1m``): a disk that fills or
    refuses writes. Needs root: CI runs as root and fails here without it; elsewhere the test is skipped."""
    import pytest

    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs: {r.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
