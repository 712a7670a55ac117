"""One run as the web process owns it: its lifecycle, its history, its newest snapshot, its watchers.

The run's training happens in a worker process (``link``); this object is its one owner on the web side
and lives on the event loop — nothing else writes its state. Transitions go through ``become`` (the state
machine of ``lifecycle.py``), which also tells the worker whether to train. Events from the worker
(``on_points``, ``on_frame``, ``on_ended``) append to the history, replace the newest frame and wake the
watchers. Snapshots are built on demand: ``want_frame`` asks the worker for the next one only when a
watcher has room for it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from ..schemas import RunConfig
from ..worker.frames import compact_grids
from ..worker.wire import Message
from .history import Tail
from .lifecycle import IllegalTransition, RunState, check_action, check_transition
from .pool import WorkerGone
from .storage import Pending

MAX_STEPS = 100  # steps a paused run may have waiting


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Port(Protocol):
    """The way to a run's worker: a local worker process (``pool.WorkerLink``) or a cluster's worker."""

    alive: bool
    runs: set[str]

    def send(self, header: dict[str, Any], body: bytes = b"") -> None: ...

    async def request(self, header: dict[str, Any], body: bytes = b"", timeout: float = ...) -> Message: ...


class Watcher(Protocol):
    """A stream client following a run (``stream.py``)."""

    def wake(self, frame: bool = False) -> None: ...

    def push_state(self, message: dict[str, Any]) -> None: ...


class RunError(ValueError):
    """A request the run cannot carry out; ``status`` is the HTTP status (422 or 429), ``field`` the input."""

    def __init__(self, message: str, status: int = 422, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.field = status, field


class Run:
    def __init__(self, run_id: str, name: str, config: RunConfig, n_train: int) -> None:
        self.id, self.name, self.config, self.n_train = run_id, name, config, n_train
        self.meta: dict[str, Any] = {}
        self.memory = 0  # bytes it is expected to hold at its peak (worker/build.py's memory_estimate)
        self.link: Port | None = None
        self.state = RunState.PAUSED
        self.reason = ""
        self.created_at = self.updated_at = now()
        # history: each epoch's point as JSON text (serialised once by the worker), epochs 0, 1, 2 … in order;
        # the newest in memory, the rest in storage (history.py)
        self.history = Tail()
        self.metrics_cache: tuple[int, int, str] = (-1, -1, "")  # the newest metrics message (stream.py)
        # the newest snapshot frame, shared by every watcher
        self.frame = b""
        self.frame_seq = 0
        self.frame_at = (-1, 0)  # (epoch, batch)
        self.frame_time = 0.0
        self._compact: tuple[int, bytes] = (-1, b"")  # (frame_seq, the newest frame with compact grids)
        self.watchers: set[Watcher] = set()
        self.steps_left = 0
        self.stride = 1  # storage keeps the frames of epochs that are multiples of this
        self.stride_planned = False
        self._want_sent = False
        self._want_at = 0.0
        # how long the worker takes to answer a ``want`` (it finishes the epoch in hand first): the next want
        # goes out this much before the frame is due, so that it arrives on time (an average, seconds)
        self.frame_lead = 0.0
        # storage hand-off: what the writer has not taken yet
        self._stored_points = 0
        self._store_frames: list[tuple[int, bytes]] = []
        self._latest_changed = False
        self._checkpoint: tuple[int, bytes] | None = None
        self.dirty = True
        self.stored = False  # its row exists in storage (the writer waits for it)

    # -- what readers see ---------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return max(0, len(self.history) - 1)

    @property
    def nbytes(self) -> int:
        """What this run holds in memory: its history tail and its newest frame."""
        return self.history.nbytes + len(self.frame) + sum(len(f) for _, f in self._store_frames)

    @property
    def hosted(self) -> bool:
        """The worker still has this run (it is live and its worker is alive)."""
        return self.link is not None and self.link.alive and not self.state.terminal

    def state_message(self) -> dict[str, Any]:
        return {"type": "state", "state": self.state.value, "reason": self.reason, "epoch": self.epoch}

    def touch(self) -> None:
        self.updated_at = now()
        self.dirty = True

    # -- the state machine --------------------------------------------------------------------------------
    def check(self, action: str) -> None:
        check_action(action, self.state)

    def become(self, state: RunState, reason: str = "") -> None:
        """Move to ``state`` (IllegalTransition if the machine forbids it) and tell the worker and watchers."""
        if state is self.state:
            return
        check_transition(self.state, state)
        before = self.state
        self.mirror(state, reason)
        if self.hosted and (state is RunState.RUNNING or before is RunState.RUNNING):
            self._send({"t": "run", "running": state is RunState.RUNNING})

    def mirror(self, state: RunState, reason: str = "") -> None:
        """Take ``state`` as it is (decided elsewhere: a cluster's registry) and tell the watchers."""
        if state is self.state and reason == self.reason:
            return
        self.state, self.reason = state, reason
        self.touch()
        self._want_sent = False
        message = self.state_message()
        for w in list(self.watchers):
            w.push_state(message)

    def end(self, state: RunState, reason: str, *, tell_worker: bool = True, final_frame: bool = True) -> None:
        """A terminal state: the worker forgets the run (after its final snapshot unless said otherwise)."""
        was_hosted = self.hosted
        self.become(state, reason)
        if tell_worker and was_hosted:
            self._send({"t": "drop", "frame": final_frame})
        if self.link is not None:
            self.link.runs.discard(self.id)

    def step(self, unit: str) -> None:
        self.check("step")
        if self.steps_left >= MAX_STEPS:
            raise RunError("too many steps waiting; wait for them to finish", status=429)
        self._send({"t": "step", "unit": unit})
        self.steps_left += 1

    async def configure(self, changes: dict[str, Any]) -> None:
        """Learning rate, speed, probe or one parameter, carried out by the worker (RunError if it refuses).
        Once asked, the change completes even if the asker goes away (a client that closes at once)."""
        await asyncio.shield(asyncio.ensure_future(self._configure(changes)))

    async def _configure(self, changes: dict[str, Any]) -> None:
        if self.hosted and changes:
            assert self.link is not None
            try:
                answer = await self.link.request({"t": "set", "run": self.id, **changes})
            except WorkerGone as e:
                raise RunError(str(e), status=409) from e
            if answer.header.get("error"):
                field = "probe_index" if "probe_index" in changes else "parameter" if "parameter" in changes else None
                raise RunError(f"{field + ': ' if field else ''}{answer.header['error']}", field=field)
        update = {k: v for k, v in changes.items() if k in ("learning_rate", "speed", "probe_index")}
        if update:
            self.config = self.config.model_copy(update=update)
        self.touch()

    async def ask(self, question: str, fields: dict[str, Any]) -> bytes:
        """A question about the paused run's current weights (``walk``, ``gradcheck``, ``whatif``: see
        ``app/worker/questions.py``), answered by its worker as JSON text. IllegalTransition unless paused;
        RunError (422) with the worker's reason when it refuses (a limit, an index out of range)."""
        self.check(question)
        if not self.hosted or self.link is None:
            raise RunError("this run's training worker is not available", status=409)
        try:
            answer = await self.link.request({"t": question, "run": self.id, **fields})
        except WorkerGone as e:
            raise RunError(str(e), status=409) from e
        error = answer.header.get("error")
        if error and self.state.terminal:  # it ended meanwhile (a step asked for earlier diverged …)
            raise IllegalTransition(f"the run is {self.state.value}: {self.reason or error}")
        if error:
            raise RunError(str(error))
        return answer.body

    def set_stride(self, stride: int) -> None:
        if stride != self.stride:
            self.stride = stride
            if self.hosted:
                self._send({"t": "stride", "stride": stride})

    def want_frame(self) -> None:
        """A watcher has room for a newer snapshot: ask the worker for the next one (once at a time)."""
        if self._want_sent or not self.hosted:
            return
        if self.state is RunState.RUNNING or self.steps_left:
            self._want_sent = True
            self._want_at = time.monotonic()
            self._send({"t": "want"})

    def _send(self, header: dict[str, Any]) -> None:
        if self.link is None:
            return
        try:
            self.link.send({**header, "run": self.id})
        except WorkerGone:
            pass  # the pool reports the lost worker and the run ends there

    # -- events from the worker ---------------------------------------------------------------------------
    def on_points(self, points: list[str], ended_at: list[float], steps_left: int) -> None:
        self.history.extend(points, ended_at)
        self.steps_left = steps_left
        self.touch()
        self._wake(False)

    def on_frame(self, epoch: int, batch: int, frame: bytes) -> None:
        self.frame, self.frame_at, self.frame_time = frame, (epoch, batch), time.monotonic()
        self.frame_seq += 1
        if self._want_sent:
            lead = self.frame_time - self._want_at
            self.frame_lead = lead if not self.frame_lead else 0.8 * self.frame_lead + 0.2 * lead
        self._want_sent = False
        if batch == 0 and epoch % self.stride == 0:
            self._store_frames.append((epoch, frame))
        self._latest_changed = True
        self.touch()
        self._wake(True)

    def frame_for(self, grids: str) -> bytes:
        """The newest frame as a watcher asked for it: ``"f4"`` as built, ``"u1"`` with compact grids (made
        once per frame, for every watcher that asks)."""
        if grids == "f4" or not self.frame:
            return self.frame
        if self._compact[0] != self.frame_seq:
            self._compact = (self.frame_seq, compact_grids(self.frame))
        return self._compact[1]

    def unsaved_frame(self, epoch: int) -> bytes | None:
        """The frame of ``epoch`` if it waits for the storage writer (read your writes: it is stored soon)."""
        for e, frame in self._store_frames:
            if e == epoch:
                return frame
        return None

    def on_checkpoint(self, epoch: int, state: bytes) -> None:
        """Where training can carry on from (stored with the history, so that a finished run can go on)."""
        self._checkpoint = (epoch, state)
        self.dirty = True

    def _wake(self, frame: bool) -> None:
        for w in list(self.watchers):
            w.wake(frame)

    # -- storage hand-off ---------------------------------------------------------------------------------
    def drain(self) -> Pending | None:
        """What the storage writer has not had yet (the cursors move now; the writer retries what fails)."""
        if not self.dirty:
            return None
        self.dirty = False
        points = self._new_points()
        frames, self._store_frames = self._store_frames, []
        latest = None
        if self._latest_changed and self.frame:
            self._latest_changed = False
            latest = (self.frame_at[0], self.frame)
        row = {"state": self.state.value, "reason": self.reason, "epoch": self.epoch,
               "updated_at": self.updated_at, "name": self.name, "config": self.config.model_dump_json()}
        saved, self._checkpoint = self._checkpoint, None
        return Pending(self.id, row, points, frames, latest, saved, count=self._stored_points)

    def adopt_stored(self, n_points: int, stride: int) -> None:
        """A run brought back from storage: its first ``n_points`` points are stored already."""
        self._stored_points, self.stride, self.stride_planned, self.stored = n_points, stride, True, True
        self.history.stored = max(self.history.stored, n_points)

    def _new_points(self) -> list[str]:
        start = self._stored_points
        self._stored_points = len(self.history)
        return self.history.since(start)

    @property
    def settled(self) -> bool:
        """Finished, and everything handed to storage."""
        return self.state.terminal and not self.dirty
