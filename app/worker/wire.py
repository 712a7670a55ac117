"""The worker boundary's messages: a JSON header and an optional binary body.

On a byte stream each message is ``[uint32 LE header length][uint32 LE body length][header][body]``. The
header is a JSON object whose ``t`` names the message.

Commands (web process → worker), each about one run (``run``):

    start  {id, run, config, state, stride, resume?}  body: a pickled {"dataset", "checkpoint"?}
                                      → events for epoch 0 (or, from a checkpoint, the frame of where it
                                        stands), then ack {meta, epoch}
    run    {run, running}                     train continuously (true) or not (false: paused/queued)
    step   {run, unit}                        one epoch or one mini-batch of a run that is not running
    set    {id, run, learning_rate?, speed?, probe_index?, parameter?, epochs?}   → ack (error names why)
    walk | gradcheck | whatif {id, run, …}  a question about the current weights (``questions.py``)
                                          → ack, its body the answer as JSON (error: why there is none)
    want   {run}                              someone can use a snapshot: send the next one
    stride {run, stride}                      storage keeps epochs that are multiples of this
    drop   {run, frame}                       forget the run (after a final snapshot when ``frame``)
    exit   {}                                 leave

Events (worker → web process):

    ready  {pid}
    points {run, ended_at, steps_left}  body: one EpochPoint JSON text per epoch, joined by newlines
    frame  {run, epoch, batch}          body: the binary snapshot frame (docs/protocol.md)
    ended  {run, state, reason}         done | diverged | failed; the worker has forgotten the run
    ack    {id, error}                  the command ``id`` was carried out (error: why it was not); body:
                                        a question's answer

Points and frames of one run arrive in the order they were made. The body of ``start`` is a pickle: it
travels only between the server and the workers it started itself.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import struct
from typing import Any, NamedTuple, Protocol

HEAD = struct.Struct("<II")
MAX_HEADER = 16 * 2**20


class Message(NamedTuple):
    header: dict[str, Any]
    body: bytes = b""

    @property
    def type(self) -> str:
        return str(self.header.get("t", ""))


def pack(header: dict[str, Any], body: bytes | bytearray | memoryview = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    return b"".join([HEAD.pack(len(head), len(body)), head, body])


def _unpack_head(raw: bytes) -> tuple[int, int]:
    n_head, n_body = HEAD.unpack(raw)
    if n_head > MAX_HEADER:
        raise ValueError(f"a message header of {n_head} bytes: the stream is corrupt")
    return n_head, n_body


async def read(reader: asyncio.StreamReader) -> Message:
    """The next message (asyncio side); IncompleteReadError at the end of the stream."""
    n_head, n_body = _unpack_head(await reader.readexactly(HEAD.size))
    header = json.loads(await reader.readexactly(n_head))
    body = await reader.readexactly(n_body) if n_body else b""
    return Message(header, body)


class Link(Protocol):
    """What a worker needs of its end of the wire (``Channel`` here; a cluster's worker has another)."""

    closed: bool

    def send(self, header: dict[str, Any], body: bytes | bytearray | memoryview = b"") -> None: ...

    def receive(self, timeout: float | None) -> list[Message]: ...


class Channel:
    """The worker's end: blocking sends, and receives that wait at most a given time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()
        self.closed = False

    def send(self, header: dict[str, Any], body: bytes | bytearray | memoryview = b"") -> None:
        self.sock.sendall(pack(header, body))

    def receive(self, timeout: float | None) -> list[Message]:
        """Every complete message that arrives within ``timeout`` seconds (0: only what is there already;
        None: wait for at least one). Sets ``closed`` at the end of the stream."""
        out = self._parse()
        if out or self.closed:
            return out
        ready, _, _ = select.select([self.sock], [], [], timeout)
        while ready:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                self.closed = True
                break
            self._buf += chunk
            out = self._parse()
            if out:
                break
            ready, _, _ = select.select([self.sock], [], [], None)  # the rest of a message is on its way
        return out

    def _parse(self) -> list[Message]:
        out: list[Message] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= HEAD.size:
            n_head, n_body = _unpack_head(bytes(buf[pos:pos + HEAD.size]))
            end = pos + HEAD.size + n_head + n_body
            if len(buf) < end:
                break
            start = pos + HEAD.size
            header = json.loads(bytes(buf[start:start + n_head]))
            out.append(Message(header, bytes(buf[start + n_head:end])))
            pos = end
        if pos:
            del buf[:pos]
        return out
