"""Strict JSON types where types matter (issue 11, finding 10), against a REAL server: ``[true]`` is not a width
of 1 and ``"4"`` is not 4 — in a run's config, a patch, a parameter edit and the stream's messages — while the
query-parameter endpoints still read their numbers from text. The served schema states the limits the
server's settings set (a probe index below the most training examples a run can have …), every operation
documents the guard's 403 and the cap's 503, and ``OPTIONS`` / 405 answer an ``Allow`` with every method of
the path."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from tests import support as kit

WRONG_TYPES = [
    {"hidden_layers": [True]}, {"hidden_layers": [4, "2"]}, {"hidden_layers": [4.0]}, {"batch_size": "4"},
    {"batch_size": True}, {"epochs": 10.0}, {"learning_rate": "0.1"}, {"learning_rate": True}, {"noise": "0"},
    {"seed": 1.5}, {"standardize": 1}, {"standardize": "true"}, {"start": "false"}, {"features": ["x1", 1]},
    {"n_samples": "100"}, {"probe_index": False}, {"speed": "5"}, {"momentum": None}, {"name": 7},
    {"target_cost": "0.1"}, {"train_fraction": [0.5]},
]


@pytest.mark.parametrize("body", WRONG_TYPES, ids=[json.dumps(b) for b in WRONG_TYPES])
def test_a_run_config_keeps_json_types(http: httpx.Client, body: dict[str, Any]) -> None:
    r = http.post("/api/runs", json={"start": False, **body})
    assert r.status_code == 422, f"{body} → {r.status_code} {r.text[:300]}"
    field = next(iter(body))
    assert field in kit.strict_loads(r.text)["message"], r.text


def test_an_int_is_still_a_number(http: httpx.Client) -> None:
    run = kit.create_run(http, start=False, learning_rate=1, noise=0, momentum=0, speed=20, target_cost=0)
    assert run["config"]["learning_rate"] == 1 and run["config"]["speed"] == 20


def test_patches_edits_and_stream_messages_keep_json_types(server: Any, http: httpx.Client) -> None:
    run = kit.create_run(http, start=False)
    path = f"/api/runs/{run['id']}"
    for body in ({"learning_rate": "0.1"}, {"learning_rate": True}, {"speed": "5"}, {"probe_index": "3"},
                 {"probe_index": True}, {"name": 3},
                 {"parameter": {"kind": "weight", "layer": 1, "row": 0, "col": 0, "value": False}},
                 {"parameter": {"kind": "weight", "layer": 1, "row": 0, "col": 0, "value": "0.5"}},
                 {"parameter": {"kind": "weight", "layer": True, "row": 0, "col": 0, "value": 0.5}}):
        r = http.patch(path, json=body)
        assert r.status_code == 422, f"{body} → {r.status_code}"
    assert http.post(f"{path}/step", json={"unit": 1}).status_code == 422
    replies = asyncio.run(_stream_errors(f"{server.ws_url}/ws/runs/{run['id']}", [
        {"type": "control", "action": "set", "learning_rate": "0.1"},
        {"type": "control", "action": "set", "speed": True},
        {"type": "probe", "index": "3"},
        {"type": "probe", "index": True}]))
    assert all(r is not None and r["status"] == 400 for r in replies), replies
    assert kit.strict_loads(http.get(path).text)["config"]["learning_rate"] == run["config"]["learning_rate"]


async def _stream_errors(url: str, messages: list[dict[str, Any]]) -> list[Any]:
    out = []
    async with websockets.connect(url, compression=None, max_size=2**26) as ws:
        for m in messages:
            await ws.send(json.dumps(m))
            while True:  # the answer to each bad message is an error; nothing else changes
                msg = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(msg, str) and kit.strict_loads(msg)["type"] == "error":
                    out.append(kit.strict_loads(msg))
                    break
    return out


def test_query_parameters_are_still_read_from_text(http: httpx.Client) -> None:
    r = http.get("/api/datasets/circle", params={"noise": "0.1", "n_samples": "50", "seed": "3",
                                                 "train_fraction": "0.6"})
    assert r.status_code == 200, r.text
    assert len(kit.strict_loads(r.text)["train"]["X"]) == 30
    assert http.get("/api/runs", params={"limit": "5", "offset": "0"}).status_code == 200


def test_options_and_405_list_every_method_of_the_path(http: httpx.Client) -> None:
    run = kit.create_run(http, start=False)
    for path, methods in (("/api/runs", "GET, POST"), (f"/api/runs/{run['id']}", "GET, PATCH, DELETE"),
                          (f"/api/runs/{run['id']}/pause", "POST"), ("/api/datasets", "GET, POST"),
                          ("/healthz", "GET")):
        r = http.options(path)
        assert r.status_code == 204 and r.headers["allow"] == f"{methods}, OPTIONS", (path, r.headers.get("allow"))
        r = http.put(path, json={})
        assert r.status_code == 405 and r.headers["allow"] == f"{methods}, OPTIONS", (path, r.headers.get("allow"))
        assert "PUT" in kit.strict_loads(r.text)["detail"]


def test_the_schema_states_the_servers_limits(make_server: Any) -> None:
    srv = make_server(BPV_MAX_SAMPLES="2000", BPV_MAX_UPLOAD_ROWS="3000", BPV_MAX_LAYERS="5", BPV_MAX_WIDTH="64",
                      BPV_MAX_EPOCHS="700")
    schema = kit.strict_loads(httpx.get(f"{srv.url}/openapi.json").text)
    run = schema["components"]["schemas"]["RunCreate"]["properties"]
    assert run["probe_index"]["maximum"] == 2999, run["probe_index"]
    assert run["hidden_layers"]["maxItems"] == 5 and run["hidden_layers"]["items"]["maximum"] == 64
    assert run["epochs"]["maximum"] == 700
    assert [b["maximum"] for b in run["n_samples"]["anyOf"] if b.get("type") == "integer"] == [2000]
    patch = schema["components"]["schemas"]["RunPatch"]["properties"]["probe_index"]
    assert [b["maximum"] for b in patch["anyOf"] if b.get("type") == "integer"] == [2999]
    assert "training examples" in schema["components"]["schemas"]["RunCreate"]["description"]
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "session", "csrf"}
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            assert {"403", "503"} <= set(op["responses"]), f"{method} {path}"
            assert "security" not in op, "no token on this server: nothing to log in to"
    with srv.client() as http:
        for body in ({"probe_index": 3000}, {"hidden_layers": [4] * 6}, {"hidden_layers": [65]}, {"epochs": 701},
                     {"n_samples": 2001}):
            assert http.post("/api/runs", json={"start": False, **body}).status_code == 422, body
        assert http.post("/api/runs", json={"start": False, "epochs": 700, "hidden_layers": [64]}).status_code == 201


def test_with_a_token_the_schema_says_which_operations_need_it(make_server: Any) -> None:
    srv = make_server(BPV_API_TOKEN="t")
    schema = kit.strict_loads(httpx.get(f"{srv.url}/openapi.json").text)
    ops = {(m.upper(), p): op for p, operations in schema["paths"].items() for m, op in operations.items()}
    assert ops[("POST", "/api/runs")]["security"] == [{"bearer": []}, {"session": [], "csrf": []}]
    assert ops[("DELETE", "/api/runs/{run_id}")]["security"] == [{"bearer": []}, {"session": [], "csrf": []}]
    assert "security" not in ops[("GET", "/api/runs")], "reads are open on loopback unless BPV_TOKEN_FOR_READS"
    assert "security" not in ops[("GET", "/healthz")]
