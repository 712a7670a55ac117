"""The training workers, seen from the web process: start them, place runs on them, read their events.

Each worker is a process of its own (``python -m <this package>.worker``) joined to this one by a socketpair, so the
event loop never waits on training and never shares an interpreter lock with it. Workers start when the
first runs need them, up to ``size``; a run goes to the worker hosting the fewest runs. Events reach
``on_event`` on the event loop; a worker that dies is reported to ``on_lost`` with the runs it hosted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..worker import wire
from ..worker.wire import Message

log = logging.getLogger("backprop_viz.pool")
START_TIMEOUT = 120.0  # seconds for a new worker to say it is ready (imports NumPy on a loaded machine)
_CODE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding this package
_PACKAGE = __name__.split(".")[0]  # "app" in a checkout, "backprop_viz_server" installed


class WorkerGone(RuntimeError):
    """The worker a command was for has stopped."""


class WorkerLink:
    """One worker process: send it commands, await the answer to one that asks for it."""

    def __init__(self, index: int, proc: subprocess.Popen[bytes], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.index, self.proc, self.reader, self.writer = index, proc, reader, writer
        self.runs: set[str] = set()
        self.alive = True
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Message]] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, header: dict[str, Any], body: bytes = b"") -> None:
        """Queue a command (it leaves as soon as the socket takes it)."""
        if not self.alive:
            raise WorkerGone(f"training worker {self.index} has stopped")
        self.writer.write(wire.pack(header, body))

    async def request(self, header: dict[str, Any], body: bytes = b"", timeout: float = 300.0) -> Message:
        """Send a command and wait for its ``ack`` (a long epoch of another run may come first)."""
        cid = next(self._ids)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[cid] = fut
        try:
            self.send({**header, "id": cid}, body)
            await self.writer.drain()
            async with asyncio.timeout(timeout):
                return await fut
        finally:
            self._waiting.pop(cid, None)

    def answered(self, msg: Message) -> None:
        fut = self._waiting.get(int(msg.header["id"]))
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def gone(self) -> None:
        self.alive = False
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(WorkerGone(f"training worker {self.index} stopped"))


class WorkerPool:
    def __init__(self, size: int, on_event: Callable[[WorkerLink, Message], None],
                 on_lost: Callable[[WorkerLink, str], None]) -> None:
        self.size = max(1, size)
        self.on_event, self.on_lost = on_event, on_lost
        self.links: list[WorkerLink] = []
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._count = itertools.count(1)
        self.closing = False

    async def place(self, run_id: str) -> WorkerLink:
        """The worker that will host ``run_id``: a new one while there are fewer than ``size``, else the one
        hosting the fewest runs."""
        async with self._lock:
            self.links = [w for w in self.links if w.alive]
            if len(self.links) < self.size:
                link = await self._start()
                self.links.append(link)
            else:
                link = min(self.links, key=lambda w: len(w.runs))
            link.runs.add(run_id)
            return link

    async def _start(self) -> WorkerLink:
        index = next(self._count)
        parent, child = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (_CODE_ROOT, os.environ.get("PYTHONPATH"))
                                                            if p),
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"{_PACKAGE}.worker", "--fd", str(child.fileno()), "--parent", str(os.getpid())],
                pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL)
        finally:
            child.close()
        reader, writer = await asyncio.open_connection(sock=parent, limit=2**20)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                ready = await wire.read(reader)
        except (TimeoutError, asyncio.IncompleteReadError) as e:
            proc.kill()
            writer.close()
            raise WorkerGone(f"a training worker did not start (exit code {proc.poll()})") from e
        if ready.type != "ready":
            raise WorkerGone(f"a training worker said {ready.type!r} instead of 'ready'")
        link = WorkerLink(index, proc, reader, writer)
        task = asyncio.create_task(self._read(link), name=f"worker-{index}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("training worker %d started (pid %d)", index, proc.pid)
        return link

    async def _read(self, link: WorkerLink) -> None:
        why = "its connection closed"
        try:
            while True:
                msg = await wire.read(link.reader)
                if msg.type == "ack":
                    link.answered(msg)
                else:
                    try:
                        self.on_event(link, msg)
                    except Exception:  # one bad event must not stop the events of every other run
                        log.exception("handling %s from worker %d failed", msg.type, link.index)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as e:
            why = f"{type(e).__name__}"
        except asyncio.CancelledError:
            why = "the server is stopping"
            raise
        finally:
            link.gone()
            code = await asyncio.to_thread(_reap, link.proc)
            if not self.closing:
                reason = f"exit code {code}" if code is None or code >= 0 else f"killed by signal {-code}"
                log.error("training worker %d (pid %d) stopped: %s, %s", link.index, link.pid, why, reason)
                self.on_lost(link, f"the training worker stopped ({reason})")

    async def close(self, timeout: float = 5.0) -> None:
        """Ask every worker to leave, then make sure they have."""
        self.closing = True
        for link in self.links:
            if link.alive:
                with contextlib.suppress(Exception):
                    link.send({"t": "exit"})
                    await link.writer.drain()
        procs = [link.proc for link in self.links]
        await asyncio.to_thread(_wait_all, procs, timeout)
        for task in list(self._tasks):
            task.cancel()
        for link in self.links:
            with contextlib.suppress(Exception):
                link.writer.close()


def _reap(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> int | None:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


def _wait_all(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
