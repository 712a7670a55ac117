"""The binary snapshot frame (app/services/frames.py) against docs/protocol.md, for several layouts (the
header's tensor list is cached per layout: it must never leak from one network into another)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.worker import frames
from backprop_core import MLP, Trainer, datasets
from tests.support import check_frame_layout, expected_shapes


def snapshots(sizes: list[int], dataset: str, n: int = 2, **kw: object) -> list[object]:
    ds = datasets.load(dataset, n_samples=200)
    out_act = "tanh" if sizes[-1] == 1 else "softmax"
    cost = "quadratic" if sizes[-1] == 1 else "cross_entropy"
    net = MLP(sizes, "tanh", out_act, cost, seed=1, **kw)  # type: ignore[arg-type]
    tr = Trainer(net, ds, batch_size=10)
    return [tr.snapshot(), *(tr.step_epoch() for _ in range(n)), tr.step_batch()]


@pytest.mark.parametrize(("sizes", "dataset"), [([2, 4, 2, 1], "circle"), ([2, 1], "xor"), ([64, 40, 10], "digits"),
                                                ([2, 40, 3, 1], "moons")])
def test_frames_follow_the_protocol_and_round_trip(sizes: list[int], dataset: str) -> None:
    for snap in snapshots(sizes, dataset):
        frame = frames.encode(snap)  # type: ignore[arg-type]
        header, tensors = check_frame_layout(frame)
        assert (header["epoch"], header["batch"]) == (snap.epoch, snap.batch)  # type: ignore[attr-defined]
        assert header["train_cost"] == pytest.approx(snap.train_cost)  # type: ignore[attr-defined]
        want = snap.tensors()  # type: ignore[attr-defined]
        assert list(tensors) == list(want), "the tensor order is the snapshot's"
        for name, arr in want.items():
            np.testing.assert_array_equal(tensors[name], np.asarray(arr, np.float32), err_msg=name)
        grid = 40 if sizes[0] == 2 else None
        for name, shape in expected_shapes(sizes, grid=grid).items():
            assert tensors[name].shape == shape, name
        if sizes[0] != 2:
            assert not any(n.startswith("grid") for n in tensors)
        h2, t2 = frames.decode(frame)
        assert h2 == header and all(np.array_equal(t2[k], tensors[k]) for k in tensors)
        assert frames.header_only(frame) == header


def test_float64_networks_are_sent_as_float32() -> None:
    snap = snapshots([2, 3, 1], "circle", n=1, dtype=np.float64)[-1]
    header, tensors = check_frame_layout(frames.encode(snap))  # type: ignore[arg-type]
    assert {s["dtype"] for s in header["tensors"]} == {"f4"}
    np.testing.assert_allclose(tensors["W1"], snap.weights[0].astype(np.float32))  # type: ignore[attr-defined]


def test_non_finite_scalars_are_null_in_the_header() -> None:
    snap = snapshots([2, 3, 1], "circle", n=0)[0]
    import dataclasses

    bad = dataclasses.replace(snap, train_cost=float("nan"), test_cost=float("inf"))  # type: ignore[type-var]
    header, _ = check_frame_layout(frames.encode(bad))
    assert header["train_cost"] is None and header["test_cost"] is None
    json.dumps(header, allow_nan=False)


@pytest.mark.parametrize(("sizes", "dataset"), [([2, 4, 2, 1], "circle"), ([2, 40, 3, 1], "moons"),
                                                ([64, 40, 10], "digits")])
def test_compact_grids_are_a_quarter_of_the_bytes_within_half_a_level(sizes: list[int], dataset: str) -> None:
    """A stream client that asks for compact grids gets each ``grid{l}`` as u1 with its [lo, hi] range:
    lo + q · (hi − lo) / 255 within half a level of the float32 value; every other tensor bit for bit."""
    for snap in snapshots(sizes, dataset):
        frame = frames.encode(snap)  # type: ignore[arg-type]
        compact = frames.compact_grids(frame)
        header, tensors = check_frame_layout(compact)
        want_header, want = frames.decode(frame)
        assert {k: v for k, v in header.items() if k != "tensors"} == {
            k: v for k, v in want_header.items() if k != "tensors"}
        assert list(tensors) == list(want)
        grids = [name for name in want if name.startswith("grid")]
        assert bool(grids) == (sizes[0] == 2)
        for spec in header["tensors"]:
            name, arr = spec["name"], tensors[spec["name"]]
            if name not in grids:
                assert spec["dtype"] == "f4" and "range" not in spec, spec
                np.testing.assert_array_equal(arr, want[name], err_msg=name)
                continue
            lo, hi = spec["range"]
            assert spec["dtype"] == "u1" and arr.dtype == np.uint8
            assert (lo, hi) == (float(want[name].min()), float(want[name].max()))
            values = lo + arr.astype(np.float64) * (hi - lo) / 255
            assert np.abs(values - want[name]).max() <= (hi - lo) / 510 * 1.001 + 1e-7, name
        grid_bytes = sum(want[name].nbytes for name in grids)
        assert len(compact) <= len(frame) - grid_bytes * 3 // 4 + 64 * len(grids)  # (the ranges in the header)
        if not grids:
            assert compact is frame  # as it came: no copy of a big net's frame


def test_a_grid_with_a_value_that_is_not_finite_stays_float32() -> None:
    snap = snapshots([2, 4, 1], "circle", n=0)[0]
    frame = bytearray(frames.encode(snap))  # type: ignore[arg-type]
    header, tensors = frames.decode(bytes(frame))
    spec = next(s for s in header["tensors"] if s["name"] == "grid1")
    start = len(frame) - sum(a.nbytes for a in tensors.values())
    frame[start + spec["offset"]:start + spec["offset"] + 4] = np.float32(np.nan).tobytes()
    h, out = check_frame_layout(frames.compact_grids(bytes(frame)))
    kinds = {s["name"]: s["dtype"] for s in h["tensors"]}
    assert kinds["grid1"] == "f4" and np.isnan(out["grid1"].flat[0])
    assert kinds["grid2"] == "u1"
