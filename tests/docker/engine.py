"""Container-engine helpers shared by ``tests/docker`` and ``benchmarks/bench_docker.py``.

Standard library only. The engine is ``docker`` when its daemon answers ``docker info``, else ``podman``
(these machines have a docker client but no daemon; ``container-engine-setup`` provides podman and a local
stand-in for the Dockerfile's base image). ``CONTAINER_ENGINE`` (which that script exports) picks one
explicitly. Everything is built and run with ``--network=host`` and the app bound to 127.0.0.1, so no
traffic leaves loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SETUP_CONF = Path("/tmp/container-engine/containers.conf")
SETUP_HINT = 'eval "$(../shared/tools/container-engine-setup)"  # from the repository root; see .ci/run'
# Heavy or irrelevant entries left out when the build context is copied (the .dockerignore excludes them too).
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
    "node_modules", "test-artifacts", "screenshots", "*.egg-info", "build", "dist", "*.sqlite3*",
)

# Printed by pip while the dependency layer runs: present in a cold build, absent when that layer is cached.
DEPENDENCY_STEP_MARKER = "Collecting fastapi"

# urllib without any proxy, whatever HTTP_PROXY says: everything here is on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(cmd: list[str]) -> tuple[bool, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return proc.returncode == 0, (proc.stderr or proc.stdout).strip()[-300:]


def find_engine() -> tuple[str | None, str]:
    """(engine, why): the engine to use, or None and the reason none can be had."""
    if "CONTAINERS_CONF" not in os.environ and SETUP_CONF.exists():
        os.environ["CONTAINERS_CONF"] = str(SETUP_CONF)  # podman needs it (runc, ulimits) on these machines
    wanted = os.environ.get("CONTAINER_ENGINE")
    candidates = [wanted] if wanted else ["docker", "podman"]
    reasons = []
    for name in candidates:
        if shutil.which(name) is None:
            reasons.append(f"{name}: not on PATH")
            continue
        ok, out = _answers([name, "info"])
        if ok:
            return name, f"{name} info answers"
        reasons.append(f"{name} info failed: {out}")
    return None, "; ".join(reasons) + f". To get podman and the base image: {SETUP_HINT}"


def run(engine: str, *args: str, timeout: float = 120,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``engine args…``; on failure (with check) raise with the command's output."""
    cmd = [engine, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}\n"
                           f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def base_image() -> str:
    for line in DOCKERFILE.read_text().splitlines():
        if line.strip().upper().startswith("FROM "):
            return line.split()[1]
    raise RuntimeError("Dockerfile has no FROM line")


def build(engine: str, tag: str, context: Path = ROOT, *, no_cache: bool = False,
          timeout: float = 1200) -> tuple[float, str]:
    """Build the image; return (seconds, the build's combined output)."""
    args = ["build", "--network=host", "-t", tag, "-f", str(context / "Dockerfile")]
    if engine == "podman":
        args.insert(1, "--format=docker")  # the OCI format has no HEALTHCHECK
    if no_cache:
        args.append("--no-cache")
    env = dict(os.environ, BUILDKIT_PROGRESS="plain")  # BuildKit prints each step's output then
    started = time.perf_counter()
    proc = subprocess.run([engine, *args, str(context)], capture_output=True, text=True, timeout=timeout,
                          env=env)
    seconds = time.perf_counter() - started
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        hint = ""
        if engine == "podman" and run(engine, "image", "exists", base_image(), check=False).returncode:
            hint = f"\nThe base image {base_image()} is missing; provide the stand-in with: {SETUP_HINT}"
        raise RuntimeError(f"{engine} build failed ({proc.returncode}):\n{output[-6000:]}{hint}")
    return seconds, output


def copy_context(dest: Path) -> Path:
    """A copy of the build context (without .git, .venv, caches) to build a variant from."""
    shutil.copytree(ROOT, dest, ignore=COPY_IGNORE, symlinks=True)
    return dest


def inspect_image(engine: str, tag: str) -> dict[str, Any]:
    data = json.loads(run(engine, "image", "inspect", tag).stdout)
    return data[0] if isinstance(data, list) else data


def image_size(engine: str, tag: str) -> int:
    return int(run(engine, "image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(engine: str, image: str, name: str, port: int, volume: str, host: str | None = "127.0.0.1") -> None:
    """Run the image detached on the host network, bound to host:port (``host=None``: the image's own
    BPV_HOST, 0.0.0.0), with the volume at /data."""
    bind = ["-e", f"BPV_HOST={host}"] if host is not None else []
    run(engine, "run", "-d", "--name", name, "--network=host", *bind, "-e", f"BPV_PORT={port}",
        "-v", f"{volume}:/data", image)


def remove(engine: str, containers: Sequence[str] = (), volumes: Sequence[str] = (),
           images: Sequence[str] = ()) -> None:
    """Best-effort clean-up; never raises."""
    for name in containers:
        grace = ["-t", "5"] if engine == "podman" else []  # docker's rm -f kills at once anyway
        run(engine, "rm", "-f", *grace, name, check=False, timeout=60)
    for vol in volumes:
        run(engine, "volume", "rm", "-f", vol, check=False, timeout=60)
    if images:
        # podman keeps each build step as an untagged parent image (the layer cache); a cold build makes a
        # new chain every time, so remove those too (children first; one still in use by another image
        # refuses, which is fine). Docker's BuildKit keeps its cache elsewhere and records no parents.
        chain = [parent for image in images for parent in _untagged_ancestors(engine, image)]
        run(engine, "rmi", "-f", *images, check=False, timeout=120)
        for parent in chain:
            run(engine, "rmi", parent, check=False, timeout=120)


def _untagged_ancestors(engine: str, image: str) -> list[str]:
    """The image's untagged ancestors, nearest first, up to the first tagged one (the base image)."""
    chain: list[str] = []
    proc = run(engine, "image", "inspect", "--format", "{{.Parent}}", image, check=False)
    parent = proc.stdout.strip() if proc.returncode == 0 else ""
    while parent and parent not in chain:
        proc = run(engine, "image", "inspect", "--format", "{{json .RepoTags}}|{{.Parent}}", parent, check=False)
        if proc.returncode != 0:
            break
        tags, _, grandparent = proc.stdout.strip().partition("|")
        if json.loads(tags or "null"):
            break
        chain.append(parent)
        parent = grandparent.strip()
    return chain


def http(method: str, url: str, body: Any = None, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body); JSON-encodes body when given; never raises on an HTTP error status."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def wait_http_ok(url: str, timeout: float, alive: Any = None) -> float:
    """Poll url until it answers 200; return the seconds it took. ``alive()`` (optional) returns an error
    text once the container has died, to stop waiting early."""
    started = time.perf_counter()
    last = "no answer"
    while time.perf_counter() - started < timeout:
        try:
            status, _, _ = http("GET", url, timeout=2)
            if status == 200:
                return time.perf_counter() - started
            last = f"HTTP {status}"
        except OSError as exc:
            last = str(exc)
        if alive is not None and (dead := alive()):
            raise RuntimeError(f"the container stopped before {url} answered: {dead}")
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s (last: {last})")


def health_status(engine: str, name: str) -> str:
    """The image's own HEALTHCHECK verdict. Podman schedules it with systemd timers, which these machines
    lack, so it is run on demand (``podman healthcheck run``); docker's daemon runs it by itself."""
    if engine == "podman":
        proc = run(engine, "healthcheck", "run", name, check=False, timeout=60)
        return "healthy" if proc.returncode == 0 else (proc.stdout + proc.stderr).strip() or "unhealthy"
    return run(engine, "inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()


def wait_healthcheck(engine: str, name: str, timeout: float) -> float:
    started = time.perf_counter()
    status = ""
    while time.perf_counter() - started < timeout:
        status = health_status(engine, name)
        if status == "healthy":
            return time.perf_counter() - started
        time.sleep(0.5)
    raise TimeoutError(f"the HEALTHCHECK of {name} did not report healthy within {timeout:.0f} s: {status}")


def container_state(engine: str, name: str) -> dict[str, Any]:
    out = run(engine, "inspect", "--format", "{{json .State}}", name).stdout
    state: dict[str, Any] = json.loads(out)
    return state


def dead_reason(engine: str, name: str) -> str:
    """'' while the container runs; else its status, exit code and last log lines."""
    state = container_state(engine, name)
    if state.get("Running"):
        return ""
    logs = run(engine, "logs", "--tail", "40", name, check=False)
    return f"status {state.get('Status')}, exit code {state.get('ExitCode')}\n{logs.stdout}{logs.stderr}"


def logs(engine: str, name: str, tail: int = 60) -> str:
    proc = run(engine, "logs", "--tail", str(tail), name, check=False)
    return proc.stdout + proc.stderr
