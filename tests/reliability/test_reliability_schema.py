"""Schemathesis against the served /openapi.json of a real server: every operation, ≥ 1 000 generated cases
in all (valid and invalid inputs), no 5xx and no response that breaks the schema: an undeclared status
code or content type, a body or header that does not match its declared schema.

Schemathesis' pytest plugin cannot load a schema from a fixture under this pytest (it reads a private
attribute pytest 9 no longer has), so the cases are driven with Hypothesis directly:
``operation.as_strategy(mode)`` → ``case.call`` → ``case.validate_response``. Seven cases in eight use the id
of a real run (done, paused, running or queued) or a real dataset name instead of a random one, so the
operations are exercised past their 404.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import support as kit

MIN_CASES = 1000
SCALE = float(os.environ.get("BPV_FUZZ_SCALE", "1"))  # benchmarks/bench_load.py --fuzz runs 5×
EXAMPLES = {GenerationMode.POSITIVE: round(60 * SCALE), GenerationMode.NEGATIVE: round(30 * SCALE)}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
STATUSES: Counter[int] = Counter()
DATASETS = ["circle", "xor", "spiral", "plane", "digits"]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("fuzz")
    # Small limits keep the runs the fuzzer creates cheap (one trains at a time); the defaults stay valid.
    srv = kit.Server(base / "data", base / "uvicorn.log",
                     env={"BPV_MAX_RUNNING": "1", "BPV_MAX_QUEUED": "100000", "BPV_MAX_PARAMS": "20000",
                          "BPV_MAX_SAMPLES": "2000", "BPV_MAX_EPOCHS": "1000"})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _runs_in_every_state(http: httpx.Client) -> list[str]:
    """Ids of a finished, a paused, a live (running or queued) and a stopped run."""
    done = kit.create_run(http, start=False, epochs=1, name="done")
    http.post(f"/api/runs/{done['id']}/step")  # one epoch of one: done, without waiting for a slot
    kit.wait_state(http, done["id"], "done")
    paused = kit.create_run(http, start=False, name="paused")
    live = kit.create_run(http, epochs=1000, speed=5, name="live")
    stopped = kit.create_run(http, start=False, name="stopped")
    http.post(f"/api/runs/{stopped['id']}/stop")
    return [done["id"], paused["id"], live["id"], stopped["id"]]


def _stop_everything(http: httpx.Client) -> None:
    """The runs the fuzzer started would train on, one at a time, through the rest of the test: stop them."""
    for _ in range(100):
        page = kit.strict_loads(http.get("/api/runs", params={"limit": 200}).text)["items"]
        live = [r["id"] for r in page if r["state"] in ("running", "queued")]
        if not live:
            return
        for run_id in live:
            http.post(f"/api/runs/{run_id}/stop")


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, run_ids: list[str], session: requests.Session,
          counter: Counter[str]) -> str | None:
    """Run the operation's cases; the first failure (shrunk by Hypothesis) as text, or None."""
    name = f"{operation.method.upper()} {operation.path}"

    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), real=st.integers(0, 7))
    def run(case: Any, real: int) -> None:
        if real and "run_id" in case.path_parameters:
            case.path_parameters["run_id"] = run_ids[real % len(run_ids)]
        if real and "name" in case.path_parameters:
            case.path_parameters["name"] = DATASETS[real % len(DATASETS)]
        if real and "epoch" in case.path_parameters and real % 2:
            case.path_parameters["epoch"] = real % 3
        counter[name] += 1
        response = case.call(base_url=base_url, session=session, timeout=30)
        STATUSES[response.status_code] += 1
        content_type = response.headers.get("content-type") or [""]  # schemathesis: a list per header
        if str(content_type[0] if isinstance(content_type, list) else content_type).startswith("application/json"):
            kit.strict_loads(response.text)  # no NaN / Infinity in any answer
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # no invalid input exists for this operation
        return None
    except (Exception, BaseExceptionGroup) as e:  # every failure is reported; the other operations still run
        return f"{name} ({mode.value}): {type(e).__name__}: {str(e)[:1500]}"
    return None


def _has_invalid_inputs(operation: Any) -> bool:
    """A free-text path parameter alone has no invalid value: negative generation would only spin."""
    return bool(len(operation.query) or len(operation.body) or
                any(p.definition.get("schema", {}).get("type") != "string" or len(p.definition.get("schema", {})) > 2
                    for p in operation.path_parameters))


def test_every_operation_answers_within_its_schema(fuzzed: Any) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: op.method.upper() == "DELETE")  # deletes last
    counter: Counter[str] = Counter()
    failures = []
    t0 = time.monotonic()
    with fuzzed.client() as http, requests.Session() as session:
        for operation in operations:
            run_ids = _runs_in_every_state(http) if "{run_id}" in operation.path else []
            modes = [m for m in EXAMPLES if m is GenerationMode.POSITIVE or _has_invalid_inputs(operation)]
            for mode in modes:
                failure = _fuzz(operation, mode, fuzzed.url, run_ids, session, counter)
                if failure:
                    failures.append(failure)
            _stop_everything(http)
    total = sum(counter.values())
    kit.FIGURES["schemathesis: cases / operations / seconds"] = (
        f"{total} / {len(counter)} / {time.monotonic() - t0:.0f}")
    kit.FIGURES["schemathesis: answers by status"] = ", ".join(f"{k}: {v}" for k, v in sorted(STATUSES.items()))
    assert not failures, "\n\n".join(failures)
    assert len(counter) == len(operations) >= 15, sorted(counter)
    assert total >= MIN_CASES, counter
    errors = fuzzed.errors()
    assert errors == [], "errors in the fuzzed server's log:\n" + "\n".join(errors[:20])
