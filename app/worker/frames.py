"""The binary snapshot frame (docs/protocol.md) and JSON-safe numbers.

Frame: [uint32 LE header length H][H bytes UTF-8 JSON header][padding to a multiple of 4][data], every
tensor little-endian float32 at a byte offset (from the start of the data) that is a multiple of 4.
The same bytes go over the WebSocket, into SQLite and out of ``GET …/snapshots/{epoch}?format=binary``;
a stream client that asks for compact grids gets ``compact_grids`` of them.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from backprop_core import EpochSnapshot

Array = np.ndarray


def finite(x: float | None) -> float | None:
    """x, or None when it is NaN or ±inf (JSON has neither)."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def point(snap: EpochSnapshot) -> dict[str, Any]:
    """The epoch's scalars as a JSON-safe ``EpochPoint`` dict."""
    return {
        "epoch": snap.epoch,
        "train_cost": finite(snap.train_cost),
        "test_cost": finite(snap.test_cost),
        "accuracy": finite(snap.accuracy),
        "train_accuracy": finite(snap.train_accuracy),
        "learning_rate": snap.learning_rate,
        "grad_norms": [finite(v) for v in snap.grad_norms],
        "delta_norms": [finite(v) for v in snap.delta_norms],
    }


# The header's tensor list depends only on the names and shapes, the same every epoch of a run: serialised
# once per layout (json.dumps of ~30 spec dicts was half of encode()'s time for a small net).
_SPECS: dict[tuple[tuple[str, tuple[int, ...]], ...], str] = {}


def _specs_json(names: list[str], arrays: list[Array]) -> str:
    key = tuple((name, a.shape) for name, a in zip(names, arrays, strict=True))
    text = _SPECS.get(key)
    if text is None:
        specs, offset = [], 0
        for name, a in zip(names, arrays, strict=True):
            specs.append({"name": name, "dtype": "f4", "shape": list(a.shape), "offset": offset})
            offset += a.nbytes  # float32 keeps every offset a multiple of 4
        text = json.dumps(specs, separators=(",", ":"))
        if len(_SPECS) >= 256:
            _SPECS.clear()
        _SPECS[key] = text
    return text


def encode(snap: EpochSnapshot) -> bytes:
    """The binary frame of a snapshot with tensors."""
    tensors = snap.tensors()
    names = list(tensors)
    arrays = [np.ascontiguousarray(a, dtype="<f4") for a in tensors.values()]  # no copy when already f4
    scalars = {
        "type": "snapshot",
        "epoch": snap.epoch,
        "batch": snap.batch,
        "probe_index": snap.probe_index,
        "train_cost": finite(snap.train_cost),
        "test_cost": finite(snap.test_cost),
        "accuracy": finite(snap.accuracy),
        "learning_rate": snap.learning_rate,
    }
    return _assemble(scalars, _specs_json(names, arrays), [a.data for a in arrays])


def _assemble(scalars: dict[str, Any], specs_json: str, parts: list[Any]) -> bytes:
    """[uint32 LE H][H bytes JSON header: the scalars, then "tensors"][padding to 4][the parts' bytes]."""
    head = (json.dumps(scalars, separators=(",", ":"))[:-1] + ',"tensors":' + specs_json + "}").encode()
    pad = b"\0" * (-(4 + len(head)) % 4)
    # join reads the arrays' buffers directly: one copy of the data, not two (tobytes, then join)
    return b"".join([struct.pack("<I", len(head)), head, pad, *parts])


def decode(frame: bytes) -> tuple[dict[str, Any], dict[str, Array]]:
    """Header and tensors (read-only float32 views into ``frame``) of a binary frame."""
    (n,) = struct.unpack_from("<I", frame, 0)
    header: dict[str, Any] = json.loads(frame[4:4 + n])
    start = 4 + n + (-(4 + n) % 4)
    out: dict[str, Array] = {}
    for spec in header["tensors"]:
        count = math.prod(spec["shape"])
        out[spec["name"]] = np.frombuffer(frame, "<f4", count, start + spec["offset"]).reshape(spec["shape"])
    return header, out


GRID_LEVELS = 255  # a compact grid's values: lo + q · (hi − lo) / GRID_LEVELS, q = 0 … 255


def compact_grids(frame: bytes) -> bytes:
    """``frame`` with each ``grid{l}`` tensor as ``u1`` with a ``range`` [lo, hi] (its own min and max):
    value = lo + q · (hi − lo) / 255, within (hi − lo) / 510 of the float32 value. The grids are most of a
    2-D net's snapshot (a 6 × 8 tanh net: 314 of its 322 KB), and drawn as colours; every other tensor keeps
    its float32 bytes. A grid with a value that is not finite stays ``f4``."""
    specs_in = header_only(frame)["tensors"]
    if not any(t["name"].startswith("grid") for t in specs_in) or any(t.get("dtype") != "f4" for t in specs_in):
        return frame  # no grids (inputs that are not 2-D), or an external run's frame with other dtypes: as it came
    header, tensors = decode(frame)
    specs, parts, offset = [], [], 0
    for spec in header["tensors"]:
        a = tensors[spec["name"]]
        out = {"name": spec["name"], "dtype": "f4", "shape": spec["shape"], "offset": offset}
        data: Any = a.data
        if spec["name"].startswith("grid") and a.size and bool(np.isfinite(a).all()):
            lo, hi = float(a.min()), float(a.max())
            step = (hi - lo) / GRID_LEVELS
            q = np.rint((a - lo) / step) if step > 0 else np.zeros(a.shape)
            data = q.astype(np.uint8).tobytes() + b"\0" * (-a.size % 4)  # keeps every offset a multiple of 4
            out.update(dtype="u1", range=[lo, hi])
        specs.append(out)
        parts.append(data)
        offset += len(data) if isinstance(data, bytes) else a.nbytes
    scalars = {k: v for k, v in header.items() if k != "tensors"}
    return _assemble(scalars, json.dumps(specs, separators=(",", ":")), parts)


def header_only(frame: bytes) -> dict[str, Any]:
    """The JSON header of a frame."""
    (n,) = struct.unpack_from("<I", frame, 0)
    out: dict[str, Any] = json.loads(frame[4:4 + n])
    return out
