"""The Docker image, really built and really run (issue 5).

The image is built with the engine found (``docker`` when its daemon answers, else ``podman``) and run
with ``--network=host``, the app bound to 127.0.0.1 on a free port, a named volume at /data. Everything
below goes through the running container: /healthz and the image's own HEALTHCHECK, a run started over
REST and streamed over the WebSocket, the page and its vendored plotly, the user the server runs as, and the
data surviving a new container on the same volume. The last test rebuilds to check that the dependency
layer is cached when only the source changes.
"""

from __future__ import annotations

import json
import math
import re
import struct
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

TERMINAL_STATES = {"done", "stopped", "diverged", "failed", "interrupted"}


def _json(body: bytes) -> Any:
    return json.loads(body.decode())


def _run_id(created: Any) -> str:
    """The id from POST /api/runs' answer: the run itself, or the run under ``run``."""
    run = created.get("run", created) if isinstance(created, dict) else None
    assert isinstance(run, dict) and isinstance(run.get("id"), str) and run["id"], created
    return str(run["id"])


def _create_run(kit: ModuleType, url: str, body: dict[str, Any] | None = None) -> str:
    status, headers, raw = kit.http("POST", f"{url}/api/runs", body if body is not None else {})
    assert status == 201, (status, raw[:500])
    assert "application/json" in headers.get("content-type", "")
    return _run_id(_json(raw))


def _parse_snapshot(frame: bytes) -> dict[str, Any]:
    """Check one binary snapshot frame against docs/protocol.md and return its header."""
    (h,) = struct.unpack_from("<I", frame, 0)
    header = json.loads(frame[4 : 4 + h].decode("utf-8"))
    data_start = 4 + h + (-(4 + h)) % 4
    data = frame[data_start:]
    assert header["type"] == "snapshot"
    assert isinstance(header["epoch"], int)
    names = set()
    for tensor in header["tensors"]:
        assert tensor["dtype"] == "f4" and tensor["offset"] % 4 == 0, tensor
        end = tensor["offset"] + 4 * math.prod(tensor["shape"])
        assert end <= len(data), (tensor, len(data))
        names.add(tensor["name"])
    assert {"W1", "b1", "dW1", "a0"} <= names, names
    return dict(header)


# -- the image itself ---------------------------------------------------------------------------------------


def test_image_configuration(engine: str, image: str, docker_kit: ModuleType) -> None:
    """Non-root user, EXPOSE 8000, VOLUME /data, the env defaults, a stdlib HEALTHCHECK, the serve CMD."""
    assert docker_kit.base_image() == "python:3.12-slim"
    info = docker_kit.inspect_image(engine, image)
    config = info.get("Config") or info.get("config") or {}
    assert config.get("User") not in (None, "", "root", "0", "0:0"), config.get("User")
    assert "8000/tcp" in (config.get("ExposedPorts") or {}), config.get("ExposedPorts")
    assert "/data" in (config.get("Volumes") or {}), config.get("Volumes")
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    assert env.get("BPV_HOST") == "0.0.0.0"
    assert env.get("BPV_PORT") == "8000"
    assert env.get("BPV_DATA_DIR") == "/data"
    healthcheck = config.get("Healthcheck") or info.get("Healthcheck") or {}  # docker: Config; podman: top
    health = " ".join(healthcheck.get("Test") or [])
    assert "/healthz" in health and "urllib" in health and "curl" not in health, health
    assert "backprop-viz serve" in " ".join(config.get("Cmd") or []), config.get("Cmd")


def test_package_is_installed_not_an_editable_checkout(engine: str, image: str, docker_kit: ModuleType) -> None:
    script = (
        "import backprop_viz_server as app, backprop_core, pathlib, importlib.metadata as m; "
        "print(app.__file__); print(backprop_core.__file__); "
        "print(m.distribution('backprop-viz').read_text('direct_url.json') or ''); "
        "print(pathlib.Path('/tmp/src').exists())"
    )
    out = docker_kit.run(engine, "run", "--rm", "--network=host", image, "python", "-c", script).stdout
    app_file, core_file, direct_url, src_left = out.strip().splitlines()[-4:]
    assert "-packages/backprop_viz_server/" in app_file and "-packages/backprop_core/" in core_file, out
    assert '"editable": true' not in direct_url, direct_url
    assert src_left == "False", "the source tree was left in the image"


# -- through the running container --------------------------------------------------------------------------


def test_healthz_and_the_image_healthcheck(server: Any, docker_kit: ModuleType) -> None:
    status, _, _ = docker_kit.http("GET", f"{server.url}/healthz")
    assert status == 200
    # the image's own HEALTHCHECK (python + urllib inside the container) reports healthy too
    docker_kit.wait_healthcheck(server.engine, server.name, timeout=90)


def test_a_run_streams_over_the_websocket(server: Any, docker_kit: ModuleType) -> None:
    run_id = _create_run(docker_kit, server.url)
    # The client offers permessage-deflate (the websockets default); the server must decline it.
    with connect(f"{server.ws_url}/ws/runs/{run_id}", proxy=None, open_timeout=15, max_size=None) as ws:
        assert ws.response is not None
        assert "permessage-deflate" not in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")
        first = ws.recv(timeout=15)
        assert isinstance(first, str), "the first message must be the JSON hello"
        hello = json.loads(first)
        assert hello["type"] == "hello" and hello["run"]["id"] == run_id, hello.get("type")
        history = [p["epoch"] for p in hello.get("history") or []]
        live: list[int] = []
        snapshots: list[dict[str, Any]] = []
        state = hello["run"]["state"]
        deadline = time.monotonic() + 90
        while (len(live) < 10 or not snapshots) and time.monotonic() < deadline:
            if state in TERMINAL_STATES and snapshots:
                break  # finished: no more metrics will come
            message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            if isinstance(message, bytes):
                snapshots.append(_parse_snapshot(message))
                continue
            data = json.loads(message)
            if data["type"] == "metrics":
                live.extend(point["epoch"] for point in data["points"])
            elif data["type"] == "state":
                state = data["state"]
    assert snapshots, "no binary snapshot frame arrived"
    epochs = history + live
    assert len(epochs) >= 10, f"only {len(epochs)} epochs arrived (state {state})"
    assert epochs == list(range(epochs[0], epochs[0] + len(epochs))), "metrics have gaps or repeats"
    if hello["run"]["state"] == "running" and state not in TERMINAL_STATES:
        assert len(live) >= 10, f"a running run streamed only {len(live)} epochs of metrics"


def test_the_page_and_plotly_load(server: Any, docker_kit: ModuleType) -> None:
    status, headers, body = docker_kit.http("GET", f"{server.url}/")
    assert status == 200 and headers.get("content-type", "").startswith("text/html")
    assert b"<html" in body.lower()
    status, headers, body = docker_kit.http("GET", f"{server.url}/static/vendor/plotly.min.js")
    assert status == 200, status
    assert "javascript" in headers.get("content-type", ""), headers.get("content-type")
    assert len(body) > 100_000 and b"plotly" in body[:5000].lower()


def test_listening_on_all_interfaces_the_image_makes_a_token_and_prints_its_login_url(
    start_server: Any, docker_kit: ModuleType
) -> None:
    """With the image's own BPV_HOST (0.0.0.0) and no BPV_API_TOKEN: one login URL in the log at start, and
    nothing but /healthz answers without it (issue 11)."""
    srv = start_server(host=None)
    found = re.findall(r"log in at (http://\S+/\?token=(\S+))", docker_kit.logs(srv.engine, srv.name, tail=200))
    assert len(found) == 1, docker_kit.logs(srv.engine, srv.name)
    url, token = found[0]
    assert url.startswith(f"http://127.0.0.1:{srv.port}/?token=") and len(token) >= 32, url
    with httpx.Client(trust_env=False, timeout=20) as browser:
        assert browser.get(f"{srv.url}/healthz").status_code == 200
        assert browser.get(f"{srv.url}/api/runs").status_code == 401
        assert browser.post(f"{srv.url}/api/runs", json={}).status_code == 401
        login = browser.get(url)
        assert login.status_code == 303 and login.headers["location"] == "/", login.status_code
        assert browser.get(f"{srv.url}/api/runs").status_code == 200, "the session cookie logs the browser in"
        assert browser.get(f"{srv.url}/").status_code == 200
    created = httpx.post(f"{srv.url}/api/runs", json={"start": False}, headers={"Authorization": f"Bearer {token}"},
                         trust_env=False, timeout=20)
    assert created.status_code == 201, created.text[:300]


def test_the_server_runs_as_non_root(server: Any, docker_kit: ModuleType) -> None:
    uid = docker_kit.run(server.engine, "exec", server.name, "id", "-u").stdout.strip()
    assert uid.isdigit() and uid != "0", uid
    status = docker_kit.run(server.engine, "exec", server.name, "cat", "/proc/1/status").stdout
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert "0" not in uids, f"PID 1 runs with uids {uids}"
    # PID 1 is the server itself (CMD execs it), so `docker stop`'s SIGTERM reaches it directly.
    cmdline = docker_kit.run(server.engine, "exec", server.name, "cat", "/proc/1/cmdline").stdout
    assert "backprop-viz" in cmdline.replace("\0", " "), cmdline


def test_runs_survive_a_new_container_on_the_same_volume(
    engine: str, start_server: Any, docker_kit: ModuleType, figures: dict[str, Any]
) -> None:
    first = start_server()
    run_id = _create_run(docker_kit, first.url)
    deadline = time.monotonic() + 30  # let it train a little, so that there is something to keep
    while time.monotonic() < deadline:
        status, _, raw = docker_kit.http("GET", f"{first.url}/api/runs/{run_id}")
        if status == 200 and (_json(raw).get("run", _json(raw)).get("epoch") or 0) >= 5:
            break
        time.sleep(0.2)
    t0 = time.perf_counter()
    docker_kit.run(engine, "stop", "-t", "20", first.name, timeout=60)
    figures["stop (SIGTERM → exited)"] = f"{time.perf_counter() - t0:.2f} s"
    exit_code = docker_kit.container_state(engine, first.name).get("ExitCode")
    assert exit_code != 137, "the server ignored SIGTERM and was killed\n" + docker_kit.logs(engine, first.name)

    second = start_server(volume=first.volume)
    status, _, raw = docker_kit.http("GET", f"{second.url}/api/runs")
    assert status == 200, raw[:500]
    assert run_id in raw.decode(), f"the run {run_id} made before the restart is not listed: {raw[:500]!r}"
    status, _, raw = docker_kit.http("GET", f"{second.url}/api/runs/{run_id}")
    assert status == 200, raw[:500]
    run = _json(raw).get("run", _json(raw))
    assert run.get("state") in TERMINAL_STATES, f"after the restart the run is {run.get('state')!r}"


# -- the build cache ------------------------------------------------------------------------------------------


def test_dependency_layer_is_cached_when_only_the_source_changes(
    engine: str, image: str, docker_kit: ModuleType, figures: dict[str, Any], tmp_path: Path
) -> None:
    """Rebuild from a frozen copy of the context with one source file added: the dependency layer comes
    from the cache (pip does not collect anything) and only the package layer runs again. A second
    build of the same copy is cached throughout."""
    marker, installed = docker_kit.DEPENDENCY_STEP_MARKER, "Successfully installed backprop-viz"
    if figures.get("_build_was_cold"):
        assert marker in figures["_build_output"], "the cold build did not install the dependencies?"

    context = docker_kit.copy_context(tmp_path / "context")
    (context / "app" / "_docker_cache_probe.txt").write_text("a source change\n")
    tag = f"{image}-source-changed"
    try:
        seconds, output = docker_kit.build(engine, tag, context)
        figures["build (cached deps, source changed)"] = f"{seconds:.1f} s"
        assert marker not in output, "a source-only change re-ran the dependency layer:\n" + output[-3000:]
        assert installed in output, "the package layer did not run again:\n" + output[-3000:]

        seconds, output = docker_kit.build(engine, tag, context)
        figures["build (cached, nothing changed)"] = f"{seconds:.1f} s"
        assert marker not in output and installed not in output, "an unchanged rebuild was not cached"
    finally:
        docker_kit.remove(engine, images=[tag])
