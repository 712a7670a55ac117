"""``POST /api/runs/{id}/walkthrough``, ``/gradcheck`` and ``/whatif`` against a REAL uvicorn (its training
workers included): a walkthrough leaves the run where it was, an applied one is one batch step that history
and stream show like any, the check and the nudge are about the same batch, and what is refused is refused
with a message naming the state or the limit."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from app.worker import frames
from backprop_core.walkthrough import MAX_CHECK_PARAMS, MAX_WEIGHTS
from tests import support as kit

pytestmark = pytest.mark.timeout(180)
LAYERS = ("W", "b", "W_after", "b_after", "dW", "db", "dW_probe", "db_probe", "z", "a", "sigma_prime", "delta")


def ask(http: httpx.Client, rid: str, what: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
    r = http.post(f"/api/runs/{rid}/{what}", json=body if body is not None else {})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    return kit.strict_loads(r.text)


def paused_run(http: httpx.Client, **config: Any) -> str:
    run = kit.create_run(http, start=False, **config)
    assert run["state"] == "paused"
    return str(run["id"])


def test_a_walkthrough_leaves_the_run_where_it_was(live_server: kit.Server) -> None:
    live_server.mark_log()
    with live_server.client() as http:
        rid = paused_run(http, epochs=50)
        first = ask(http, rid, "walkthrough")
        assert (first["epoch"], first["batch"], first["n_batches"]) == (0, 0, 25)
        assert len(first["batch_indices"]) == 10 == len(set(first["batch_indices"]))
        assert first["layer_sizes"] == [2, 4, 2, 1] and first["dtype"] == "float32" and not first["applied"]
        assert [layer["layer"] for layer in first["layers"]] == [1, 2, 3]
        assert all(key in layer for layer in first["layers"] for key in LAYERS)
        assert [s["name"] for s in first["steps"]] == ["forward", "cost", "output_delta", "hidden_delta",
                                                      "gradient", "update"]
        assert first["batch_cost_after"] < first["batch_cost_before"]
        # asked again: the same answer, and the run has not moved
        assert ask(http, rid, "walkthrough") == first
        run = kit.strict_loads(http.get(f"/api/runs/{rid}").text)
        assert run["epoch"] == 0 and run["state"] == "paused"
        assert len(kit.strict_loads(http.get(f"/api/runs/{rid}/history").text)["points"]) == 1
        # another probe, same batch; the run's own probe is unchanged
        other = ask(http, rid, "walkthrough", {"probe_index": 3})
        assert other["probe"]["index"] == 3 and other["batch_indices"] == first["batch_indices"]
        assert other["layers"][0]["dW"] == first["layers"][0]["dW"]
        assert kit.strict_loads(http.get(f"/api/runs/{rid}").text)["config"]["probe_index"] == 0
        # the run's own batch step trains exactly the walked batch: its weights are the walk's W_after
        assert http.post(f"/api/runs/{rid}/step", json={"unit": "batch"}).status_code == 200
        after = ask(http, rid, "walkthrough")  # the worker trains the step asked for first
        assert (after["epoch"], after["batch"]) == (0, 1)
        assert after["batch_indices"] != first["batch_indices"]
        for was, now in zip(first["layers"], after["layers"], strict=True):
            assert now["W"] == was["W_after"] and now["b"] == was["b_after"]
    assert live_server.errors() == []


async def _frame_at(ws: Any, epoch: int, batch: int, metrics: list[int], timeout: float = 30.0) -> None:
    """Read the stream up to its snapshot of (epoch, batch), noting the epochs of the metrics on the way."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.recv()
            if isinstance(msg, bytes):
                header = frames.header_only(msg)
                if (header["epoch"], header["batch"]) == (epoch, batch):
                    return
            elif (m := kit.strict_loads(msg))["type"] == "metrics":
                metrics.extend(p["epoch"] for p in m["points"])


def test_an_applied_walkthrough_is_one_batch_step_shown_like_any(live_server: kit.Server) -> None:
    """Two twins: one steps by walkthroughs with apply, the other by POST step; the same weights, the same
    history; the stream shows each applied step's snapshot and the epoch's metrics."""
    async def main() -> None:
        with live_server.client() as http:
            walked, stepped = (paused_run(http, batch_size=125, epochs=50) for _ in range(2))
            async with connect(f"{live_server.ws_url}/ws/runs/{walked}", max_size=2**24) as ws:
                metrics: list[int] = []
                await _frame_at(ws, 0, 0, metrics)
                for batch in (1, 2):
                    applied = ask(http, walked, "walkthrough", {"apply": True})
                    assert applied["applied"] and applied["batch"] == batch - 1
                    assert http.post(f"/api/runs/{stepped}/step", json={"unit": "batch"}).status_code == 200
                    epoch, at = (0, 1) if batch == 1 else (1, 0)
                    await _frame_at(ws, epoch, at, metrics)
                    mine, twin = ask(http, walked, "walkthrough"), ask(http, stepped, "walkthrough")
                    assert (mine["epoch"], mine["batch"]) == (epoch, at)
                    assert mine["layers"] == twin["layers"] and mine["batch_indices"] == twin["batch_indices"]
                    for was, now in zip(applied["layers"], mine["layers"], strict=True):
                        assert now["W"] == was["W_after"]
                assert metrics == [1], "the epoch the second step ended reached the stream, before its snapshot"
            kit.wait_epoch(http, stepped, 1)
            history = [kit.strict_loads(http.get(f"/api/runs/{rid}/history").text)["points"]
                       for rid in (walked, stepped)]
            assert len(history[0]) == 2 and history[0] == history[1]

    asyncio.run(main())


def test_gradcheck_and_whatif_are_about_the_walked_batch_and_change_nothing(live_server: kit.Server) -> None:
    live_server.mark_log()
    with live_server.client() as http:
        rid = paused_run(http)
        walk = ask(http, rid, "walkthrough")
        layer = ask(http, rid, "gradcheck", {"layer": 2})
        assert layer["target"] == "layer" and layer["batch"] == walk["batch_indices"] and layer["dtype"] == "float64"
        assert [len(layer[k]) for k in ("backprop", "numeric", "rel_error")] == [4, 4, 4]
        assert all(len(row) == 2 for row in layer["backprop"]) and len(layer["biases"]["numeric"]) == 2
        assert layer["max_rel_error"] < 1e-6 and layer["epsilon"] == 1e-6 and "ε" in layer["explanation"]
        for row_bp, row_f32 in zip(layer["backprop"], walk["layers"][1]["dW"], strict=True):
            assert row_bp == pytest.approx(row_f32, rel=1e-4, abs=1e-7)  # float64 vs the run's float32
        one = ask(http, rid, "gradcheck", {"layer": 2, "index": [3, 1]})
        assert one["target"] == "weight" and one["biases"] is None
        assert (one["backprop"], one["numeric"]) == (layer["backprop"][3][1], layer["numeric"][3][1])
        bias = ask(http, rid, "gradcheck", {"layer": 3, "bias": 0, "epsilon": 1e-4})
        assert bias["target"] == "bias" and bias["epsilon"] == 1e-4 and bias["rel_error"] < 1e-6
        nudge = ask(http, rid, "whatif", {"layer": 2, "index": [3, 1], "delta": 0.25})
        assert nudge["gradient"] == one["backprop"] and nudge["batch"] == walk["batch_indices"]
        assert nudge["predicted"] == pytest.approx(0.25 * one["backprop"])
        assert nudge["change"] == pytest.approx(nudge["cost_after"] - nudge["cost_before"])
        assert nudge["cost_before"] == layer["cost"]
        assert nudge["value_after"] == pytest.approx(nudge["value_before"] + 0.25)
        assert ask(http, rid, "whatif", {"layer": 1, "bias": 2, "delta": -1})["bias"] == 2
        assert ask(http, rid, "walkthrough") == walk, "neither the check nor the nudge changed the run"
    assert live_server.errors() == []


def test_refusals_name_the_state_or_the_limit(live_server: kit.Server) -> None:
    live_server.mark_log()
    questions = {"walkthrough": {}, "gradcheck": {"layer": 1}, "whatif": {"layer": 1, "bias": 0, "delta": 0.1}}
    with live_server.client() as http:
        running = kit.create_run(http, speed=0.5, epochs=100)["id"]
        for what, body in questions.items():
            r = http.post(f"/api/runs/{running}/{what}", json=body)
            assert r.status_code == 409 and "running (it must be paused)" in r.json()["detail"], r.text
        rid = paused_run(http)
        bad: list[tuple[str, dict[str, Any], str]] = [
            ("walkthrough", {"probe_index": 250}, "probe_index must be in [0, 249]"),
            ("walkthrough", {"apply": "yes"}, "apply"),
            ("walkthrough", {"steps": 2}, "steps"),
            ("gradcheck", {"layer": 0}, "layer"),
            ("gradcheck", {"layer": 4}, "layer must be in [1, 3], got 4"),
            ("gradcheck", {"layer": 1, "index": [0]}, "index"),
            ("gradcheck", {"layer": 1, "index": [2, 0]}, "outside W1's shape [2, 4]"),
            ("gradcheck", {"layer": 1, "index": [0, 0], "bias": 0}, "not both"),
            ("gradcheck", {"layer": 1, "epsilon": 0}, "epsilon"),
            ("whatif", {"layer": 1, "delta": 0.1}, "give index (one weight) or bias"),
            ("whatif", {"layer": 1, "bias": 0}, "delta"),
            ("whatif", {"layer": 1, "bias": 9, "delta": 0.1}, "outside b1's 4 neurons"),
        ]
        for what, body, words in bad:
            r = http.post(f"/api/runs/{rid}/{what}", json=body)
            assert r.status_code == 422 and words in r.text, (what, body, r.text)
        big = paused_run(http, hidden_layers=[200, 200])
        r = http.post(f"/api/runs/{big}/walkthrough", json={})
        assert r.status_code == 422 and f"at most {MAX_WEIGHTS:,}" in r.json()["detail"], r.text
        r = http.post(f"/api/runs/{big}/gradcheck", json={"layer": 2})
        assert r.status_code == 422 and f"at most {MAX_CHECK_PARAMS:,}" in r.json()["detail"], r.text
        assert ask(http, big, "gradcheck", {"layer": 2, "index": [199, 199]})["target"] == "weight"
        assert http.post(f"/api/runs/{rid}/stop").status_code == 200
        r = http.post(f"/api/runs/{rid}/walkthrough", json={})
        assert r.status_code == 409 and "stopped" in r.json()["detail"], r.text
        assert http.post("/api/runs/0123456789ab/gradcheck", json={"layer": 1}).status_code == 404
        assert ask(http, big, "walkthrough", {"apply": False}, status=422)
    assert live_server.errors() == []


def test_openapi_and_catalog_describe_them(live_server: kit.Server) -> None:
    spec = live_server.get("/openapi.json")
    for what, model in (("walkthrough", "WalkthroughOut"), ("gradcheck", "GradcheckOut"), ("whatif", "WhatIfOut")):
        op = spec["paths"][f"/api/runs/{{run_id}}/{what}"]["post"]
        assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(model)
        assert {"404", "409", "422"} <= set(op["responses"])
    assert f"{MAX_WEIGHTS:,} weights" in spec["paths"]["/api/runs/{run_id}/walkthrough"]["post"]["description"]
    info = live_server.get("/api/catalog")["walkthrough"]
    assert info["max_weights"] == MAX_WEIGHTS and info["max_check_params"] == MAX_CHECK_PARAMS
    assert [s["name"] for s in info["steps"]][0] == "forward" and "(5)" in info["steps"][3]["seed"]
    assert info["seed_equations"]["5"].startswith("δˡ") and info["gradcheck"] and info["whatif"]
