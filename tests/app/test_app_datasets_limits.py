"""Datasets (list, preview, CSV upload), limits (422/413/429), /healthz, OpenAPI and the offline /docs, the
CSP header, and the schema Literals against the core's tables."""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import schemas
from backprop_core import datasets
from backprop_core.activations import HIDDEN_NAMES, OUTPUT_NAMES
from backprop_core.costs import COSTS
from tests.support import wait_for

pytestmark = pytest.mark.timeout(60)


def detail_text(r: Any) -> str:
    body = r.json()
    return str(body.get("message") or body["detail"])


# -- datasets -----------------------------------------------------------------------------------------------
def test_datasets_list_and_preview(client: TestClient) -> None:
    r = client.get("/api/datasets")
    assert r.status_code == 200
    items = {i["name"]: i for i in r.json()["items"]}
    assert list(items)[:len(datasets.DATASETS)] == list(datasets.DATASETS)
    circle = {**items["circle"], "description": ""}
    assert circle == {"name": "circle", "task": "classification", "description": "", "default_samples": 500,
                      "input_dim": 2, "n_classes": 2, "two_d": True, "label": "Circle"}
    assert items["digits"]["input_dim"] == 64 and items["digits"]["n_classes"] == 10
    assert items["plane"]["task"] == "regression"
    p = client.get("/api/datasets/circle", params={"n_samples": 100, "train_fraction": 0.3, "noise": 0.1})
    assert p.status_code == 200
    body = p.json()
    assert len(body["train"]["X"]) == 30 and len(body["test"]["X"]) == 70
    assert body["feature_names"] == ["x1", "x2"] and body["task"] == "classification"
    assert set(body["train"]["y"]) <= {0, 1}
    # deterministic from the seed, different with another
    assert client.get("/api/datasets/circle", params={"n_samples": 100}).json() == \
        client.get("/api/datasets/circle", params={"n_samples": 100}).json()
    assert client.get("/api/datasets/circle", params={"n_samples": 100, "seed": 1}).json()["train"] != \
        client.get("/api/datasets/circle", params={"n_samples": 100}).json()["train"]
    d = client.get("/api/datasets/digits", params={"n_samples": 50}).json()
    assert d["image_shape"] == [8, 8] and len(d["train"]["X"][0]) == 64
    assert client.get("/api/datasets/nope").status_code == 404
    assert client.get("/api/datasets/NOPE!").status_code == 404
    assert client.get("/api/datasets/csv:000000000000").status_code == 404
    assert client.get("/api/datasets/circle", params={"noise": 0.9}).status_code == 422
    assert client.get("/api/datasets/circle", params={"n_samples": 10**6}).status_code == 422


def numeric_csv(rows: int = 40, bad_line: int | None = None) -> bytes:
    lines = ["x1,x2,label"]
    for i in range(rows):
        lines.append(f"{i / 10:.2f},{(i * 7 % 13) / 3:.3f},{i % 2}")
    if bad_line is not None:  # line numbers are 1-based with the header on line 1
        lines[bad_line - 1] = "1.0,oops,0"
    return ("\n".join(lines) + "\n").encode()


def test_csv_upload_then_a_run_on_it(client: TestClient) -> None:
    r = client.post("/api/datasets", files={"file": ("mine.csv", numeric_csv(), "text/csv")},
                    data={"name": "my set"})
    assert r.status_code == 201, r.text
    info = r.json()
    assert re.fullmatch(r"csv:[a-f0-9]{12}", info["name"])
    assert info["input_dim"] == 2 and info["n_classes"] == 2 and info["default_samples"] == 40
    assert "my set" in info["description"]
    assert info["name"] in [i["name"] for i in client.get("/api/datasets").json()["items"]]
    prev = client.get(f"/api/datasets/{info['name']}").json()
    assert len(prev["train"]["X"]) + len(prev["test"]["X"]) == 40
    run = client.post("/api/runs", json={"dataset": info["name"], "epochs": 3, "batch_size": 5})
    assert run.status_code == 201, run.text
    assert run.json()["layer_sizes"] == [2, 4, 2, 1]
    rid = run.json()["id"]
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["state"] == "done")
    # another label column name
    text = numeric_csv().replace(b"label", b"target")
    r = client.post("/api/datasets", files={"file": ("t.csv", text, "text/csv")}, data={"label_column": "target"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("bad_line", [2, 5, 31])
def test_csv_upload_bad_row_names_the_line(client: TestClient, bad_line: int) -> None:
    r = client.post("/api/datasets", files={"file": ("bad.csv", numeric_csv(bad_line=bad_line), "text/csv")})
    assert r.status_code == 422, r.text
    msg = detail_text(r)
    assert f"line {bad_line}" in msg and "oops" in msg, msg


def test_csv_upload_other_errors(client: TestClient) -> None:
    short = b"x1,x2,label\n1,2,0\n3,4\n5,6,1\n7,8,0\n9,9,1\n"
    r = client.post("/api/datasets", files={"file": ("s.csv", short, "text/csv")})
    assert r.status_code == 422 and "line 3" in detail_text(r)
    r = client.post("/api/datasets", files={"file": ("s.csv", numeric_csv(), "text/csv")}, data={"label_column": "y"})
    assert r.status_code == 422 and "y" in detail_text(r)
    r = client.post("/api/datasets", files={"file": ("s.csv", b"\xff\xfe\x00", "text/csv")})
    assert r.status_code == 422
    assert client.post("/api/datasets").status_code == 422  # no file at all
    assert client.post("/api/runs", json={"dataset": "csv:0123456789ab"}).status_code == 422


def test_csv_upload_too_large_is_413(make_client: Callable[..., TestClient]) -> None:
    c = make_client(max_upload_bytes=2_000)
    ok = numeric_csv(rows=20)
    assert len(ok) < 2_000
    assert c.post("/api/datasets", files={"file": ("a.csv", ok, "text/csv")}).status_code == 201
    big = numeric_csv(rows=400)
    assert len(big) > 2_000
    r = c.post("/api/datasets", files={"file": ("a.csv", big, "text/csv")})
    assert r.status_code == 413 and "2000" in detail_text(r)
    # far over: refused by the body limit before it is read
    r = c.post("/api/datasets", files={"file": ("a.csv", b"1,2,3\n" * 100_000, "text/csv")})
    assert r.status_code == 413
    assert c.get("/healthz").status_code == 200


# -- limits -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "field"), [
    ({"hidden_layers": [1024, 1024, 1024]}, "hidden_layers"),  # 2.1 M parameters > 2 M
    ({"hidden_layers": [2] * 11}, "hidden_layers"),  # 11 hidden layers > 10
    ({"hidden_layers": [2000]}, "hidden_layers"),  # wider than max_width
    ({"epochs": 100_001}, "epochs"),
    ({"batch_size": 251}, "batch_size"),  # circle: 250 training examples
    ({"output_activation": "softmax", "cost": "quadratic"}, "quadratic"),
    ({"output_activation": "tanh", "cost": "cross_entropy"}, "cross_entropy"),
    ({"activation": "swish"}, "activation"),
    ({"activation": ["tanh", "relu", "tanh"]}, "activation"),  # 3 names for 2 hidden layers
    ({"dataset": "nope"}, "nope"),
    ({"dataset": "digits", "n_samples": 5000}, "n_samples"),
    ({"n_samples": 5}, "n_samples"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"probe_index": 250}, "probe_index"),
    ({"hidden_layers": []}, None),  # allowed: no hidden layer
    ({"bogus": 1}, "bogus"),
])
def test_bad_configs_are_422_naming_the_field(client: TestClient, body: dict[str, Any], field: str | None) -> None:
    r = client.post("/api/runs", json={**body, "start": False})
    if field is None:
        assert r.status_code == 201, r.text
        return
    assert r.status_code == 422, r.text
    assert field in detail_text(r), r.text


def test_non_json_and_nan_bodies_are_422(client: TestClient) -> None:
    for raw in (b'{"learning_rate": NaN}', b'{"learning_rate": Infinity}', b'{"epochs": ', b"[1, 2]", b'"x"'):
        r = client.post("/api/runs", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, (raw, r.text)
    assert client.get("/healthz").json()["status"] == "ok"


def test_live_run_limit_is_429_and_the_queue_moves(make_client: Callable[..., TestClient]) -> None:
    c = make_client(max_running=1, max_queued=1)
    a = c.post("/api/runs", json={"epochs": 100_000, "speed": 50}).json()
    b = c.post("/api/runs", json={"epochs": 100_000, "speed": 50}).json()
    assert a["state"] == "running" and b["state"] == "queued"
    r = c.post("/api/runs", json={})
    assert r.status_code == 429 and "too many" in detail_text(r), r.text
    assert c.get("/healthz").json()["runs_active"] == 1
    # the queued run does not train
    assert c.get(f"/api/runs/{b['id']}").json()["epoch"] == 0
    assert c.post(f"/api/runs/{a['id']}/stop").json()["state"] == "stopped"
    assert c.get(f"/api/runs/{b['id']}").json()["state"] == "running"
    wait_for(lambda: c.get(f"/api/runs/{b['id']}").json()["epoch"] > 0, what="the dequeued run to train")
    assert c.post("/api/runs", json={"start": False}).status_code == 201  # a slot in the queue again
    assert c.post("/api/runs", json={}).status_code == 429
    # pausing the running one hands its slot to nobody (queue empty); resuming takes it back
    assert c.post(f"/api/runs/{b['id']}/pause").json()["state"] == "paused"
    assert c.get("/healthz").json()["runs_active"] == 0


def test_queued_run_can_be_paused_and_stopped(make_client: Callable[..., TestClient]) -> None:
    c = make_client(max_running=1)
    a = c.post("/api/runs", json={"epochs": 100_000, "speed": 20}).json()
    b = c.post("/api/runs", json={"epochs": 100_000, "speed": 20}).json()
    assert b["state"] == "queued"
    assert c.post(f"/api/runs/{b['id']}/resume").status_code == 409
    assert c.post(f"/api/runs/{b['id']}/pause").json()["state"] == "paused"
    assert c.post(f"/api/runs/{b['id']}/resume").json()["state"] == "queued"  # every slot busy
    assert c.post(f"/api/runs/{a['id']}/pause").json()["state"] == "paused"
    assert c.get(f"/api/runs/{b['id']}").json()["state"] == "running"
    assert c.post(f"/api/runs/{a['id']}/resume").json()["state"] == "queued"
    assert c.post(f"/api/runs/{a['id']}/stop").json()["state"] == "stopped"


# -- health, docs, headers ----------------------------------------------------------------------------------
def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["runs_active"] == 0 and body["version"]
    client.post("/api/runs", json={"speed": 10, "epochs": 1000})
    assert client.get("/healthz").json()["runs_active"] == 1


def test_openapi_and_offline_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for p in ("/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/pause", "/api/runs/{run_id}/step",
              "/api/runs/{run_id}/history", "/api/runs/{run_id}/snapshots/{epoch}", "/api/runs/{run_id}/export",
              "/api/datasets", "/api/datasets/{name}", "/healthz"):
        assert p in paths, p
    assert set(paths["/api/runs/{run_id}"]) >= {"get", "delete", "patch"}
    schemas_ = spec.json()["components"]["schemas"]
    assert schemas_["RunCreate"]["properties"]["hidden_layers"]["default"] == [4, 2]
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    refs = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assets = [u for u in refs if not u.startswith("data:")]
    assert assets, docs.text
    assert not any(re.match(r"^(https?:)?//", u) for u in refs), "no CDN"
    assert any(u.startswith("/static/") and u.endswith(".js") for u in assets)
    assert any(u.startswith("/static/") and u.endswith(".css") for u in assets)
    for u in assets:
        assert u.startswith("/static/") or u.startswith("/docs/"), u
        a = client.get(u)
        assert a.status_code == 200 and len(a.content) > 0, u
        if u.endswith(".js") and u.startswith("/docs/"):
            assert "/openapi.json" in a.text and "http" not in a.text
    assert len(client.get("/static/vendor/swagger/swagger-ui-bundle.js").content) > 100_000


def test_security_headers_everywhere(client: TestClient) -> None:
    rid = client.post("/api/runs", json={"start": False}).json()["id"]
    for method, path in (("GET", "/healthz"), ("GET", "/docs"), ("GET", "/api/runs"), ("GET", "/"),
                         ("GET", f"/api/runs/{rid}/history?format=csv"), ("GET", "/api/runs/nope"),
                         ("POST", "/api/runs/nope/pause"), ("GET", "/openapi.json")):
        r = client.request(method, path)
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "script-src 'self'" in csp, (path, csp)
        assert "http" not in csp and "*" not in csp
        assert r.headers.get("x-content-type-options") == "nosniff"


def test_index_page_references_only_local_assets(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert not any(re.match(r"^(https?:)?//", u) for u in refs)
    for u in refs:
        if u.startswith("/static/"):
            assert client.get(u).status_code == 200, u


# -- schemas vs the core --------------------------------------------------------------------------------------
def literal_names(tp: Any) -> tuple[str, ...]:
    assert typing.get_origin(tp) is typing.Literal
    return tuple(typing.get_args(tp))


def test_schema_enums_are_the_core_tables(client: TestClient) -> None:
    """The names are not repeated in the schemas: OpenAPI's enums are the core's tables, in order."""
    props = client.get("/openapi.json").json()["components"]["schemas"]["RunConfig"]["properties"]
    assert props["activation"]["anyOf"][0]["enum"] == list(HIDDEN_NAMES)
    assert props["activation"]["anyOf"][1]["items"]["enum"] == list(HIDDEN_NAMES)
    assert props["output_activation"]["anyOf"][0]["enum"] == list(OUTPUT_NAMES)
    assert props["cost"]["anyOf"][0]["enum"] == list(COSTS)
    from app.services.lifecycle import RunState

    assert set(literal_names(schemas.RunStateName)) == {s.value for s in RunState}
