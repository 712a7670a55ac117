"""A run's inputs over REST: Playground's features and standardisation (RunConfig ``features`` and
``standardize``), what ``/data`` and the export publish about them, the stream's a⁰ and decision maps that
follow them, real CSV files that learn, and saturating float32 runs that end ``done``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.support import check_frame_layout, wait_for

pytestmark = pytest.mark.timeout(120)
DATA = Path(__file__).resolve().parents[1] / "data"
SEVEN = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]


def create(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post("/api/runs", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def finished(client: TestClient, run_id: str, timeout: float = 60) -> dict[str, Any]:
    def ended() -> Any:
        run = client.get(f"/api/runs/{run_id}").json()
        return run if run["state"] in ("done", "stopped", "diverged", "failed") else None
    out: dict[str, Any] = wait_for(ended, timeout=timeout, what=f"run {run_id} to end")
    return out


def seven_by_hand(P: np.ndarray) -> np.ndarray:
    x1, x2 = P[:, 0], P[:, 1]
    return np.column_stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1), np.sin(x2)])


def forward(tensors: dict[str, np.ndarray], a: np.ndarray, n_layers: int) -> np.ndarray:
    """The tanh network of a snapshot's W, b on inputs a (n, n_0), in float64."""
    for l in range(1, n_layers + 1):
        a = np.tanh(a @ tensors[f"W{l}"].astype(np.float64) + tensors[f"b{l}"])
    return a


def test_seven_features_make_seven_inputs_and_the_maps_follow_them(client: TestClient) -> None:
    run = create(client, dataset="spiral", features=SEVEN, epochs=3)
    assert run["layer_sizes"] == [7, 4, 2, 1] and run["config"]["features"] == SEVEN
    assert run["config"]["standardize"] is True
    done = finished(client, run["id"])
    assert done["state"] == "done"
    d = client.get(f"/api/runs/{run['id']}/data").json()
    assert d["feature_names"] == SEVEN and d["column_names"] == ["x1", "x2"] and d["standardized"] is True
    X = np.asarray(d["train"]["X"])
    assert X.shape[1] == 2  # the points stay the raw points, for the picture
    F = seven_by_hand(X)
    np.testing.assert_allclose(d["mean"], F.mean(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d["scale"], F.std(axis=0), rtol=1e-9)
    mean, scale = np.asarray(d["mean"]), np.asarray(d["scale"])

    frame = client.get(f"/api/runs/{run['id']}/snapshots/3", params={"format": "binary"})
    assert frame.status_code == 200
    header, t = check_frame_layout(frame.content)
    np.testing.assert_allclose(t["a0"], ((F[header["probe_index"]] - mean) / scale).astype(np.float32), rtol=1e-6)
    # the output layer's decision map at each cell centre of the raw plane: the network on that point's
    # seven features, standardised with the published mean and scale
    with client.websocket_connect(f"/ws/runs/{run['id']}") as ws:
        grid = ws.receive_json()["grid"]
    G, (x0, x1, y0, y1) = grid["size"], grid["extent"]
    xs = x0 + (np.arange(G) + 0.5) * (x1 - x0) / G
    ys = y1 - (np.arange(G) + 0.5) * (y1 - y0) / G
    P = np.array([[u, v] for v in ys for u in xs])
    expected = forward(t, (seven_by_hand(P) - mean) / scale, 3)[:, 0].reshape(G, G)
    np.testing.assert_allclose(t["grid3"][0], expected, atol=2e-5)
    e = client.get(f"/api/runs/{run['id']}/export").json()
    assert e["feature_names"] == SEVEN and e["mean"] == d["mean"] and e["scale"] == d["scale"]


def test_standardize_false_feeds_the_raw_points(client: TestClient) -> None:
    run = create(client, dataset="circle", standardize=False, epochs=2)
    finished(client, run["id"])
    d = client.get(f"/api/runs/{run['id']}/data").json()
    assert d["standardized"] is False and d["mean"] == [0.0, 0.0] and d["scale"] == [1.0, 1.0]
    _, t = check_frame_layout(client.get(f"/api/runs/{run['id']}/snapshots/2?format=binary").content)
    np.testing.assert_allclose(t["a0"], np.asarray(d["train"]["X"][0], np.float32))


@pytest.mark.parametrize(("body", "words"), [
    ({"features": ["x1", "x3"]}, ["features", "unknown feature 'x3'", "sin(x2)"]),
    ({"features": ["x1", "x1^2", "x1"]}, ["features", "'x1' is listed more than once"]),
    ({"features": []}, ["features", "at least 1 item"]),
    ({"features": "x1"}, ["features"]),
    ({"standardize": "maybe"}, ["standardize"]),
    ({"dataset": "digits", "features": ["x1", "x2", "x1^2"]}, ["features", "2-D point", "64 columns"]),
])
def test_bad_inputs_are_422_naming_the_field(client: TestClient, body: dict[str, Any], words: list[str]) -> None:
    r = client.post("/api/runs", json=body)
    assert r.status_code == 422, r.text
    j = r.json()
    text = str(j.get("message") or j["detail"])
    for w in words:
        assert w in text, (w, text)
    assert client.get("/api/runs").json()["total"] == 0  # nothing was created


def test_data_that_is_not_2d_takes_the_default_features(client: TestClient) -> None:
    run = create(client, dataset="digits", n_samples=200, hidden_layers=[8], features=["x1", "x2"], epochs=1)
    assert run["layer_sizes"][0] == 64
    finished(client, run["id"])
    d = client.get(f"/api/runs/{run['id']}/data").json()
    assert len(d["feature_names"]) == len(d["mean"]) == len(d["scale"]) == 64 and d["standardized"]


def test_an_uploaded_real_csv_learns_with_the_page_defaults(client: TestClient) -> None:
    """scikit-learn's wine table through the server: upload, then the page's defaults (standardised)."""
    up = client.post("/api/datasets", files={"file": ("wine.csv", (DATA / "wine.csv").read_bytes(), "text/csv")},
                     data={"label_column": "target"})
    assert up.status_code == 201, up.text
    run = create(client, dataset=up.json()["name"], epochs=500)
    assert run["layer_sizes"] == [13, 4, 2, 3]
    done = finished(client, run["id"], timeout=110)
    assert done["state"] == "done" and done["config"]["output_activation"] == "softmax"
    points = client.get(f"/api/runs/{run['id']}/history").json()["points"]
    assert max(p["accuracy"] for p in points) >= 0.95


def test_a_raw_scikit_learn_file_is_refused_on_upload(client: TestClient) -> None:
    text = (DATA / "iris.csv").read_text()
    raw = "150,4,setosa,versicolor,virginica\n" + text.split("\n", 1)[1]
    r = client.post("/api/datasets", files={"file": ("iris.csv", raw.encode(), "text/csv")},
                    data={"label_column": "virginica"})
    assert r.status_code == 422
    assert "header row holds numbers (150, 4)" in r.json()["detail"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("standardize", [True, False])
def test_a_saturating_sigmoid_run_ends_done(client: TestClient, dtype: str, standardize: bool) -> None:
    """It ended diverged at epoch 30 (cost 5e-4) in float32 while still learning."""
    run = create(client, dataset="gauss", hidden_layers=[], output_activation="sigmoid", learning_rate=1,
                 epochs=300, dtype=dtype, standardize=standardize)
    assert run["config"]["cost"] == "binary_cross_entropy"
    done = finished(client, run["id"])
    assert done["state"] == "done" and done["epoch"] == 300, done["reason"]
