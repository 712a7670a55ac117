"""The storage writer: every ``interval`` seconds, what the runs produced goes to SQLite in one transaction.

The batch is collected on the event loop (the runs live there) and written in a thread. A batch that fails
(a full disk, a locked file) is kept and written again, before anything newer, until it succeeds: nothing
is skipped. ``failing`` says why the last write failed while it keeps failing. What waits grows while the
runs go on; past ``max_held`` bytes ``overflow`` is called once (the run service pauses the runs), so that
memory stays bounded and nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .storage import Pending, Storage

log = logging.getLogger("backprop_viz.storage")


class Persister:
    def __init__(self, storage: Storage, source: Callable[[], list[Pending]],
                 written: Callable[[list[Pending]], None], interval: float, max_held: int = 2**62,
                 overflow: Callable[[str], None] | None = None) -> None:
        self.storage, self.source, self.written, self.interval = storage, source, written, interval
        self.max_held, self.overflow = max_held, overflow
        self.failing: str | None = None
        self.held_bytes = 0
        self._overflowed = False
        self._held: list[Pending] = []  # a batch that failed, written again first
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="storage-writer")

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass
            await self.flush()

    async def flush(self) -> bool:
        """Write what is pending now; False if the write failed (it is kept for the next try)."""
        async with self._lock:
            batch = self._held + self.source()
            if not batch:
                return True
            try:
                await asyncio.to_thread(self.storage.write, batch)
            except asyncio.CancelledError:  # the write may still finish in its thread: writing it again is harmless
                self._held = batch
                raise
            except Exception as e:  # keep the batch: the next flush writes it again
                self._held = batch
                self.held_bytes = sum(_size(p) for p in batch)
                if self.failing is None:
                    log.error("writing runs to %s failed (will retry): %s", self.storage.path, e)
                self.failing = f"{type(e).__name__}: {e}"
                if self.held_bytes > self.max_held and not self._overflowed and self.overflow is not None:
                    self._overflowed = True
                    self.overflow(f"storage is failing ({self.failing}) and {self.held_bytes / 2**20:.1f} MB wait "
                                  "to be written: paused so that nothing is lost; resume once the disk has room")
                return False
            if self.failing is not None:
                log.warning("writing runs to %s works again", self.storage.path)
            self._held, self.failing, self.held_bytes, self._overflowed = [], None, 0, False
            self.written(batch)
            return True

    async def close(self) -> None:
        """Stop the loop (after the write it may be doing) and write what is left (one last try)."""
        self._stop.set()
        if self._task is not None:
            await self._task
        await self.flush()


def _size(p: Pending) -> int:
    """The bytes a pending write holds (its texts and frames)."""
    latest = len(p.latest[1]) if p.latest is not None else 0
    return sum(len(t) for t in p.points) + sum(len(f) for _, f in p.frames) + latest + 512
