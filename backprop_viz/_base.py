"""What the blocking and the async client share: the server's address and headers, the run handle's fields,
and the stream follower (sans I/O: it is fed the stream's messages and says what to yield and when to stop).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import urlsplit

from ._errors import StreamError
from ._frames import Snapshot, decode
from ._types import ENDED_MID_EPOCH, TERMINAL, EpochPoint, RunInfo
from ._version import __version__

# Close codes after which reconnecting cannot help (docs/protocol.md): unsupported data, too big, policy
# (no such run, origin, token).
FINAL_CLOSE_CODES = frozenset({1003, 1008, 1009})
HELLO_ALL = 2000  # a history this long or shorter comes whole in hello (docs/protocol.md)
HISTORY_PAGE = 10_000  # points read from GET …/history at once (the server's largest page)


def base_url(server: str) -> str:
    """``http(s)://host[:port][/prefix]`` without a trailing slash; ValueError for anything else."""
    text = server.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the server must be an http:// or https:// URL like http://127.0.0.1:8000, got {server!r}")
    return text


def ws_url(server: str, run_id: str, since: int = -1) -> str:
    """The run's stream; ``since``: the last epoch this client has (a reconnect: hello starts after it)."""
    return "ws" + server[4:] + f"/ws/runs/{run_id}" + (f"?since={since}" if since >= 0 else "")


def headers(token: str | None) -> dict[str, str]:
    out = {"User-Agent": f"backprop-viz-client/{__version__}"}
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


def config_body(name: str, start: bool, config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "name": name, "start": start}


class RunBase:
    """A run on the server: its ``id`` and the newest ``info`` this handle has seen (every call that returns the
    run, and ``watch()``, refreshes it)."""

    def __init__(self, server: str, info: RunInfo) -> None:
        self.server = server
        self.info = info

    @property
    def id(self) -> str:
        return self.info["id"]

    @property
    def name(self) -> str:
        return self.info["name"]

    @property
    def state(self) -> str:
        return self.info["state"]

    @property
    def reason(self) -> str:
        return self.info["reason"]

    @property
    def epoch(self) -> int:
        return self.info["epoch"]

    @property
    def config(self) -> dict[str, Any]:
        return self.info["config"]

    @property
    def finished(self) -> bool:
        return self.info["state"] in TERMINAL

    @property
    def page_url(self) -> str:
        """The page showing this run (static/js/hash.js reads ``run=`` from the hash)."""
        return f"{self.server}/#run={self.id}"

    def show(self, height: int = 760) -> None:
        """In a notebook, embed the page for this run (an iframe); elsewhere print its address.

        The server must allow the notebook's origin to frame it: start it with
        ``BPV_FRAME_ANCESTORS='["http://localhost:8888"]'`` (it refuses framing by default)."""
        embed = PageEmbed(self.page_url, height)
        try:
            from IPython import get_ipython  # type: ignore[attr-defined, unused-ignore]
            from IPython.display import display
        except ImportError:
            print(self.page_url)
            return
        if get_ipython() is None:
            print(self.page_url)
            return
        display(embed)

    def _repr_html_(self) -> str:
        return (f'<div>Run <a href="{html.escape(self.page_url)}" target="_blank">{html.escape(self.id)}</a> '
                f"{html.escape(self.name)} — {html.escape(self.state)} at epoch {self.epoch}</div>")

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Run {self.id}{name} {self.state} epoch={self.epoch}>"


class PageEmbed:
    """The page for a run in an iframe: what ``Run.show()`` displays in a notebook (``_repr_html_``)."""

    def __init__(self, url: str, height: int = 760) -> None:
        self.url, self.height = url, int(height)

    def _repr_html_(self) -> str:
        src = html.escape(self.url)
        return (f'<iframe src="{src}" width="100%" height="{self.height}" style="border:1px solid #ddd" '
                f'title="backprop-viz run"></iframe><div><a href="{src}" target="_blank">open in a tab</a></div>')

    def __repr__(self) -> str:
        return f"PageEmbed({self.url!r})"


class Follower:
    """Follows one run's stream across reconnections: fed each message (text or binary), it returns the
    items to yield — every epoch's point once, in order, and (when asked) each newer snapshot — and says when
    the run has ended. Points and snapshots already yielded (by epoch) are skipped after a reconnection, whose
    ``hello`` repeats the history.

    A long run's ``hello`` carries only every ``history_stride``-th epoch before ``history_complete_from``
    (docs/protocol.md): then ``gap()`` names the epochs to read from ``GET …/history`` (``since``, ``until``),
    and ``fill`` takes them, page by page; the points after the gap wait until it is filled."""

    def __init__(self, run: RunBase, snapshots: bool, since: int) -> None:
        self.run, self.snapshots = run, snapshots
        self.last_epoch = since  # points with epoch ≤ this were yielded (or not wanted)
        self.last_snapshot = (-1, -1)
        self.ended = False  # the run is finished and nothing more can come
        self.ending = False  # finished, but the epoch in flight may still be published (stopped, interrupted)
        # ``hello`` said the run had ended (not mid-epoch): its newest snapshot, right after, is the last thing
        self.snapshot_last = False
        self.until = 0  # the epochs before this must come from the REST history (hello did not carry them all)
        self._held: list[dict[str, Any]] = []  # hello's points after the gap

    def gap(self) -> tuple[int, int] | None:
        """(since, until): the points of epochs since + 1 … until − 1 are to be read and passed to ``fill``."""
        return (self.last_epoch, self.until) if self.last_epoch + 1 < self.until else None

    def expect(self, newest: int) -> None:
        """The run is at epoch ``newest``: read what this follower lacks up to it from the REST history first,
        when that is more than a ``hello`` carries whole (cheaper than a reconnection's hello and gap)."""
        if newest - self.last_epoch > HELLO_ALL:
            self.until = max(self.until, newest + 1)

    def fill(self, points: list[dict[str, Any]]) -> list[EpochPoint | Snapshot]:
        """Points read from the REST history for ``gap()``; once it is filled, the points ``hello`` had after it."""
        out = self._points([p for p in points if p["epoch"] < self.until])
        if not points:  # nothing more stored: the gap cannot be filled (the run was deleted)
            self.until = 0
        if self.gap() is None and self._held:
            held, self._held = self._held, []
            out += self._points(held)
        return out

    def feed(self, message: str | bytes) -> Sequence[EpochPoint | Snapshot]:
        if isinstance(message, bytes):
            if not self.snapshots:
                return ()
            snap = decode(message)
            key = (snap.epoch, snap.batch)
            if self.snapshot_last:
                self.ended = True
            if key <= self.last_snapshot:
                return ()
            self.last_snapshot = key
            return (snap,)
        msg = json.loads(message)
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "hello":
            self.run.info = cast(RunInfo, msg["run"])
            complete_from = int(msg.get("history_complete_from", 0))
            history = [p for p in msg.get("history", []) if p["epoch"] >= complete_from]  # the rest is thinned
            self.until = max(self.until, complete_from)
            self._state(self.run.info["state"])
            if self.snapshots and self.ended:  # read on for the snapshot that follows hello
                self.ended, self.ending, self.snapshot_last = False, True, True
            if self.gap() is not None:
                self._held = history
                return ()
            return self._points(history)
        if kind == "metrics":
            return self._points(msg.get("points", []))
        if kind == "state":
            self.run.info.update({"state": msg["state"], "reason": msg.get("reason", ""),
                                  "epoch": max(self.run.info["epoch"], int(msg.get("epoch", 0)))})
            self._state(msg["state"])
        return ()

    def _points(self, points: list[dict[str, Any]]) -> list[EpochPoint | Snapshot]:
        out: list[EpochPoint | Snapshot] = []
        for p in points:
            if p["epoch"] > self.last_epoch:
                self.last_epoch = p["epoch"]
                out.append(cast(EpochPoint, p))
        if out:
            self.run.info["epoch"] = max(self.run.info["epoch"], self.last_epoch)
        return out

    def _state(self, state: str) -> None:
        if state in ENDED_MID_EPOCH:
            self.ending = True
        elif state in TERMINAL:
            self.ended = True

    def closed(self, code: int | None, reason: str) -> None:
        """The connection closed: StreamError when reconnecting cannot help."""
        if code in FINAL_CLOSE_CODES and not (self.ended or self.ending):
            raise StreamError(code, reason)
