"""The client's frame decoder against the server's encoder (app/services/frames.py), and bytes that are not a
frame: each refused with a FrameError that says what is wrong."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from app.worker import frames
from backprop_core import MLP, Trainer, datasets
from backprop_viz import FrameError, decode


def _frame() -> tuple[bytes, dict[str, np.ndarray]]:
    data = datasets.load("circle", n_samples=60, seed=1)
    trainer = Trainer(MLP([2, 3, 1], "tanh", "tanh", "quadratic", seed=1), data, max_epochs=2)
    snap = list(trainer.run())[-1]
    return frames.encode(snap), {k: np.asarray(v, dtype=np.float32) for k, v in snap.tensors().items()}


def test_decode_reads_what_the_server_encodes() -> None:
    frame, tensors = _frame()
    snap = decode(frame)
    assert snap.epoch == 2 and snap.batch == 0 and set(snap) == set(tensors)
    for name, a in tensors.items():
        assert np.array_equal(snap[name], a), name
    snap["W1"][0, 0] = 42.0  # writable, and its own copy: the frame is untouched
    assert decode(frame)["W1"][0, 0] != 42.0


def _with_header(header: dict[str, object], data: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack("<I", len(head)) + head + b"\0" * (-(4 + len(head)) % 4) + data


@pytest.mark.parametrize(("frame", "words"), [
    (b"\x01", "at least 4 bytes"),
    (struct.pack("<I", 99) + b"{}", "runs past the end"),
    (struct.pack("<I", 3) + b"\xff\xfe{", "not UTF-8 JSON"),
    (_with_header({"type": "snapshot"}), "not a snapshot header"),
    (_with_header({"epoch": 1, "tensors": [{"name": "W1", "dtype": "f8", "shape": [1], "offset": 0}]},
                  b"\0" * 8), "dtype"),
    (_with_header({"epoch": 1, "tensors": [{"name": "W1", "dtype": "f4", "shape": [4, 4], "offset": 0}]},
                  b"\0" * 8), "outside the frame"),
])
def test_bytes_that_are_not_a_frame(frame: bytes, words: str) -> None:
    with pytest.raises(FrameError, match=words):
        decode(frame)


def test_uint8_tensors_are_read_too() -> None:
    snap = decode(_with_header({"epoch": 3, "tensors": [{"name": "img", "dtype": "u1", "shape": [2, 2],
                                                          "offset": 0}]}, bytes([1, 2, 3, 4])))
    assert snap["img"].dtype == np.uint8 and snap["img"].tolist() == [[1, 2], [3, 4]]


def test_compact_grids_are_read_as_float32_within_half_a_level() -> None:
    frame, tensors = _frame()
    snap = decode(frames.compact_grids(frame))
    assert set(snap) == set(tensors)
    for name, a in tensors.items():
        assert snap[name].dtype == np.float32, name
        if name.startswith("grid"):
            half_level = (a.max() - a.min()) / 510
            assert np.abs(snap[name] - a).max() <= half_level * 1.01 + 1e-6, name
        else:
            assert np.array_equal(snap[name], a), name
    bad = _with_header({"epoch": 1, "tensors": [{"name": "grid1", "dtype": "u1", "shape": [4], "offset": 0,
                                                  "range": "wide"}]}, bytes(4))
    with pytest.raises(FrameError, match="range"):
        decode(bad)
