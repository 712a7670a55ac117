"""What every stream client of the server shares: the event loop's time and the memory held for clients.

However many watch, the loop's work and the bytes waiting for clients stay bounded:

- **Snapshots** share a server-wide budget — ``snapshot_rate`` sends and ``snapshot_mb_rate`` MB a second —
  split evenly among the clients: each client's interval is the longest of 1 / ``max_frame_rate``,
  n / ``snapshot_rate`` and n × (frame size) / (byte rate), n = the server's stream clients. A client
  gets the newest snapshot when its interval is over (latest wins), so each client's rate falls as watchers
  are added and the server's total stays put.
- **Metrics** are never dropped; a client gets them at most n / ``metrics_rate`` seconds apart (what came
  meanwhile travels in one message), never more than ``METRICS_DELAY_MAX`` apart.
- **Memory**: a snapshot goes to a client only when its send buffer is (nearly) empty — it has taken what
  it was sent — and only while the snapshots waiting in all clients' buffers stay under
  ``snapshot_buffer_mb``. Besides, a send waits while a client's buffer is over the transport's high-water
  mark (64 KiB). A client thus holds at most 64 KiB + its largest text message (hello, a metrics batch) +
  one snapshot within the server-wide bound.
- **A watchdog**: a client that has taken nothing of what waits for it (in the send buffer or the kernel's
  send queue) for ``ws_send_timeout`` seconds has stopped reading; it is told (``stalled``) and cut off
  (``StreamSession``).

The client's transport is uvicorn's, reached through the ASGI ``receive`` callable (``transport_of``); under
another server (the test client) there is none, and sends are bounded by a time-out instead.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import Settings

try:  # the kernel's send queue of a socket (Linux, the BSDs, macOS)
    from fcntl import ioctl
    from termios import TIOCOUTQ
except ImportError:  # elsewhere: the transport's buffer alone
    ioctl, TIOCOUTQ = None, 0  # type: ignore[assignment, misc]
METRICS_DELAY_MAX = 0.25  # seconds a metrics point may wait to travel with later ones, at most
EMPTY = 16 * 1024  # a send buffer holding at most this has been taken (asyncio's low-water mark)
TICK = 0.5  # seconds between the watchdog's looks


def transport_of(ws: Any) -> asyncio.WriteTransport | None:
    """The client's socket transport behind a Starlette WebSocket served by uvicorn: its protocol object is
    the receiver of the ASGI ``receive`` callable. None elsewhere."""
    protocol = getattr(getattr(ws, "_receive", None), "__self__", None)
    transport = getattr(protocol, "transport", None)
    needed = ("get_write_buffer_size", "abort", "is_closing")
    return transport if all(hasattr(transport, n) for n in needed) else None


class Client(Protocol):
    flow: Flow

    def stalled(self) -> None: ...


@dataclass(eq=False)
class Flow:
    """One client's send accounting."""

    transport: asyncio.WriteTransport | None
    written: int = 0  # bytes handed to the transport
    taken: int = 0  # of which the client had taken this many at the last look
    progress_at: float = 0.0  # loop time the client last took something (or had nothing waiting)
    frame_bytes: int = 0  # bytes of the last snapshot that may still wait in the buffer

    def __post_init__(self) -> None:
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        self._fd = sock.fileno() if sock is not None else -1

    def buffered(self) -> int:
        """Bytes waiting in the transport's buffer (this process's memory)."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def unsent(self) -> int:
        """Bytes not yet taken by the client: the transport's buffer and the kernel's send queue (Linux's
        TIOCOUTQ; where there is none, the buffer alone)."""
        queued = array.array("i", [0])
        if self._fd >= 0 and ioctl is not None:
            try:
                ioctl(self._fd, TIOCOUTQ, queued)
            except OSError:
                self._fd = -1
        return self.buffered() + queued[0]


class Fanout:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._min_interval = 1.0 / settings.max_frame_rate
        self._per_send = 1.0 / settings.snapshot_rate
        self._per_byte = 1.0 / (settings.snapshot_mb_rate * 2**20)
        self.clients: set[Client] = set()
        self.frame_buffered = 0  # snapshot bytes that may wait in the clients' buffers, all told
        self._task: asyncio.Task[None] | None = None

    # -- membership ---------------------------------------------------------------------------------------
    def join(self, client: Client) -> None:
        client.flow.progress_at = asyncio.get_running_loop().time()
        self.clients.add(client)
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="stream-watchdog")

    def leave(self, client: Client) -> None:
        self.clients.discard(client)
        self.frame_buffered -= client.flow.frame_bytes
        client.flow.frame_bytes = 0

    # -- the budget -----------------------------------------------------------------------------------------
    def frame_interval(self, nbytes: int) -> float:
        """Seconds between one client's snapshots of ``nbytes``."""
        n = len(self.clients) or 1
        return max(self._min_interval, n * self._per_send, n * nbytes * self._per_byte)

    def metrics_interval(self) -> float:
        return min(METRICS_DELAY_MAX, len(self.clients) / self.settings.metrics_rate)

    def reserve_frame(self, client: Client, nbytes: int) -> bool:
        """May the client have a snapshot of ``nbytes`` now: has it taken what it was sent, and do the snapshots
        waiting server-wide leave room? If so, the bytes are counted as waiting from now on."""
        flow = client.flow
        if flow.transport is None:
            return True
        if flow.buffered() > EMPTY:
            return False
        self.frame_buffered -= flow.frame_bytes
        flow.frame_bytes = 0
        cap = self.settings.snapshot_buffer_mb * 2**20
        if self.frame_buffered > 0 and self.frame_buffered + nbytes > cap:
            return False
        self.reserved(client, nbytes)
        return True

    def reserved(self, client: Client, nbytes: int) -> None:
        """The snapshot about to be sent has ``nbytes`` (the newest may have replaced the one reserved)."""
        flow = client.flow
        if flow.transport is not None:
            self.frame_buffered += nbytes - flow.frame_bytes
            flow.frame_bytes = nbytes

    def sent(self, client: Client, nbytes: int) -> None:
        client.flow.written += nbytes

    # -- the watchdog ---------------------------------------------------------------------------------------
    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(TICK)
            now, total = loop.time(), 0
            for client in list(self.clients):
                flow = client.flow
                if flow.transport is None:
                    continue
                unsent = flow.unsent()
                taken = flow.written - unsent
                if unsent == 0 or taken > flow.taken:
                    flow.progress_at = now
                flow.taken = max(flow.taken, taken)
                flow.frame_bytes = min(flow.frame_bytes, flow.buffered())
                total += flow.frame_bytes
                if now - flow.progress_at > self.settings.ws_send_timeout:
                    flow.progress_at = float("inf")  # told once
                    client.stalled()
            self.frame_buffered = total

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
