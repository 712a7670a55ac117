"""``backprop-viz runs …`` / ``report`` / ``--version``: the installed console script in a subprocess against a
real server; exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from app import __version__
from tests.client.conftest import CLI
from tests.client.test_client_stream import DIVERGES
from tests.support import Server, free_port


def cli(*args: str, server: Server | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--server", server.url] if server is not None else []
    return subprocess.run([CLI, *args, *extra], capture_output=True, text=True, timeout=240)


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_version() -> None:
    done = cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"backprop-viz {__version__}"


def test_start_watch_list_show_export_delete(server: Server, tmp_path: Path) -> None:
    started = cli("runs", "start", "--dataset", "xor", "--layers", "5", "--epochs", "25", "--name", "cli run",
                  "--set", "noise=0.1", "--json", server=server)
    assert started.returncode == 0, started.stderr
    (info,) = lines(started.stdout)
    run_id = info["id"]
    assert info["config"]["noise"] == 0.1 and info["layer_sizes"] == [2, 5, 1] and info["name"] == "cli run"

    watched = cli("runs", "watch", run_id, "--json", server=server)
    assert watched.returncode == 0, watched.stderr
    out = lines(watched.stdout)
    assert [o["epoch"] for o in out if o["type"] == "point"] == list(range(0, 26))
    assert out[-1] == {"type": "state", "id": run_id, "state": "done", "reason": out[-1]["reason"], "epoch": 25}

    plain = cli("runs", "watch", run_id, server=server)  # a finished run: the history, then the summary
    assert plain.returncode == 0 and plain.stdout.startswith(f"run {run_id} done at epoch 25, train cost ")
    assert "epoch 25/25 [" in plain.stderr  # the progress bar (not a terminal: a line per 10 %)

    listed = cli("runs", "list", "--json", server=server)
    assert run_id in [o["id"] for o in lines(listed.stdout)]
    table = cli("runs", "list", server=server).stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "STATE", "EPOCH"] and any(row.startswith(run_id) for row in table)

    shown = cli("runs", "show", run_id, server=server)
    fields = {line[:11].strip(): line[12:] for line in shown.stdout.splitlines()}
    assert fields["state"].startswith("done") and fields["epoch"] == "25/25" and fields["network"].startswith("2-5-1")
    assert fields["page"].endswith(f"/#run={run_id}")

    target = tmp_path / "weights.json"
    assert cli("runs", "export", run_id, "-o", str(target), server=server).returncode == 0
    assert json.loads(target.read_text())["epoch"] == 25

    assert cli("runs", "delete", run_id, server=server).stdout.strip() == f"deleted run {run_id}"
    gone = cli("runs", "show", run_id, server=server)
    assert gone.returncode == 1 and gone.stderr.strip() == f"backprop-viz: error: HTTP 404: no run '{run_id}'"


def test_pause_resume_stop(server: Server) -> None:
    (info,) = lines(cli("runs", "start", "--epochs", "100000", "--speed", "50", "--json", server=server).stdout)
    run_id = info["id"]
    assert cli("runs", "pause", run_id, server=server).stdout.startswith(f"run {run_id}: paused at epoch ")
    (resumed,) = lines(cli("runs", "resume", run_id, "--json", server=server).stdout)
    assert resumed["state"] in ("running", "queued")
    assert cli("runs", "stop", run_id, server=server).stdout.startswith(f"run {run_id}: stopped")
    again = cli("runs", "pause", run_id, server=server)
    assert again.returncode == 1 and "HTTP 409: cannot pause a run that is stopped" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_watch_exits_1_when_the_run_diverges(server: Server) -> None:
    args = [f"{k}={json.dumps(v)}" for k, v in DIVERGES.items()]
    done = cli("runs", "start", "--watch", *[a for kv in args for a in ("--set", kv)], server=server)
    assert done.returncode == 1, done.stderr
    assert " diverged at epoch " in done.stdout.splitlines()[-1]


def test_report_is_saved(server: Server, tmp_path: Path) -> None:
    started = lines(cli("runs", "start", "--epochs", "10", "--watch", "--json", server=server).stdout)
    info = started[0]  # the run, then its points, then its end
    assert started[-1]["state"] == "done" and len(started) == 1 + 11 + 1
    target = tmp_path / "report.html"
    done = cli("report", info["id"], "-o", str(target), server=server)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {target} (") and target.read_text().startswith("<!doctype html>")


def test_usage_and_connection_errors_exit_2() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    refused = subprocess.run([CLI, "runs", "list", "--server", nobody], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and refused.stderr.startswith(f"backprop-viz: error: cannot reach {nobody}")
    assert len(refused.stderr.strip().splitlines()) == 1
    bad_url = cli("runs", "list", "--server", "ftp://x")
    assert bad_url.returncode == 2 and "http:// or https://" in bad_url.stderr
    assert cli("runs", "frobnicate").returncode == 2
    assert cli("runs", "start", "--layers", "4,x").returncode == 2
    assert cli("runs", "start", "--set", "novalue").returncode == 2
