"""Schemathesis with ``--checks all`` against the served /openapi.json of a real server, with and without a
token: every phase (the schema's examples; coverage — every boundary, missing parameters, methods the path
does not have; fuzzing, valid and invalid; stateful — runs created, then steered and read through the links
Schemathesis infers), every check it has (no 5xx; statuses, content types, headers and bodies as documented;
valid data accepted and invalid data refused; 405 and Allow as documented; protected operations refusing a
request without the token; resources gone after DELETE …) plus ``finite_json`` (schemathesis_hooks.py).

The CLI runs as a user would run it (see README "REST API"); the counts go to the figures. A seeded,
short run in CI (≥ 1 000 cases each way); ``BPV_FUZZ_SCALE=15`` (benchmarks/bench_load.py --fuzz) is the
long one (≥ 5 000 cases each way). schemathesis.toml says which answers are acceptable to schema-valid
data that does not fit its dataset.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests import support as kit

HERE = Path(__file__).parent
SCALE = float(os.environ.get("BPV_FUZZ_SCALE", "1"))
EXAMPLES = round(20 * SCALE)  # per operation and phase (an operation with few inputs has fewer cases)
MIN_CASES = 1000 if SCALE < 15 else 5000  # the long run: BPV_FUZZ_SCALE=15
TOKEN = "schemathesis-t0ken"
# Small limits keep the runs the fuzzer creates cheap (one trains at a time); the defaults stay valid.
LIMITS = {"BPV_MAX_RUNNING": "1", "BPV_MAX_QUEUED": "100000", "BPV_MAX_PARAMS": "20000", "BPV_MAX_SAMPLES": "2000",
          "BPV_MAX_EPOCHS": "1000"}


@pytest.mark.timeout(round(600 * SCALE))
@pytest.mark.parametrize("token", [False, True], ids=["no token", "token for reads and writes"])
def test_schemathesis_checks_all(make_server: Any, token: bool) -> None:
    env = {**LIMITS, **({"BPV_API_TOKEN": TOKEN, "BPV_TOKEN_FOR_READS": "true"} if token else {})}
    srv = make_server(**env)
    cmd = [str(Path(kit.PYTHON).with_name("schemathesis")), "--config-file", str(HERE / "schemathesis.toml"),
           "--no-color", "run", f"{srv.url}/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES),
           "--seed", "1", "--workers", "1", "--request-timeout", "60"]
    if token:
        cmd += ["--header", f"Authorization: Bearer {TOKEN}"]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=kit.ROOT, capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.reliability.schemathesis_hooks",
                               "PYTHONPATH": str(kit.ROOT)})
    out = proc.stdout + proc.stderr
    cases = re.search(r"(\d+) generated, (\d+) passed", out)
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", out)
    mode = "token" if token else "no token"
    kit.FIGURES[f"schemathesis --checks all ({mode}): cases / operations / seconds"] = (
        f"{cases.group(1) if cases else '?'} / {selected.group(3) if selected else '?'} / "
        f"{time.monotonic() - t0:.0f}")
    assert proc.returncode == 0, out[-6000:]
    assert cases and selected, out[-3000:]
    assert int(cases.group(1)) >= MIN_CASES and int(cases.group(1)) == int(cases.group(2)), cases.group(0)
    assert selected.group(1) == selected.group(2) == selected.group(3) and int(selected.group(3)) >= 19, out[-2000:]
    assert "finite_json" in _checks_run(cmd), "the hook's check is part of --checks all"
    errors = srv.errors()
    assert errors == [], "errors in the fuzzed server's log:\n" + "\n".join(errors[:20])


def _checks_run(cmd: list[str]) -> str:
    """The names --checks all selects, with the hooks loaded (the CLI's own validation lists them)."""
    proc = subprocess.run([cmd[0], "run", "--checks", "no_such_check", "http://127.0.0.1:9/openapi.json"],
                          cwd=kit.ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.reliability.schemathesis_hooks",
                               "PYTHONPATH": str(kit.ROOT)})
    return proc.stdout + proc.stderr
