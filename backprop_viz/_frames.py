"""The binary snapshot frame of docs/protocol.md, read as untrusted bytes from the network:

    [uint32 LE header length H][H bytes UTF-8 JSON header][0–3 bytes padding to a multiple of 4][data]

each tensor little-endian (``f4`` float32, ``u1`` uint8) at a byte offset from the start of the data; a
``u1`` tensor with a ``range`` [lo, hi] (compact grids, for a client that asks for them) is read as float32.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from ._errors import FrameError

_DTYPES: dict[str, np.dtype[np.float32] | np.dtype[np.uint8]] = {"f4": np.dtype("<f4"), "u1": np.dtype("u1")}


class Snapshot(dict[str, np.ndarray]):
    """One snapshot: its tensors by name (``W1``, ``dW1``, ``a0``, ``delta1``, ``grid1``, ``test_outputs`` …,
    see docs/protocol.md) as NumPy arrays, and its scalars as attributes. ``header`` is the frame's JSON header.
    """

    def __init__(self, header: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        super().__init__(tensors)
        self.header = header

    @property
    def epoch(self) -> int:
        return int(self.header["epoch"])

    @property
    def batch(self) -> int:
        """> 0 for a snapshot taken after a single mini-batch step (inside epoch ``epoch + 1``)."""
        return int(self.header.get("batch", 0))

    @property
    def probe_index(self) -> int:
        return int(self.header.get("probe_index", 0))

    @property
    def train_cost(self) -> float | None:
        return _number(self.header.get("train_cost"))

    @property
    def test_cost(self) -> float | None:
        return _number(self.header.get("test_cost"))

    @property
    def accuracy(self) -> float | None:
        return _number(self.header.get("accuracy"))

    @property
    def learning_rate(self) -> float | None:
        return _number(self.header.get("learning_rate"))

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in self.items())
        return f"<Snapshot epoch={self.epoch} batch={self.batch}: {shapes}>"


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def decode(frame: bytes) -> Snapshot:
    """A ``Snapshot`` from a binary frame; ``FrameError`` saying what is wrong when the bytes are not one.
    The arrays are writable views into one copy of the frame."""
    buf = bytearray(frame)
    if len(buf) < 4:
        raise FrameError(f"a frame has at least 4 bytes, got {len(buf)}")
    (n,) = struct.unpack_from("<I", buf, 0)
    if 4 + n > len(buf):
        raise FrameError(f"the header length {n} runs past the end of the {len(buf)}-byte frame")
    try:
        header = json.loads(bytes(buf[4:4 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FrameError(f"the header is not UTF-8 JSON: {e}") from None
    if not isinstance(header, dict) or not isinstance(header.get("tensors"), list) or "epoch" not in header:
        raise FrameError("the header is not a snapshot header (no 'epoch' or 'tensors')")
    start = 4 + n + (-(4 + n) % 4)
    tensors: dict[str, np.ndarray] = {}
    for spec in header["tensors"]:
        try:
            name, dtype = str(spec["name"]), _DTYPES[spec["dtype"]]
            shape = tuple(int(d) for d in spec["shape"])
            offset = int(spec["offset"])
        except (KeyError, TypeError, ValueError):
            raise FrameError(f"a tensor spec needs a name, a dtype of {sorted(_DTYPES)}, a shape and an offset: "
                             f"{str(spec)[:200]}") from None
        count = math.prod(shape)
        if min(shape, default=0) < 0 or offset < 0 or start + offset + count * dtype.itemsize > len(buf):
            raise FrameError(f"tensor {name!r} {list(shape)} at offset {offset} lies outside the frame")
        arr = np.frombuffer(buf, dtype, count, start + offset).reshape(shape)
        if spec["dtype"] == "u1" and "range" in spec:  # compact: lo + q · (hi − lo) / 255
            try:
                lo, hi = (float(v) for v in spec["range"])
            except (TypeError, ValueError):
                raise FrameError(f"tensor {name!r}: 'range' must be [lo, hi], got {str(spec['range'])[:100]}") from None
            arr = (lo + arr.astype(np.float64) * ((hi - lo) / 255)).astype(np.float32)
        tensors[name] = arr
    return Snapshot(header, tensors)
