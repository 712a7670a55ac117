"""The blocking client against a real server: start, watch, steer, read, and errors that carry the server's
message."""

from __future__ import annotations

import io
import socket
from contextlib import closing, redirect_stdout

import httpx
import numpy as np
import pytest

from backprop_viz import (
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    ConnectError,
    NotFoundError,
    Run,
    Snapshot,
    __version__,
)
from tests.support import Server, free_port


def test_start_watch_history_snapshot_export(client: Client, server: Server) -> None:
    run = client.start(dataset="spiral", hidden_layers=[8, 8], epochs=30, name="spiral 8-8")
    assert run.state in ("running", "queued") and run.config["hidden_layers"] == [8, 8]
    points = list(run.watch())
    assert [p["epoch"] for p in points] == list(range(0, 31))  # every epoch once, in order
    assert run.state == "done" and run.epoch == 30  # info follows the stream
    assert run.history() == points
    snap = run.snapshot(30)
    assert isinstance(snap, Snapshot) and snap.epoch == 30 and snap.batch == 0
    assert snap["W1"].shape == (2, 8) and snap["W2"].shape == (8, 8) and snap["dW3"].shape == (8, 1)
    assert snap["W1"].dtype == np.float32 and snap["grid1"].shape == (8, 40, 40)
    as_json = httpx.get(f"{server.url}/api/runs/{run.id}/snapshots/30").json()  # the same epoch, as JSON
    for name in ("W1", "dW2", "delta1", "a3", "test_outputs"):
        assert np.array_equal(snap[name].ravel(), np.array(as_json["tensors"][name]["data"], dtype=np.float32))
    assert snap.train_cost == pytest.approx(points[-1]["train_cost"])
    assert run.snapshot().epoch == 30  # the newest by default
    exported = run.export()
    assert np.array_equal(np.array(exported["weights"][0], dtype=np.float32), snap["W1"])
    assert len(run.data()["test"]["X"]) == len(run.data()["test"]["y"]) > 0
    assert run.id in [r.id for r in client.runs()]
    assert client.run(run.id).name == "spiral 8-8"
    assert "spiral" in [d["name"] for d in client.datasets()]
    assert client.health()["status"] == "ok"


def test_pause_step_patch_resume_stop(client: Client) -> None:
    run = client.start(start=False, epochs=100_000, speed=200)
    assert run.state == "paused"
    run.step()
    with closing(run.watch()) as stream:  # type: ignore[type-var]
        assert next(p for p in stream if p["epoch"] == 1)["epoch"] == 1
    assert run.patch(learning_rate=0.5, name="renamed").config["learning_rate"] == 0.5
    assert run.name == "renamed"
    assert run.resume().state in ("running", "queued")
    assert run.pause().state == "paused"
    assert run.stop().state == "stopped"
    with pytest.raises(ConflictError) as e:
        run.pause()
    assert e.value.status == 409 and "cannot pause a run that is stopped" in e.value.message
    assert str(e.value).startswith("HTTP 409: ")
    run.delete()
    with pytest.raises(NotFoundError):
        run.refresh()


def test_errors_carry_the_servers_message(client: Client, server: Server) -> None:
    with pytest.raises(NotFoundError) as nf:
        client.run("ffffffffffff")
    assert nf.value.status == 404 and nf.value.message == "no run 'ffffffffffff'"
    with pytest.raises(BadRequestError) as bad:
        client.start(hidden_layers=[0])
    assert bad.value.status == 422 and "hidden_layers" in bad.value.message
    with pytest.raises(BadRequestError) as unknown:
        client.start(dataset="nope")
    assert "unknown dataset 'nope'" in unknown.value.message
    run = client.start(epochs=3)
    list(run.watch())
    with pytest.raises(NotFoundError) as missing:
        run.snapshot(999)
    assert missing.value.detail["nearest"] and "999" in missing.value.message
    port = free_port()  # nothing listens there
    with pytest.raises(ConnectError, match=f"127.0.0.1:{port}"):
        Client(f"http://127.0.0.1:{port}", timeout=5).runs()
    with pytest.raises(ValueError, match="http:// or https://"):
        Client("ftp://example")


def test_a_token_protected_server(tmp_path: object) -> None:
    from pathlib import Path

    d = Path(str(tmp_path))
    srv = Server(d / "data", d / "log", env={"BPV_API_TOKEN": "s3cret", "BPV_TOKEN_FOR_READS": "true"}).start()
    try:
        with pytest.raises(AuthenticationError) as e:
            Client(srv.url).runs()
        assert e.value.status == 401 and "token" in e.value.message
        with Client(srv.url, token="s3cret") as c:
            run = c.start(epochs=5)
            assert [p["epoch"] for p in run.watch()] == [0, 1, 2, 3, 4, 5]  # the stream takes it too
    finally:
        srv.stop()


def test_show_prints_the_page_address_outside_a_notebook(client: Client) -> None:
    run = client.start(epochs=2)
    out = io.StringIO()
    with redirect_stdout(out):
        run.show()
    assert out.getvalue().strip() == f"{client.server}/#run={run.id}" == run.page_url
    assert f'href="{run.page_url}"' in run._repr_html_() and __version__


def test_a_run_handle_reads_names_as_text(client: Client) -> None:
    run = client.start(epochs=2, name="<img src=x onerror=alert(1)>")
    assert "<img" not in run._repr_html_() and "&lt;img" in run._repr_html_()
    assert isinstance(client.run(run.id), Run) and repr(run).startswith(f"<Run {run.id}")


def test_no_server_at_all_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = s.getsockname()[1]
        with pytest.raises(ConnectError):
            Client(f"http://127.0.0.1:{port}").health()
