"""A finished run goes on: PATCH a new epoch limit on a run that is done or stopped, and it is paused again
where it ended — same run, its history going on without a gap, training exactly as a run that had the new
limit from the start (its trainer is restored from its checkpoint). A real uvicorn and its workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import support as kit

pytestmark = pytest.mark.timeout(180)


def points(http: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = kit.strict_loads(http.get(f"/api/runs/{run_id}/history").text)["points"]
    return out


def test_a_done_run_continues_with_a_new_limit_as_if_it_had_it_from_the_start(tmp_path: Path) -> None:
    srv = kit.Server(tmp_path / "data", tmp_path / "log").start()
    try:
        with srv.client() as http:
            config = {"dataset": "spiral", "hidden_layers": [6, 4], "learning_rate": 0.1, "batch_size": 7}
            short = kit.create_run(http, epochs=20, **config)
            straight = kit.create_run(http, epochs=35, **config)
            assert kit.wait_state(http, short["id"], "done")["epoch"] == 20
            kit.wait_state(http, straight["id"], "done")
            r = http.patch(f"/api/runs/{short['id']}", json={"epochs": 35})
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "paused" and r.json()["epoch"] == 20 and r.json()["config"]["epochs"] == 35
            assert http.post(f"/api/runs/{short['id']}/resume").json()["state"] == "running"
            assert kit.wait_state(http, short["id"], "done")["epoch"] == 35
            went_on, reference = points(http, short["id"]), points(http, straight["id"])
            assert [p["epoch"] for p in went_on] == list(range(36)), "one history, no gap"
            assert went_on == reference, "the same numbers as a run that had 35 epochs from the start"
            # too small a limit, a run that cannot go on, a stopped run after a restart
            small = http.patch(f"/api/runs/{short['id']}", json={"epochs": 30})
            assert small.status_code == 422 and "above" in small.json()["detail"]
            stopped = kit.create_run(http, epochs=100_000, speed=100)
            kit.wait_epoch(http, stopped["id"], 3)
            http.post(f"/api/runs/{stopped['id']}/stop")
            at = kit.wait_state(http, stopped["id"], "stopped")["epoch"]
        srv.stop()
        srv.start()
        with srv.client() as http:
            r = http.patch(f"/api/runs/{stopped['id']}", json={"epochs": at + 5})
            assert r.status_code == 200 and r.json()["state"] == "paused", r.text
            http.post(f"/api/runs/{stopped['id']}/resume")
            assert kit.wait_state(http, stopped["id"], "done")["epoch"] == at + 5
            assert [p["epoch"] for p in points(http, stopped["id"])] == list(range(at + 6))
            diverged = kit.create_run(http, hidden_layers=[8, 8], activation="relu", output_activation="linear",
                                      learning_rate=100, epochs=50, standardize=False)
            kit.wait_state(http, diverged["id"], "diverged")
            refused = http.patch(f"/api/runs/{diverged['id']}", json={"epochs": 80})
            assert refused.status_code == 409 and "diverged" in refused.json()["detail"]
    finally:
        srv.stop()
