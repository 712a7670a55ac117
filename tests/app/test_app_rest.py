"""REST API against the ASGI app (Starlette's TestClient = httpx over ASGI, lifespan included): runs,
their lifecycle, PATCH, history, snapshots, export and data."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.worker import frames
from tests.support import at_rest, check_frame_layout, expected_shapes, wait_async, wait_for

pytestmark = pytest.mark.timeout(120)

PLAYGROUND = {"dataset": "circle", "hidden_layers": [4, 2], "activation": "tanh", "learning_rate": 0.03,
              "batch_size": 10, "noise": 0.0, "train_fraction": 0.5, "epochs": 1000, "speed": None, "seed": 0}


def create(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post("/api/runs", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def get(client: TestClient, run_id: str) -> dict[str, Any]:
    r = client.get(f"/api/runs/{run_id}")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def epoch_of(client: TestClient, run_id: str) -> int:
    return int(get(client, run_id)["epoch"])


def history(client: TestClient, run_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/runs/{run_id}/history")
    assert r.status_code == 200, r.text
    points: list[dict[str, Any]] = r.json()["points"]
    return points


def post(client: TestClient, run_id: str, action: str, json: Any = None) -> httpx.Response:
    return client.post(f"/api/runs/{run_id}/{action}", json=json)


def pause_at_rest(client: TestClient, run_id: str) -> dict[str, Any]:
    """Pause, then the run once REST shows every epoch its worker trained (``at_rest``: the worker's own word)."""
    r = post(client, run_id, "pause")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "paused"
    return at_rest(client, run_id)


# -- creation -----------------------------------------------------------------------------------------------
def test_post_empty_body_starts_the_playground_run(client: TestClient) -> None:
    r = client.post("/api/runs", json={})
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["state"] in ("running", "done")
    for key, value in PLAYGROUND.items():
        assert run["config"][key] == value, key
    assert run["layer_sizes"] == [2, 4, 2, 1]
    assert run["activations"] == ["tanh", "tanh", "tanh"]
    assert run["task"] == "classification" and run["n_classes"] == 2
    # the automatic output activation and cost are resolved in the stored config
    assert run["config"]["output_activation"] == "tanh" and run["config"]["cost"] == "quadratic"
    rid = run["id"]
    assert run["links"] == {"self": f"/api/runs/{rid}", "ws": f"/ws/runs/{rid}",
                            "history": f"/api/runs/{rid}/history", "snapshots": f"/api/runs/{rid}/snapshots",
                            "export": f"/api/runs/{rid}/export", "data": f"/api/runs/{rid}/data"}
    wait_for(lambda: epoch_of(client, rid) >= 5, what="the default run to train")
    # no body at all is the same as {}
    r2 = client.post("/api/runs")
    assert r2.status_code == 201, r2.text
    assert r2.json()["config"] == {**run["config"]}


def test_start_false_creates_a_paused_run_that_does_not_train(client: TestClient) -> None:
    run = create(client, start=False, name="idle")
    assert run["state"] == "paused" and run["name"] == "idle"
    # its worker answers twice about the same weights, having looked for work in between: it does not train
    assert at_rest(client, run["id"])["epoch"] == 0
    pts = history(client, run["id"])
    assert [p["epoch"] for p in pts] == [0]  # the initial network's point only


def test_list_is_newest_first_and_paginated(client: TestClient) -> None:
    ids = [create(client, start=False, name=f"r{i}")["id"] for i in range(5)]
    r = client.get("/api/runs")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 5 and body["offset"] == 0
    assert [i["id"] for i in body["items"]] == ids[::-1]
    page1 = client.get("/api/runs", params={"limit": 2}).json()
    page2 = client.get("/api/runs", params={"limit": 2, "offset": 2}).json()
    page3 = client.get("/api/runs", params={"limit": 2, "offset": 4}).json()
    assert [i["id"] for i in page1["items"]] == ids[4:2:-1]
    assert [i["id"] for i in page2["items"]] == ids[2:0:-1]
    assert [i["id"] for i in page3["items"]] == ids[:1]
    assert page1["limit"] == 2 and page3["total"] == 5
    assert client.get("/api/runs", params={"limit": 0}).status_code == 422
    assert client.get("/api/runs", params={"offset": -1}).status_code == 422


def test_get_and_delete(client: TestClient) -> None:
    rid = create(client, speed=50)["id"]
    assert get(client, rid)["id"] == rid
    r = client.delete(f"/api/runs/{rid}")
    assert r.status_code == 204
    for path in ("", "/history", "/snapshots", "/snapshots/0", "/export", "/data"):
        assert client.get(f"/api/runs/{rid}{path}").status_code == 404, path
    assert client.delete(f"/api/runs/{rid}").status_code == 404
    assert post(client, rid, "pause").status_code == 404
    assert rid not in [i["id"] for i in client.get("/api/runs").json()["items"]]
    assert client.get("/api/runs/nope").status_code == 404
    assert client.get("/api/runs/../healthz").status_code in (200, 404)  # never a 500


# -- lifecycle ----------------------------------------------------------------------------------------------
def test_illegal_transitions_are_409_naming_the_state(client: TestClient) -> None:
    rid = create(client, epochs=100_000, speed=100)["id"]
    r = post(client, rid, "resume")
    assert r.status_code == 409 and "running" in r.json()["detail"], r.text
    r = post(client, rid, "step")
    assert r.status_code == 409 and "running" in r.json()["detail"]
    assert post(client, rid, "pause").json()["state"] == "paused"
    r = post(client, rid, "pause")
    assert r.status_code == 409 and "paused" in r.json()["detail"], r.text
    assert post(client, rid, "resume").json()["state"] == "running"
    assert post(client, rid, "stop").json()["state"] == "stopped"
    out = get(client, rid)
    assert out["state"] == "stopped" and out["reason"]
    for action in ("pause", "resume", "step", "stop"):
        r = post(client, rid, action)
        assert r.status_code == 409, (action, r.text)
        assert "stopped" in r.json()["detail"], r.text
    r = client.patch(f"/api/runs/{rid}", json={"parameter": {"kind": "bias", "layer": 1, "row": 0, "value": 1}})
    assert r.status_code == 409 and "stopped" in r.json()["detail"]


def test_run_finishes_done_at_its_epoch_limit(client: TestClient) -> None:
    rid = create(client, epochs=15)["id"]
    wait_for(lambda: get(client, rid)["state"] == "done", what="done")
    out = get(client, rid)
    assert out["epoch"] == 15 and out["reason"]
    assert [p["epoch"] for p in history(client, rid)] == list(range(16))
    r = post(client, rid, "resume")
    assert r.status_code == 409 and "done" in r.json()["detail"]


def test_step_epoch_and_batch(client: TestClient) -> None:
    rid = create(client, start=False)["id"]
    wait_for(lambda: client.get(f"/api/runs/{rid}/export").status_code == 200, what="epoch 0")
    r = post(client, rid, "step", {"unit": "epoch"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "paused"
    wait_for(lambda: epoch_of(client, rid) == 1, what="one epoch")
    wait_for(lambda: len(history(client, rid)) == 2, what="epoch 1's point")
    post(client, rid, "step")  # the unit defaults to epoch
    wait_for(lambda: epoch_of(client, rid) == 2, what="a second epoch")
    before = wait_for(lambda: (e := client.get(f"/api/runs/{rid}/export").json())["epoch"] == 2 and e)
    r = post(client, rid, "step", {"unit": "batch"})
    assert r.status_code == 200
    # one mini-batch: the weights move, the epoch count does not, no history point is added
    after = wait_for(lambda: (e := client.get(f"/api/runs/{rid}/export").json())["weights"] != before["weights"]
                     and e, what="the batch step to change the weights")
    assert after["epoch"] == 2 and epoch_of(client, rid) == 2
    # the worker stands after the step; everything it sent before saying so has arrived
    assert at_rest(client, rid)["epoch"] == 2
    assert [p["epoch"] for p in history(client, rid)] == [0, 1, 2]
    assert get(client, rid)["state"] == "paused"
    assert post(client, rid, "step", {"unit": "lots"}).status_code == 422
    assert post(client, rid, "step", {"unit": "epoch", "extra": 1}).status_code == 422


# -- PATCH --------------------------------------------------------------------------------------------------
def test_patch_learning_rate_while_running_keeps_the_weights(client: TestClient) -> None:
    rid = create(client, epochs=100_000)["id"]
    before = wait_for(lambda: (e := epoch_of(client, rid)) >= 20 and e, what="20 epochs")
    # epochs 1 … `before` were trained before the PATCH was sent: at the old rate
    r = client.patch(f"/api/runs/{rid}", json={"learning_rate": 0.3})
    assert r.status_code == 200, r.text
    assert r.json()["config"]["learning_rate"] == 0.3
    # the PATCH answers once the run's worker has taken the new rate, and the pause sent after it is carried
    # out after it: the history switches once, somewhere after `before`, and never back
    out = pause_at_rest(client, rid)
    post(client, rid, "step")  # one more epoch: the first trained after the pause, surely after the PATCH
    out = wait_for(lambda: (run := get(client, rid))["epoch"] == out["epoch"] + 1 and run, what="the step")
    out = at_rest(client, rid)
    pts = history(client, rid)
    assert [p["epoch"] for p in pts] == list(range(out["epoch"] + 1)), "no reset, no gap"
    lrs = [p["learning_rate"] for p in pts]
    switch = next(k for k, lr in enumerate(lrs) if lr == pytest.approx(0.3))
    assert switch > before, (switch, before)
    assert all(lr == pytest.approx(0.03) for lr in lrs[:switch]), lrs[:switch]
    assert all(lr == pytest.approx(0.3) for lr in lrs[switch:]), lrs[switch:]
    # the cost did not jump back to the initial network's
    assert pts[-1]["train_cost"] < pts[0]["train_cost"]


def epochs_ended(client: TestClient, run_id: str, count: int) -> list[tuple[int, float]]:
    """(epoch, the server's time it ended) for the last point of each metrics message (docs/protocol.md
    ``ended_at``), until they span ``count`` epochs: the server's own clock, however late we read."""
    marks: list[tuple[int, float]] = []
    with client.websocket_connect(f"/ws/runs/{run_id}") as ws:
        recv_json(ws, "hello")
        while len(marks) < 2 or marks[-1][0] - marks[0][0] < count:
            m = recv_json(ws, "metrics")
            marks.append((m["points"][-1]["epoch"], m["ended_at"]))
    return marks


def recv_json(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        m = ws.receive()
        if m.get("text") is not None and (msg := json.loads(m["text"]))["type"] == kind:
            return dict(msg)


def assert_paced(marks: list[tuple[int, float]], speed: float) -> None:
    """A speed is an upper bound on epochs a second: from epoch a to epoch b at least (b − a − 4) / speed
    seconds pass (the worker's pacer lets a run catch up two epochs after a delay, and a new speed may let two
    more through at once: app/worker/host.py). A busy machine only makes the run slower: nothing here asks
    it to be fast."""
    (a, ta), (b, tb) = marks[0], marks[-1]
    assert tb - ta >= (b - a - 4) / speed, (a, b, tb - ta, speed)


def test_patch_speed_paces_epochs(client: TestClient) -> None:
    rid = create(client, epochs=100_000, speed=10)["id"]
    assert_paced(epochs_ended(client, rid, 12), 10)
    # a pace of one epoch in 1 000 s holds the run (after the two epochs it may catch up) …
    r = client.patch(f"/api/runs/{rid}", json={"speed": 0.001})
    assert r.status_code == 200 and r.json()["config"]["speed"] == 0.001
    held = epoch_of(client, rid)
    # … and no speed lifts the pace: the run gets 50 epochs on within the wait's time-out, which that pace
    # would have taken 50 000 s to allow
    r = client.patch(f"/api/runs/{rid}", json={"speed": None})
    assert r.status_code == 200 and r.json()["config"]["speed"] is None
    wait_for(lambda: epoch_of(client, rid) >= held + 50, what="50 epochs at no set speed")
    r = client.patch(f"/api/runs/{rid}", json={"speed": 4})
    assert r.json()["config"]["speed"] == 4
    assert_paced(epochs_ended(client, rid, 12), 4)
    assert client.patch(f"/api/runs/{rid}", json={"speed": 0}).status_code == 422
    assert client.patch(f"/api/runs/{rid}", json={"learning_rate": -1}).status_code == 422
    assert client.patch(f"/api/runs/{rid}", json={"bogus": 1}).status_code == 422


def test_patch_probe_index(client: TestClient) -> None:
    rid = create(client, epochs=100_000, speed=50)["id"]
    r = client.patch(f"/api/runs/{rid}", json={"probe_index": 7})
    assert r.status_code == 200 and r.json()["config"]["probe_index"] == 7
    data = client.get(f"/api/runs/{rid}/data").json()

    def probe_frame() -> Any:
        f = client.get(f"/api/runs/{rid}/export")  # any newer epoch
        snaps = client.get(f"/api/runs/{rid}/snapshots").json()
        frame = client.get(f"/api/runs/{rid}/snapshots/{snaps['latest']}", params={"format": "binary"})
        if frame.status_code != 200 or f.status_code != 200:
            return None
        header, tensors = frames.decode(frame.content)
        return (header, tensors) if header["probe_index"] == 7 else None

    header, tensors = wait_for(probe_frame, what="a snapshot of probe 7")
    # a⁰ is the probe's raw point, standardised with the published mean and scale
    x = (np.asarray(data["train"]["X"][7]) - data["mean"]) / np.asarray(data["scale"])
    np.testing.assert_allclose(tensors["a0"], x.astype(np.float32), rtol=1e-6)
    r = client.patch(f"/api/runs/{rid}", json={"probe_index": len(data["train"]["X"])})
    assert r.status_code == 422 and "probe_index" in r.text


def test_parameter_edit_while_paused_and_409_while_running(client: TestClient) -> None:
    rid = create(client, epochs=100_000)["id"]
    wait_for(lambda: epoch_of(client, rid) >= 3)
    edit = {"parameter": {"kind": "weight", "layer": 1, "row": 0, "col": 1, "value": 0.625}}
    r = client.patch(f"/api/runs/{rid}", json=edit)
    assert r.status_code == 409 and "running" in r.json()["detail"], r.text
    pause_at_rest(client, rid)
    r = client.patch(f"/api/runs/{rid}", json=edit)
    assert r.status_code == 200, r.text
    r = client.patch(f"/api/runs/{rid}", json={"parameter": {"kind": "bias", "layer": 2, "row": 1,
                                                             "value": -0.25}})
    assert r.status_code == 200, r.text

    def edited() -> Any:
        e = client.get(f"/api/runs/{rid}/export").json()
        return e["weights"][0][0][1] == 0.625 and e["biases"][1][1] == -0.25 and e

    wait_for(edited, what="the export to show both edits")
    # the live snapshot of the same epoch shows them too
    snaps = client.get(f"/api/runs/{rid}/snapshots").json()
    _, t = frames.decode(client.get(f"/api/runs/{rid}/snapshots/{snaps['latest']}?format=binary").content)
    assert t["W1"][0, 1] == 0.625 and t["b2"][1] == -0.25
    for bad in ({"kind": "weight", "layer": 9, "row": 0, "col": 0, "value": 1},
                {"kind": "weight", "layer": 1, "row": 5, "col": 0, "value": 1},
                {"kind": "weight", "layer": 1, "row": 0, "value": 1},
                {"kind": "bias", "layer": 0, "row": 0, "value": 1},
                {"kind": "weight", "layer": 1, "row": 0, "col": 0, "value": 1e9}):
        r = client.patch(f"/api/runs/{rid}", json={"parameter": bad})
        assert r.status_code == 422, (bad, r.text)
    # an edit shapes the next epoch: stepping trains from the edited weights without error
    post(client, rid, "step")
    wait_for(lambda: get(client, rid)["epoch"] >= 4 and get(client, rid)["state"] == "paused")


# -- reads --------------------------------------------------------------------------------------------------
def test_history_json_and_csv(client: TestClient) -> None:
    rid = create(client, epochs=12)["id"]
    wait_for(lambda: get(client, rid)["state"] == "done")
    pts = wait_for(lambda: (h := history(client, rid)) and len(h) == 13 and h)
    for p in pts:
        assert set(p) == {"epoch", "train_cost", "test_cost", "accuracy", "train_accuracy", "learning_rate",
                          "grad_norms", "delta_norms"}
        assert len(p["grad_norms"]) == 3 and len(p["delta_norms"]) == 3
        assert 0 <= p["accuracy"] <= 1 and p["train_cost"] >= 0
    r = client.get(f"/api/runs/{rid}/history", params={"format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["epoch", "train_cost", "test_cost", "accuracy", "train_accuracy", "learning_rate",
                       "grad_norm_1", "grad_norm_2", "grad_norm_3", "delta_norm_1", "delta_norm_2", "delta_norm_3"]
    assert len(rows) == 14
    for row, p in zip(rows[1:], pts, strict=True):
        assert int(row[0]) == p["epoch"]
        assert float(row[1]) == pytest.approx(p["train_cost"])
        assert float(row[6]) == pytest.approx(p["grad_norms"][0])
    assert client.get(f"/api/runs/{rid}/history", params={"format": "xml"}).status_code == 422


def test_snapshots_json_binary_and_404_nearest(client: TestClient) -> None:
    rid = create(client, epochs=10, probe_index=3)["id"]
    wait_for(lambda: get(client, rid)["state"] == "done")
    # stored by the writer within a commit interval (0.25 s)
    snaps = wait_for(lambda: (s := client.get(f"/api/runs/{rid}/snapshots").json())["epochs"] == list(range(11))
                     and s, what="all 11 epochs stored")
    assert snaps["latest"] == 10
    sizes = [2, 4, 2, 1]
    for epoch in (0, 5, 10):
        js = client.get(f"/api/runs/{rid}/snapshots/{epoch}")
        assert js.status_code == 200
        body = js.json()
        assert body["epoch"] == epoch and body["batch"] == 0 and body["probe_index"] == 3
        b = client.get(f"/api/runs/{rid}/snapshots/{epoch}", params={"format": "binary"})
        assert b.status_code == 200 and b.headers["content-type"] == "application/octet-stream"
        header, tensors = frames.decode(b.content)
        header2, tensors2 = check_frame_layout(b.content)
        assert header == header2 and header["epoch"] == epoch
        for name, shape in expected_shapes(sizes, grid=40).items():
            assert tensors[name].shape == shape, name
        assert tensors["test_outputs"].shape == (250, 1)
        assert set(body["tensors"]) == set(tensors)
        for name, arr in tensors.items():
            assert body["tensors"][name]["shape"] == list(arr.shape)
            np.testing.assert_allclose(np.asarray(body["tensors"][name]["data"], np.float32), arr.ravel())
        np.testing.assert_array_equal(tensors2["W1"], tensors["W1"])
    # the epoch's scalars agree with the history
    pt = history(client, rid)[5]
    assert client.get(f"/api/runs/{rid}/snapshots/5").json()["train_cost"] == pytest.approx(pt["train_cost"])
    r = client.get(f"/api/runs/{rid}/snapshots/50")
    assert r.status_code == 404
    detail = r.json()["detail"]
    assert "50" in detail["message"] and detail["nearest"] == [9, 10]
    assert client.get(f"/api/runs/{rid}/snapshots/5", params={"format": "png"}).status_code == 422
    assert client.get(f"/api/runs/{rid}/snapshots/x").status_code == 422


def test_export_and_data(client: TestClient) -> None:
    rid = create(client, epochs=5, hidden_layers=[3], seed=4)["id"]
    wait_for(lambda: get(client, rid)["state"] == "done")
    r = client.get(f"/api/runs/{rid}/export")
    assert r.status_code == 200
    e = r.json()
    assert e["id"] == rid and e["epoch"] == 5 and e["state"] == "done"
    assert e["layer_sizes"] == [2, 3, 1] and e["config"]["seed"] == 4
    assert np.asarray(e["weights"][0]).shape == (2, 3) and np.asarray(e["weights"][1]).shape == (3, 1)
    assert [len(b) for b in e["biases"]] == [3, 1]
    _, t = frames.decode(client.get(f"/api/runs/{rid}/snapshots/5?format=binary").content)
    np.testing.assert_allclose(np.asarray(e["weights"][1], np.float32), t["W2"])
    d = client.get(f"/api/runs/{rid}/data").json()
    assert d["name"] == "circle" and d["task"] == "classification" and d["n_classes"] == 2
    assert len(d["train"]["X"]) == len(d["train"]["y"]) == 250 and len(d["test"]["X"]) == 250
    assert all(len(x) == 2 for x in d["train"]["X"])
    # X is the raw data; the network's input a⁰ is it standardised with the published mean and scale, which
    # the export carries too
    assert d["standardized"] is True and d["column_names"] == d["feature_names"] == ["x1", "x2"]
    x0 = (np.asarray(d["train"]["X"][0]) - d["mean"]) / np.asarray(d["scale"])
    np.testing.assert_allclose(x0.astype(np.float32), t["a0"])
    assert (e["feature_names"], e["standardized"], e["mean"], e["scale"]) == (
        d["feature_names"], True, d["mean"], d["scale"])
    # a paused run with no trained epoch still exports its initial weights
    rid2 = create(client, start=False)["id"]
    e2 = wait_for(lambda: (r2 := client.get(f"/api/runs/{rid2}/export")).status_code == 200 and r2.json())
    assert e2["epoch"] == 0 and e2["state"] == "paused"


def test_httpx_async_client_over_asgi(tmp_path: Any) -> None:
    """The same API through ``httpx.AsyncClient(transport=ASGITransport(app))`` with the lifespan run by hand."""

    async def main() -> None:
        app = create_app(Settings(data_dir=tmp_path / "async"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                r = await c.post("/api/runs", json={"epochs": 8})
                assert r.status_code == 201
                rid = r.json()["id"]

                async def done() -> bool:
                    return bool((await c.get(f"/api/runs/{rid}")).json()["state"] == "done")

                await wait_async(done, what="the run to finish")
                assert (await c.get(f"/api/runs/{rid}")).json()["epoch"] == 8
                assert (await c.get("/healthz")).json()["status"] == "ok"
                assert (await c.get("/api/runs/ffffffffffff")).status_code == 404

    asyncio.run(main())
