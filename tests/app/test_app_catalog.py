"""``GET /api/catalog``: the core's vocabulary and the server's limits in one answer — and the server's own
validation derives from the same tables, so a new activation in the core is accepted and published with no
change to the app."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from backprop_core import activations, costs, inputs, network, optimizers, training
from tests.app.extra_activation import SOFTSIGN
from tests.support import wait_for

pytestmark = pytest.mark.timeout(60)


def catalog(client: TestClient) -> dict[str, Any]:
    r = client.get("/api/catalog")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = json.loads(r.text)  # strict JSON: no NaN or Infinity
    return out


def ended(client: TestClient, run_id: str) -> dict[str, Any]:
    def check() -> Any:
        run = client.get(f"/api/runs/{run_id}").json()
        return run if run["state"] in ("done", "stopped", "diverged", "failed") else None
    out: dict[str, Any] = wait_for(check, timeout=30, what=f"run {run_id} to end")
    return out


def test_the_catalog_publishes_the_core_tables(client: TestClient) -> None:
    c = catalog(client)
    assert [a["name"] for a in c["activations"]] == list(activations.ACTIVATIONS)
    relu = next(a for a in c["activations"] if a["name"] == "relu")
    assert relu["range"] == [0.0, None] and relu["threshold"] == 0.5 and relu["default_init"] == "he"
    assert "σ′" in relu["derivative"] and relu["hidden"] is True
    assert not next(a for a in c["activations"] if a["name"] == "softmax")["hidden"]
    assert {x["name"]: x["outputs"] for x in c["costs"]} == {n: list(costs.valid_outputs(n)) for n in costs.COSTS}
    assert all(x["delta"].startswith("δᴸ = ") for x in c["costs"])
    assert [x["name"] for x in c["inits"]] == list(network.INITS)
    assert [x["name"] for x in c["optimizers"]] == list(optimizers.OPTIMIZERS)
    assert [x["name"] for x in c["regularizations"]] == list(network.REGULARIZATIONS)
    assert [x["name"] for x in c["features"]] == list(inputs.FEATURES)
    assert (c["grid_size"], c["grad_subset"], c["max_grid_neurons"]) == (
        training.GRID_SIZE, training.MAX_GRAD_SUBSET, training.MAX_GRID_NEURONS)
    assert c["notation"]["equations"]["hidden_delta"] == "δˡ = (δˡ⁺¹ (Wˡ⁺¹)ᵀ) ⊙ σ′(zˡ)"


def test_limits_datasets_and_config_are_this_servers(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_layers=3, max_width=16, max_epochs=5000, max_params=9_999)
    c = catalog(client)
    assert {k: c["limits"][k] for k in ("max_layers", "max_width", "max_epochs", "max_params")} == {
        "max_layers": 3, "max_width": 16, "max_epochs": 5000, "max_params": 9_999}
    assert set(c["limits"]) <= set(Settings.model_fields) and "api_token" not in c["limits"]
    assert c["datasets"] == client.get("/api/datasets").json()["items"]
    up = client.post("/api/datasets", files={"file": ("p.csv", "a,b,label\n" + "1,2,0\n3,4,1\n" * 4)},
                     data={"label_column": "label"})
    assert up.status_code == 201
    assert up.json()["name"] in [d["name"] for d in catalog(client)["datasets"]]
    defaults = c["config"]["defaults"]
    assert defaults["features"] == ["x1", "x2"] and defaults["standardize"] is True
    assert defaults["hidden_layers"] == [4, 2] and defaults["learning_rate"] == 0.03
    bounds = c["config"]["bounds"]
    assert bounds["learning_rate"] == {"exclusiveMinimum": 0, "maximum": 100}
    assert bounds["features"] == {"minItems": 1, "uniqueItems": True}
    assert bounds["hidden_layers"]["items"] == {"minimum": 1, "maximum": 4096}
    r = client.post("/api/runs", json={"start": False})
    assert r.status_code == 201, r.text
    run = r.json()  # {} gets exactly the published defaults
    assert {k: v for k, v in run["config"].items() if k not in ("output_activation", "cost")} == {
        k: v for k, v in defaults.items() if k not in ("output_activation", "cost")}


@pytest.mark.parametrize(("dataset", "kind"), [("circle", "two_classes"), ("digits", "more_classes"),
                                               ("plane", "regression")])
def test_the_servers_automatic_choices_are_the_published_rule(client: TestClient, dataset: str, kind: str) -> None:
    c = catalog(client)
    out = c["auto_output_activation"][kind]
    default_cost = next(a["default_cost"] for a in c["activations"] if a["name"] == out)
    run = client.post("/api/runs", json={"dataset": dataset, "n_samples": 100, "hidden_layers": [3],
                                         "start": False}).json()
    assert (run["config"]["output_activation"], run["config"]["cost"]) == (out, default_cost)
    sig = client.post("/api/runs", json={"output_activation": "sigmoid", "start": False}).json()
    assert sig["config"]["cost"] == next(a["default_cost"] for a in c["activations"] if a["name"] == "sigmoid")


def test_the_catalog_needs_the_token_when_reads_do(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_token="s3cret", token_for_reads=True)
    assert client.get("/api/catalog").status_code == 401
    assert client.get("/api/catalog", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_a_new_activation_in_the_core_is_accepted_by_rest_and_listed(
        monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    """softsign, added to the core's table alone: REST validates it, the run trains with it, OpenAPI lists
    it and the catalog publishes it with its range, targets and threshold."""
    client = make_client()
    assert client.post("/api/runs", json={"activation": "softsign"}).status_code == 422  # not yet
    monkeypatch.setitem(activations.ACTIVATIONS, "softsign", SOFTSIGN)
    # the training workers are processes of their own: they add it when they start
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("from tests.app.extra_activation import install\ninstall()\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    client = make_client()  # a fresh app: OpenAPI is generated once per app
    entry = next(a for a in catalog(client)["activations"] if a["name"] == "softsign")
    assert entry["range"] == [-1.0, 1.0] and entry["targets"] == [-1.0, 1.0] and entry["threshold"] == 0.0
    props = client.get("/openapi.json").json()["components"]["schemas"]["RunConfig"]["properties"]
    assert "softsign" in props["activation"]["anyOf"][0]["enum"]
    assert "softsign" in props["output_activation"]["anyOf"][0]["enum"]
    r = client.post("/api/runs", json={"dataset": "gauss", "activation": ["softsign"], "hidden_layers": [3],
                                       "output_activation": "softsign", "learning_rate": 0.1, "epochs": 20})
    assert r.status_code == 201, r.text
    run = ended(client, r.json()["id"])
    assert run["state"] == "done" and run["activations"] == ["softsign", "softsign"]
    assert run["config"]["cost"] == "quadratic"
    last = client.get(f"/api/runs/{run['id']}/history").json()["points"][-1]
    assert last["accuracy"] > 0.9
    bad = client.post("/api/runs", json={"activation": "softplus"})
    assert bad.status_code == 422 and "valid: sigmoid, tanh, relu, leaky_relu, linear, softsign" in bad.text
