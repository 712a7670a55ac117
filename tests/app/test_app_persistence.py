"""Persistence: the per-run snapshot budget thins stored epochs evenly (every 2nd, 4th …; epoch 0 and the
latest always kept), history is complete regardless, and everything survives a restart. Settings come from
BPV_ environment variables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.worker import frames
from tests.support import check_frame_layout, committed, wait_for

pytestmark = pytest.mark.timeout(90)

BUDGET_MB = 0.05  # 52 428 bytes


def small_csv(rows: int = 40) -> bytes:
    """3 features (no 2-D grids) and few rows: ~1.3 KB frames, so the budget holds a few dozen."""
    lines = ["a,b,c,label"] + [f"{i % 7},{(i * 3) % 5},{i / rows:.3f},{i % 2}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_snapshot_budget_thins_evenly_and_keeps_first_and_latest(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", snapshot_budget_mb=BUDGET_MB)
    epochs = 301
    with TestClient(create_app(settings)) as c:
        name = c.post("/api/datasets", files={"file": ("s.csv", small_csv(), "text/csv")}).json()["name"]
        rid = c.post("/api/runs", json={"dataset": name, "epochs": epochs, "batch_size": 4}).json()["id"]
        wait_for(lambda: c.get(f"/api/runs/{rid}").json()["state"] == "done", timeout=30)
        frame0 = c.get(f"/api/runs/{rid}/snapshots/{epochs}?format=binary").content
        size = len(frame0)
        assert 500 < size < 5_000, size
        budget = int(BUDGET_MB * 2**20)
        assert epochs * size > 4 * budget, "the run produces several budgets' worth of frames"

        # the writer has committed the final frame (until then the previous flush's latest epoch is listed too):
        # the file's own row says so, in the transaction that thinned the stored frames
        wait_for(lambda: committed(settings.db_path, rid)["latest"] == epochs,
                 what="the writer to store the last frame")
        snaps = c.get(f"/api/runs/{rid}/snapshots").json()
        assert snaps["latest"] == epochs, snaps
        stored = snaps["epochs"]
        assert stored[0] == 0, "epoch 0 is kept"
        assert stored[-1] == epochs, "the latest is always kept"
        body = stored[:-1] if stored[-1] % 2 else stored  # the latest (odd) is kept apart from the stride
        stride = body[1] - body[0]
        assert stride >= 4 and stride & (stride - 1) == 0, f"a power of two: {stride}"
        assert body == list(range(0, epochs, stride)), "every stride-th epoch, none missing"
        assert len(body) * size <= budget, "the thinned frames fit the budget"
        assert len(body) * size * 2 > budget * 0.5, "thinned no further than needed"
        # every stored epoch can be read back; one that was thinned out is a 404 naming its neighbours
        for e in (0, stride, body[-1], epochs):
            r = c.get(f"/api/runs/{rid}/snapshots/{e}?format=binary")
            assert r.status_code == 200, e
            assert check_frame_layout(r.content)[0]["epoch"] == e
        r = c.get(f"/api/runs/{rid}/snapshots/{stride + 1}")
        assert r.status_code == 404 and r.json()["detail"]["nearest"] == [stride, 2 * stride]
        # thinning never touches the history
        pts = c.get(f"/api/runs/{rid}/history").json()["points"]
        assert [p["epoch"] for p in pts] == list(range(epochs + 1))

    # on disk: the sum of stored frames within the budget; the database is consistent
    db = sqlite3.connect(settings.db_path)
    total = db.execute("SELECT SUM(LENGTH(frame)) FROM snapshots WHERE run_id=?", (rid,)).fetchone()[0]
    assert total <= budget
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()

    # after a restart the same epochs are there and replayable
    with TestClient(create_app(settings)) as c:
        again = c.get(f"/api/runs/{rid}/snapshots").json()
        assert again["epochs"] == stored and again["latest"] == epochs
        header, tensors = frames.decode(c.get(f"/api/runs/{rid}/snapshots/{stride}?format=binary").content)
        assert header["epoch"] == stride and tensors["W1"].shape == (3, 4)
        assert c.get(f"/api/runs/{rid}").json()["state"] == "done"


def test_unthinned_run_stores_every_epoch(client: TestClient) -> None:
    rid = client.post("/api/runs", json={"epochs": 40}).json()["id"]
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["state"] == "done")
    wait_for(lambda: client.get(f"/api/runs/{rid}/snapshots").json()["epochs"] == list(range(41)),
             what="every epoch stored under the default 64 MiB budget")


def test_deleted_run_leaves_nothing_behind(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    with TestClient(create_app(settings)) as c:
        rid = c.post("/api/runs", json={"epochs": 10}).json()["id"]
        wait_for(lambda: c.get(f"/api/runs/{rid}").json()["state"] == "done")
        wait_for(lambda: len(c.get(f"/api/runs/{rid}/snapshots").json()["epochs"]) == 11)
        assert c.delete(f"/api/runs/{rid}").status_code == 204
    db = sqlite3.connect(settings.db_path)
    for table, col in (("runs", "id"), ("epochs", "run_id"), ("snapshots", "run_id")):
        assert db.execute(f"SELECT COUNT(*) FROM {table} WHERE {col}=?", (rid,)).fetchone()[0] == 0, table
    db.close()
    with TestClient(create_app(settings)) as c:
        assert c.get(f"/api/runs/{rid}").status_code == 404


def test_settings_from_bpv_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BPV_SNAPSHOT_BUDGET_MB", "0.05")
    monkeypatch.setenv("BPV_MAX_RUNNING", "2")
    monkeypatch.setenv("BPV_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("BPV_PORT", "9123")
    s = Settings()
    assert s.snapshot_budget_mb == 0.05 and s.max_running == 2 and s.port == 9123
    assert s.db_path == tmp_path / "env" / "backprop-viz.sqlite3"
    monkeypatch.setenv("BPV_PORT", "0")
    with pytest.raises(ValueError):
        Settings()
