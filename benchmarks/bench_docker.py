"""The Docker image's figures (issue 5): size, build time cold / cached, time from ``run`` to healthy.

    python benchmarks/bench_docker.py             # ~3 minutes: one cold build, rebuilds, 5 starts
    python benchmarks/bench_docker.py --starts 10

With the engine the tests use (``docker`` when its daemon answers, else ``podman``; on these machines first
``eval "$(../shared/tools/container-engine-setup)"``), everything on the host network, bound to 127.0.0.1:

- cold build: ``--no-cache`` (the base image present, the dependencies downloaded from PyPI);
- cached, source changed: a frozen copy of the context with one file added under app/ — the dependency
  layer comes from the cache, the package is built and installed again;
- cached, nothing changed: the same copy built once more;
- run → healthy: from ``<engine> run -d`` until ``GET /healthz`` answers 200, over ``--starts`` containers
  on the same named volume (the first one initialises the database);
- stop: ``<engine> stop`` until the container has exited (SIGTERM handled by the server, PID 1).

Without an engine it says so and exits 0 (so that ``make bench`` still runs the other benchmarks). The image,
containers and volume are removed at the end. ``--json FILE`` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load_kit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bpv_docker_engine", ROOT / "tests" / "docker" / "engine.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=5, help="containers started for run → healthy")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()

    kit = load_kit()
    engine, why = kit.find_engine()
    if engine is None:
        print(f"bench_docker: skipped, no container engine: {why}")
        return 0

    session = uuid.uuid4().hex[:8]
    tag, tag2 = f"backprop-viz-bench:{session}", f"backprop-viz-bench:{session}-src"
    volume = f"bpv-bench-{session}"
    containers: list[str] = []
    figures: dict[str, object] = {"engine": engine}
    try:
        print(f"engine: {engine}; cold build (--no-cache) …", flush=True)
        seconds, _ = kit.build(engine, tag, no_cache=True)
        figures["build_cold_s"] = round(seconds, 1)
        figures["image_size_mb"] = round(kit.image_size(engine, tag) / 1e6)
        with tempfile.TemporaryDirectory() as tmp:
            context = kit.copy_context(Path(tmp) / "context")
            (context / "app" / "_docker_cache_probe.txt").write_text("a source change\n")
            seconds, output = kit.build(engine, tag2, context)
            figures["build_cached_source_changed_s"] = round(seconds, 1)
            figures["dependency_layer_cached"] = kit.DEPENDENCY_STEP_MARKER not in output
            seconds, _ = kit.build(engine, tag2, context)
            figures["build_cached_nothing_changed_s"] = round(seconds, 1)

        kit.run(engine, "volume", "create", volume)
        healthy, stops = [], []
        for i in range(args.starts):
            name = f"bpv-bench-{session}-{i}"
            port = kit.free_port()
            containers.append(name)
            t0 = time.perf_counter()
            kit.start(engine, tag, name, port, volume)
            kit.wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=90,
                             alive=lambda name=name: kit.dead_reason(engine, name))
            healthy.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            kit.run(engine, "stop", "-t", "20", name, timeout=60)
            stops.append(time.perf_counter() - t0)
        figures["run_to_healthy_s"] = [round(s, 2) for s in healthy]
        figures["run_to_healthy_median_s"] = round(statistics.median(healthy), 2)
        figures["stop_median_s"] = round(statistics.median(stops), 2)
    finally:
        kit.remove(engine, containers=containers, volumes=[volume], images=[tag2, tag])

    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
