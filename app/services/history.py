"""A run's history as the web process holds it: every epoch's point (EpochPoint JSON text, serialised once by
the worker), epochs 0, 1, 2 … in order — but only a bounded tail of it in memory. Epochs older than the tail
are read back from storage, where they are by then: the tail never lets go of a point the storage writer
has not committed (``committed``), so a point is always in memory, in SQLite, or in both.

Also the shape of a long history sent at once (``hello``): every epoch up to ``HELLO_ALL`` epochs; beyond,
every ``stride``-th epoch (a power of two, so the same epochs stay chosen as the run grows) and then every
epoch of the newest ``HELLO_RECENT``. A client that needs every point pages through the REST history.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TAIL = 256  # epochs kept in memory once storage has them (trimmed in steps of TAIL: at most 2 × TAIL)
HELLO_ALL = 2000  # a history this long or shorter goes out whole
HELLO_RECENT = 500  # beyond it: every epoch of the newest HELLO_RECENT …
HELLO_THIN = 1500  # … after at most this many evenly spaced older ones

Fetch = Callable[[int, int], list[str]]  # storage: the points of epochs [start, end)
FetchAt = Callable[[list[int]], list[str]]  # storage: the points of these epochs


class Tail:
    """The newest points of a live run; ``len`` counts every epoch so far, ``base`` is the oldest in memory."""

    def __init__(self) -> None:
        self.base = 0
        self.points: list[str] = []
        self.ended_at: list[float] = []  # the Unix time each epoch in ``points`` ended (metrics' ``ended_at``)
        self.stored = 0  # epochs [0, stored) are committed to storage

    def __len__(self) -> int:
        return self.base + len(self.points)

    def extend(self, points: list[str], ended_at: list[float]) -> None:
        self.points.extend(points)
        self.ended_at.extend(ended_at)

    def since(self, start: int) -> list[str]:
        """Points of epochs [start, len) (``start`` ≥ ``base``: the storage hand-off is never trimmed away)."""
        return self.points[start - self.base:]

    def slice(self, start: int, end: int) -> list[str]:
        """Points of epochs [start, end) that are in memory (start ≥ base)."""
        return self.points[start - self.base:end - self.base]

    def ended(self, epoch: int) -> float | None:
        i = epoch - self.base
        return self.ended_at[i] if 0 <= i < len(self.ended_at) else None

    def committed(self, count: int) -> None:
        """Storage holds epochs [0, count): let go of those, but for the newest TAIL epochs (trimmed once more
        than 2 × TAIL are held, so that a list is not shifted at every epoch)."""
        self.stored = max(self.stored, count)
        if len(self.points) <= 2 * TAIL:
            return
        cut = min(self.stored, len(self) - TAIL) - self.base
        if cut > 0:
            del self.points[:cut], self.ended_at[:cut]
            self.base += cut

    @property
    def nbytes(self) -> int:
        return sum(len(p) for p in self.points) + 8 * len(self.ended_at)


async def read(tail: Tail | None, fetch: Fetch, start: int, end: int) -> list[str]:
    """Points of epochs [start, end): from memory what is there, the rest from storage (in a thread). The tail
    may be trimmed while storage is read; what it lets go of is in storage by then, so the loop reads it."""
    out: list[str] = []
    while start < end:
        if tail is not None and start >= tail.base:
            page = tail.slice(start, end)
            out.extend(page)
            return out
        stop = end if tail is None else min(end, tail.base)
        page = await asyncio.to_thread(fetch, start, stop)
        out.extend(page)
        if len(page) < stop - start:  # storage does not have them (a run deleted meanwhile)
            return out
        start = stop
    return out


async def read_at(tail: Tail | None, fetch_at: FetchAt, epochs: list[int]) -> list[str]:
    """Points of the given epochs (ascending), from memory what is there, the rest from storage."""
    out: list[str] = []
    i = 0
    while i < len(epochs):
        if tail is not None and epochs[i] >= tail.base:
            out.extend(tail.points[e - tail.base] for e in epochs[i:] if e < len(tail))
            return out
        j = len(epochs) if tail is None else bisect.bisect_left(epochs, tail.base, i)
        out.extend(await asyncio.to_thread(fetch_at, epochs[i:j]))
        i = j
    return out


@dataclass(frozen=True)
class Shape:
    """Which epochs of a history of ``count`` epochs a ``hello`` carries: from ``start`` (0, or the epoch after
    the one a reconnecting client has) every ``stride``-th below ``complete_from``, then every epoch from
    ``complete_from`` on."""

    count: int
    stride: int
    complete_from: int
    start: int = 0

    @classmethod
    def of(cls, count: int, start: int = 0) -> Shape:
        start = min(max(0, start), count)
        if count - start <= HELLO_ALL:
            return cls(count, 1, start, start)
        complete_from = count - HELLO_RECENT
        stride = 1
        while -(-(complete_from - start) // stride) > HELLO_THIN:
            stride *= 2
        return cls(count, stride, complete_from, start)

    def thinned(self) -> list[int]:
        return list(range(self.start, self.complete_from, self.stride))


async def hello_points(tail: Tail | None, fetch: Fetch, fetch_at: FetchAt, count: int,
                       start: int = 0) -> tuple[list[str], Shape]:
    """The points a ``hello`` carries of a history of ``count`` epochs (those from ``start`` on), and their
    shape."""
    shape = Shape.of(count, start)
    older = await read_at(tail, fetch_at, shape.thinned()) if shape.complete_from > shape.start else []
    return older + await read(tail, fetch, shape.complete_from, count), shape


class Thinner:
    """At most ``limit`` of ``count`` points, fed one at a time in epoch order: the first, the last, and in
    each of (limit − 2) / 2 even buckets the lowest and the highest training cost (a bucket without any
    cost keeps its first point), so that a thinned curve keeps its spikes. Holds O(limit) points."""

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        k = max(1, (limit - 2) // 2)
        self.q, self.r = divmod(count, k)  # numpy's array_split: r buckets of q + 1, then k − r of q
        self.ends: list[dict[str, Any]] = []
        self.first: dict[int, dict[str, Any]] = {}
        self.low: dict[int, tuple[float, dict[str, Any]]] = {}
        self.high: dict[int, tuple[float, dict[str, Any]]] = {}

    def _bucket(self, i: int) -> int:
        q, r = self.q, self.r
        return i // (q + 1) if i < r * (q + 1) else r + (i - r * (q + 1)) // q

    def add(self, p: dict[str, Any]) -> None:
        i = p["epoch"]
        b, cost = self._bucket(i), p["train_cost"]
        if i in (0, self.count - 1):
            self.ends.append(p)
        self.first.setdefault(b, p)
        if cost is not None:
            if b not in self.low or cost < self.low[b][0]:
                self.low[b] = (cost, p)
            if b not in self.high or cost > self.high[b][0]:
                self.high[b] = (cost, p)

    def result(self) -> list[dict[str, Any]]:
        chosen = {p["epoch"]: p for p in self.ends}
        chosen.update({p["epoch"]: p for b, p in self.first.items() if b not in self.low})
        chosen.update({p["epoch"]: p for _, p in [*self.low.values(), *self.high.values()]})
        return [chosen[e] for e in sorted(chosen)]
