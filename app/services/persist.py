"""The storage writer: every ``interval`` seconds, what the runs produced goes to SQLite in one transaction.

The batch is collected on the event loop (the runs live there) and written in a thread. A batch that fails
(a full disk, a locked file) is kept and written again, before anything newer, until it succeeds: nothing
is skipped. ``failing`` says why the last write failed while it keeps failing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .storage import Pending, Storage

log = logging.getLogger("backprop_viz.storage")


class Persister:
    def __init__(self, storage: Storage, source: Callable[[], list[Pending]],
                 written: Callable[[list[Pending]], None], interval: float) -> None:
        self.storage, self.source, self.written, self.interval = storage, source, written, interval
        self.failing: str | None = None
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
                if self.failing is None:
                    log.error("writing runs to %s failed (will retry): %s", self.storage.path, e)
                self.failing = f"{type(e).__name__}: {e}"
                return False
            if self.failing is not None:
                log.warning("writing runs to %s works again", self.storage.path)
            self._held, self.failing = [], None
            self.written(batch)
            return True

    async def close(self) -> None:
        """Stop the loop (after the write it may be doing) and write what is left (one last try)."""
        self._stop.set()
        if self._task is not None:
            await self._task
        await self.flush()
