"""A cluster of real parts: our own redis-server and PostgreSQL on free loopback ports, two web replicas
(`uvicorn app.main:create_app` with BPV_BROKER_URL and BPV_DATABASE_URL) and two training workers
(`backprop-viz worker`), all separate processes. One cluster per module; a test that kills a part restarts
it before it ends (``cluster.heal()``)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import support as kit


def _installed() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (make test installs Debian's redis-server)"
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return "PostgreSQL is not installed (make test installs Debian's postgresql)"
    if os.geteuid() != 0:
        return "starting PostgreSQL as its own user needs root"
    return None


@dataclass
class Cluster:
    base: Path
    redis: kit.RedisServer
    pg: kit.Postgres
    replicas: list[kit.Server] = field(default_factory=list)
    workers: list[kit.WorkerProc] = field(default_factory=list)
    started: int = 0  # workers started so far (each logs to a file of its own)

    @property
    def env(self) -> dict[str, str]:
        return {"BPV_BROKER_URL": self.redis.url, "BPV_DATABASE_URL": self.pg.url}

    def add_worker(self) -> kit.WorkerProc:
        self.started += 1
        w = kit.WorkerProc(self.env, self.base / f"worker{self.started}.log").start()
        self.workers.append(w)
        return w

    def heal(self) -> None:
        """Every part running again: replicas restarted, dead workers replaced."""
        for srv in self.replicas:
            if not srv.alive():
                srv.start()
        alive = [w for w in self.workers if w.proc is not None and w.proc.poll() is None]
        self.workers[:] = alive
        while len(self.workers) < 2:
            self.add_worker()


@contextlib.contextmanager
def a_cluster(base: Path) -> Iterator[Cluster]:
    """Our own redis-server and PostgreSQL on free loopback ports, replicas A and B (``serve`` with
    BPV_BROKER_URL and BPV_DATABASE_URL) and two workers; all stopped, and PostgreSQL's directory removed, at
    the end. (The benchmarks' ``bench_class.py --distributed`` starts its cluster with this too.)"""
    pg_dir = kit.make_pg_dir()
    c = Cluster(base, kit.RedisServer(base / "redis"), kit.Postgres(pg_dir))
    try:
        c.redis.start()
        c.pg.start()
        for name in ("a", "b"):
            c.replicas.append(kit.Server(base / name, base / f"{name}.log", env=c.env).start())
        c.heal()
        yield c
    finally:
        for srv in c.replicas:
            srv.stop()
        for w in c.workers:
            w.stop()
        c.redis.stop()
        c.pg.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    missing = _installed()
    if missing:
        if os.environ.get("CI") == "true":  # CI installs them (make test) and runs as root
            pytest.fail(missing)
        pytest.skip(missing)
    with a_cluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c
