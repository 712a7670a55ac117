"""What the long Schemathesis run (``BPV_FUZZ_SCALE=5``, test_reliability_schema.py) found, each pinned by a
test against a REAL server."""

from __future__ import annotations

import re

import httpx

from tests import support as kit


def test_the_report_of_a_run_with_one_input_feature(http: httpx.Client) -> None:
    """A 2-D run whose only input is sin(x₁): the report's decision map is drawn over the raw plane (x₁, x₂),
    whatever the inputs — it raised IndexError (500) looking for a second input's name."""
    run = kit.create_run(http, start=False, features=["sin(x1)"], output_activation="softmax", standardize=False)
    assert http.post(f"/api/runs/{run['id']}/step").status_code == 200
    r = http.get(f"/api/runs/{run['id']}/report.html")
    assert r.status_code == 200, r.text[:500]
    assert "Decision map" in r.text and re.search(r'"title":\{"text":"x2"\}', r.text), "axes: the raw x1, x2"


def test_a_preview_larger_than_its_dataset_names_the_limit(http: httpx.Client) -> None:
    r = http.get("/api/datasets/digits", params={"n_samples": 1999})
    assert r.status_code == 422 and "1797" in kit.strict_loads(r.text)["detail"]
