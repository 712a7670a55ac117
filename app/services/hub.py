"""Fan-out of one run's progress to its WebSocket clients.

The training thread never waits for a client: it only asks the event loop to wake the clients' feeds
(``call_soon_threadsafe``, at most one pending wake at a time). Each feed then sends, at its own pace,
every metrics point it has not sent yet (no gaps: a cursor into the run's history) and the newest
snapshot (latest wins: one slot). A slow client only falls behind; it holds no queue of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any


class Feed:
    """One client's wake-up event and its pending ``state`` messages."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.states: deque[dict[str, Any]] = deque(maxlen=64)


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.feeds: set[Feed] = set()
        self._pending = False
        self._lock = threading.Lock()

    def add(self) -> Feed:
        feed = Feed()
        self.feeds.add(feed)
        return feed

    def remove(self, feed: Feed) -> None:
        self.feeds.discard(feed)

    def wake(self) -> None:
        """From any thread: new points or a new snapshot are there."""
        with self._lock:
            if self._pending:
                return
            self._pending = True
        self._call(self._wake)

    def state(self, message: dict[str, Any]) -> None:
        """From any thread: a state transition every client must see."""
        self._call(self._push_state, message)

    def _call(self, fn: Any, *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the server is shutting down
            pass

    def _wake(self) -> None:
        with self._lock:
            self._pending = False
        for f in self.feeds:
            f.event.set()

    def _push_state(self, message: dict[str, Any]) -> None:
        for f in self.feeds:
            f.states.append(message)
            f.event.set()
