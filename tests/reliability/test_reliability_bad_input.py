"""Hostile input, table-driven: every bad config, patch, step and upload gets a 4xx whose message names the
offending field; nothing the user sends becomes a path; names are free text, kept byte for byte."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import support as kit


def _message(r: httpx.Response) -> str:
    """The human-readable message of an error answer: ``message`` (validation) or ``detail`` (the rest)."""
    body = kit.strict_loads(r.text)
    if isinstance(body.get("message"), str):
        return str(body["message"])
    detail = body.get("detail")
    return detail if isinstance(detail, str) else json.dumps(detail)


J = json.dumps
# (case, raw JSON body of POST /api/runs, the field the message must name)
BAD_CONFIGS: list[tuple[str, str, str]] = [
    ("negative width", J({"hidden_layers": [-3]}), "hidden_layers"),
    ("an empty (zero-width) layer", J({"hidden_layers": [4, 0, 2]}), "hidden_layers"),
    ("a huge width", J({"hidden_layers": [10**6]}), "hidden_layers"),
    ("a width over the server's limit", J({"hidden_layers": [2048]}), "hidden_layers"),
    ("10⁹ parameters", J({"hidden_layers": [31623, 31623]}), "hidden_layers"),
    ("10⁷ parameters in allowed widths", J({"hidden_layers": [1024] * 10}), "hidden_layers"),
    ("10⁵ examples × 2 049 neurons (1.7 GB a pass)", J({"n_samples": 100_000, "hidden_layers": [1024, 1024],
                                                        "start": False}), "n_samples"),
    ("11 hidden layers", J({"hidden_layers": [4] * 11}), "hidden_layers"),
    ("65 hidden layers", J({"hidden_layers": [1] * 65}), "hidden_layers"),
    ("layers as a string", J({"hidden_layers": "4,2"}), "hidden_layers"),
    ("a fractional width", J({"hidden_layers": [2.5]}), "hidden_layers"),
    ("unknown activation", J({"activation": "swish"}), "activation"),
    ("activation list of the wrong length", J({"activation": ["tanh", "relu", "tanh"]}), "activation"),
    ("unknown output activation", J({"output_activation": "softsign"}), "output_activation"),
    ("unknown cost", J({"cost": "hinge"}), "cost"),
    ("softmax with binary cross-entropy", J({"dataset": "digits", "output_activation": "softmax",
                                              "cost": "binary_cross_entropy"}), "cost"),
    ("NaN learning rate (raw NaN)", '{"learning_rate": NaN}', "learning_rate"),
    ("Infinity learning rate", '{"learning_rate": Infinity}', "learning_rate"),
    ("-Infinity learning rate", '{"learning_rate": -Infinity}', "learning_rate"),
    ("1e999 learning rate", '{"learning_rate": 1e999}', "learning_rate"),
    ("NaN as a string", J({"learning_rate": "NaN"}), "learning_rate"),
    ("negative learning rate", J({"learning_rate": -0.1}), "learning_rate"),
    ("zero learning rate", J({"learning_rate": 0}), "learning_rate"),
    ("learning rate over 100", J({"learning_rate": 1000}), "learning_rate"),
    ("learning rate as text", J({"learning_rate": "fast"}), "learning_rate"),
    ("batch size 0", J({"batch_size": 0}), "batch_size"),
    ("negative batch size", J({"batch_size": -10}), "batch_size"),
    ("batch size over the schema's maximum", J({"batch_size": 10**9}), "batch_size"),
    ("batch size > training examples", J({"batch_size": 100_000}), "batch_size"),
    ("batch size = n_train + 1", J({"n_samples": 20, "train_fraction": 0.5, "batch_size": 11}), "batch_size"),
    ("0 epochs", J({"epochs": 0}), "epochs"),
    ("10¹² epochs", J({"epochs": 10**12}), "epochs"),
    ("negative n_samples", J({"n_samples": -5}), "n_samples"),
    ("10⁹ samples", J({"n_samples": 10**9}), "n_samples"),
    ("NaN noise", '{"noise": NaN}', "noise"),
    ("noise over 50 %", J({"noise": 0.9}), "noise"),
    ("train fraction 1", J({"train_fraction": 1.0}), "train_fraction"),
    ("negative seed", J({"seed": -1}), "seed"),
    ("seed over 2³²", J({"seed": 2**64}), "seed"),
    ("unknown dataset", J({"dataset": "imagenet"}), "dataset"),
    ("a path as the dataset", J({"dataset": "../../etc/passwd"}), "dataset"),
    ("an upload that does not exist", J({"dataset": "csv:ffffffffffff"}), "dataset"),
    ("probe beyond the data", J({"probe_index": 10**6}), "probe_index"),
    ("negative probe", J({"probe_index": -1}), "probe_index"),
    ("speed 0", J({"speed": 0}), "speed"),
    ("NaN speed", '{"speed": NaN}', "speed"),
    ("momentum 1", J({"optimizer": "momentum", "momentum": 1}), "momentum"),
    ("unknown regularisation", J({"regularization": "l3"}), "regularization"),
    ("negative regularisation rate", J({"regularization_rate": -1}), "regularization_rate"),
    ("unknown dtype", J({"dtype": "float16"}), "dtype"),
    ("negative target cost", J({"target_cost": -1}), "target_cost"),
    ("unknown field", J({"hidden": [4]}), "hidden"),
    ("a name over 200 characters", J({"name": "x" * 201}), "name"),
    ("a name that is not text", J({"name": {"first": "a"}}), "name"),
    ("start not a boolean", J({"start": "maybe"}), "start"),
    ("body a list", "[]", "body"),
    ("body not JSON", "{hidden_layers: [4]", "body"),
    ("deeply nested body", "[" * 50_000 + "]" * 50_000, "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_a_hostile_config_gets_a_4xx_naming_the_field(http: httpx.Client, case: str, body: str, field: str) -> None:
    r = http.post("/api/runs", content=body.encode(), headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, f"{case}: {r.status_code} {r.text[:300]}"
    assert field in _message(r), f"{case}: {_message(r)[:300]}"


def test_no_hidden_layer_is_a_valid_perceptron(http: httpx.Client) -> None:
    """``hidden_layers: []`` is not hostile: Playground and the CLI allow a network without hidden layers."""
    run = kit.create_run(http, hidden_layers=[], epochs=3)
    assert run["layer_sizes"] == [2, 1]
    assert kit.wait_state(http, run["id"], "done")["epoch"] == 3


@pytest.fixture(scope="module")
def paused_run(server: Any) -> Iterator[dict[str, Any]]:
    with server.client() as http:
        yield kit.create_run(http, start=False, name="target of hostile patches")


BAD_PATCHES: list[tuple[str, str, str]] = [
    ("NaN learning rate", '{"learning_rate": NaN}', "learning_rate"),
    ("negative learning rate", J({"learning_rate": -1}), "learning_rate"),
    ("negative speed", J({"speed": -5}), "speed"),
    ("probe beyond the data", J({"probe_index": 10**6}), "probe_index"),
    ("a weight of a layer that does not exist", J({"parameter": {"kind": "weight", "layer": 99, "row": 0, "col": 0,
                                                                "value": 1}}), "parameter"),
    ("a weight outside the matrix", J({"parameter": {"kind": "weight", "layer": 1, "row": 0, "col": 999,
                                                    "value": 1}}), "parameter"),
    ("a weight without a column", J({"parameter": {"kind": "weight", "layer": 1, "row": 0, "value": 1}}),
     "parameter"),
    ("a NaN weight", '{"parameter": {"kind": "bias", "layer": 1, "row": 0, "value": NaN}}', "value"),
    ("a huge weight", J({"parameter": {"kind": "bias", "layer": 1, "row": 0, "value": 1e300}}), "value"),
    ("unknown parameter kind", J({"parameter": {"kind": "gate", "layer": 1, "row": 0, "value": 1}}), "kind"),
    ("unknown field", J({"hidden_layers": [4]}), "hidden_layers"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_PATCHES, ids=[c[0] for c in BAD_PATCHES])
def test_a_hostile_patch_gets_a_4xx_naming_the_field(http: httpx.Client, paused_run: dict[str, Any], case: str,
                                                     body: str, field: str) -> None:
    r = http.patch(f"/api/runs/{paused_run['id']}", content=body.encode(),
                   headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, f"{case}: {r.status_code} {r.text[:300]}"
    assert field in _message(r), f"{case}: {_message(r)[:300]}"


@pytest.mark.parametrize(("case", "method", "path", "body", "status", "needle"), [
    ("step in years", "POST", "/step", J({"unit": "year"}), 422, "unit"),
    ("step with NaN", "POST", "/step", '{"unit": NaN}', 422, "unit"),
    ("history in XML", "GET", "/history?format=xml", None, 422, "format"),
    ("a negative epoch", "GET", "/snapshots/-1", None, 422, "epoch"),
    ("an epoch not stored", "GET", "/snapshots/999", None, 404, "epoch"),
    ("an epoch that is not a number", "GET", "/snapshots/one", None, 422, "epoch"),
    ("an epoch past 2⁶³", "GET", f"/snapshots/{2**70}", None, 422, "epoch"),
], ids=lambda v: v if isinstance(v, str) and " " in v else "")
def test_hostile_run_requests(http: httpx.Client, paused_run: dict[str, Any], case: str, method: str, path: str,
                              body: str | None, status: int, needle: str) -> None:
    r = http.request(method, f"/api/runs/{paused_run['id']}{path}", content=body.encode() if body else None,
                     headers={"content-type": "application/json"})
    assert r.status_code == status, f"{case}: {r.status_code} {r.text[:300]}"
    assert needle in _message(r), f"{case}: {_message(r)[:300]}"


@pytest.mark.parametrize("run_id", ["nope", "../../etc/passwd", "%2e%2e%2fetc", "0" * 12, "x" * 5000, "😀"])
def test_unknown_or_hostile_run_ids_are_404(http: httpx.Client, run_id: str) -> None:
    for path in ("", "/history", "/snapshots", "/export", "/data"):
        r = http.get(f"/api/runs/{run_id}{path}")
        assert r.status_code == 404, f"{run_id!r}{path}: {r.status_code}"
        if "/" not in run_id and "%" not in run_id:  # those are not even routed to a run
            assert "run" in _message(r)


# -- uploads ----------------------------------------------------------------------------------------------------
def _upload(http: httpx.Client, content: bytes, filename: str = "data.csv", **form: str) -> httpx.Response:
    return http.post("/api/datasets", files={"file": (filename, content, "text/csv")}, data=form)


GOOD_ROWS = "x1,x2,label\n" + "\n".join(f"{i % 5},{i % 7},{i % 2}" for i in range(20)) + "\n"


@pytest.mark.parametrize(("case", "content", "form", "needle"), [
    ("non-numeric value", b"x1,x2,label\n1,2,a\n3,four,b\n5,6,a\n7,8,b\n9,9,a\n", {}, "line 3, column 'x2'"),
    ("NaN value", b"x1,x2,label\n1,2,a\n3,nan,b\n5,6,a\n7,8,b\n9,9,a\n", {}, "line 3"),
    ("infinite value", b"x1,x2,label\n1,2,a\n3,-inf,b\n5,6,a\n7,8,b\n9,9,a\n", {}, "line 3"),
    ("a short row", b"x1,x2,label\n1,2,a\n3,b\n5,6,a\n7,8,b\n9,9,a\n", {}, "line 3"),
    ("10⁶ columns", b"," * 10**6 + b"label\n" + (b"1," * 10**6 + b"0\n") * 4, {}, "columns"),
    ("empty file", b"", {}, "empty"),
    ("binary garbage", bytes(range(256)) * 64, {}, "UTF-8"),
    ("no label column", GOOD_ROWS.encode(), {"label_column": "species"}, "label"),
    ("a label column name over 200 characters", GOOD_ROWS.encode(), {"label_column": "y" * 201}, "label_column"),
    ("an unclosed quote", b'x1,x2,label\n1,2,"a\n3,4,b\n5,6,a\n7,8,b\n', {}, "line 2"),
    ("one class only", b"x1,label\n1,a\n2,a\n3,a\n4,a\n", {}, "label"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 60 and not v.startswith("x") else "")
def test_a_hostile_upload_gets_a_4xx_naming_the_file_and_line(http: httpx.Client, case: str, content: bytes,
                                                               form: dict[str, str], needle: str) -> None:
    r = _upload(http, content, **form)
    assert 400 <= r.status_code < 500, f"{case}: {r.status_code} {r.text[:300]}"
    message = _message(r)
    assert needle in message, f"{case}: {message[:300]}"
    assert "file" in message or "label_column" in message, f"{case}: {message[:300]}"


def test_an_upload_without_a_file_names_the_field(http: httpx.Client) -> None:
    r = http.post("/api/datasets", files={"label_column": (None, "label")})  # multipart, no file field
    assert r.status_code == 422 and "file" in _message(r)


def _multipart_100mb(total: int = 100 * 2**20) -> Iterator[bytes]:
    yield (b'--bnd\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
           b"Content-Type: text/csv\r\n\r\nx1,x2,label\r\n")
    row = b"1.5,2.5,1\r\n" * 100_000
    for _ in range(total // len(row) + 1):
        yield row
    yield b"\r\n--bnd--\r\n"


@pytest.mark.parametrize("declared", [True, False], ids=["with Content-Length", "chunked, no length"])
def test_a_100_mb_upload_is_refused_413_fast(http: httpx.Client, declared: bool) -> None:
    headers = {"content-type": "multipart/form-data; boundary=bnd"}
    if declared:
        headers["content-length"] = str(sum(len(c) for c in _multipart_100mb()))
    total = sum(len(c) for c in _multipart_100mb())
    sent = 0

    def counted() -> Iterator[bytes]:  # the bytes the client got to hand to the socket before the answer
        nonlocal sent
        for chunk in _multipart_100mb():
            sent += len(chunk)
            yield chunk

    r = http.post("/api/datasets", content=counted(), headers=headers)
    kit.FIGURES[f"100 MB upload ({'declared' if declared else 'chunked'}): 413 after (MB sent)"] = f"{sent / 1e6:.1f}"
    assert r.status_code == 413, r.text[:300]
    assert "larger than the limit" in _message(r)
    # it stops reading at the limit (10 MB): the client could hand over the limit and what the sockets'
    # buffers hold, never the 100 MB
    assert sent < total / 2, (sent, total)
    assert kit.strict_loads(http.get("/healthz").text)["status"] == "ok"


def test_uploads_are_stored_under_generated_names_never_the_given_path(http: httpx.Client, server: Any) -> None:
    before = {p for p in server.data_dir.rglob("*")}
    for hostile in ("../../../../tmp/bpv-pwned.csv", "/etc/passwd", "..\\..\\win.ini", "a/../../b.csv",
                    "\x00.csv", "data.csv;rm -rf", "<script>.csv"):
        r = _upload(http, GOOD_ROWS.encode(), filename=hostile)
        assert r.status_code == 201, r.text
        info = kit.strict_loads(r.text)
        assert re.fullmatch(r"csv:[0-9a-f]{12}", info["name"])
    created = {p for p in server.data_dir.rglob("*")} - before
    uploads = server.data_dir / "uploads"
    for p in created:
        assert p.parent == uploads and re.fullmatch(r"[0-9a-f]{12}\.csv", p.name), p
    assert not any(p.name.startswith("bpv-pwned") for p in server.data_dir.parent.rglob("*"))
    import pathlib

    assert not pathlib.Path("/tmp/bpv-pwned.csv").exists()


# -- names: free text, never mangled, never refused for their content -----------------------------------------
NAMES = [
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script>",
    "\"'><svg/onload=alert(1)>",
    "Lernkurve – ü ß 学习曲线 منحنى",
    "🚀🧠 net",
    "\u202eevil\u202c right-to-left override",
    "a\u0000b\u0007c",
    "&lt;escaped&gt; &amp;",
    "{{7*7}} ${7*7}",
    "x" * 200,
]


@pytest.mark.parametrize("name", NAMES, ids=[f"name{i}" for i in range(len(NAMES))])
def test_names_with_unicode_and_html_come_back_byte_for_byte_as_json(http: httpx.Client, server: Any,
                                                                     name: str) -> None:
    r = http.post("/api/runs", json={"name": name, "start": False})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-content-type-options"] == "nosniff"
    run = kit.strict_loads(r.text)
    assert run["name"] == name
    assert kit.strict_loads(http.get(f"/api/runs/{run['id']}").text)["name"] == name
    seen = asyncio.run(_hello_name(f"{server.ws_url}/ws/runs/{run['id']}"))
    assert seen == name
    renamed = http.patch(f"/api/runs/{run['id']}", json={"name": name[::-1]})
    assert renamed.status_code == 200 and kit.strict_loads(renamed.text)["name"] == name[::-1]


async def _hello_name(url: str) -> str:
    import websockets

    async with websockets.connect(url, compression=None, max_size=2**26) as ws:
        while True:
            msg = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(msg, str):
                m = kit.strict_loads(msg)
                if m["type"] == "hello":
                    return str(m["run"]["name"])


def test_a_vanishingly_small_speed_waits_and_a_new_speed_applies_at_once(http: httpx.Client) -> None:
    """speed 5e-324 epochs/s is valid (> 0): the run must wait (not fail on a time_t overflow), and a PATCH
    to a real speed must start it again."""
    run = kit.create_run(http, speed=5e-324, epochs=100_000)
    kit.wait_epoch(http, run["id"], 1)
    # each PATCH is answered by the run's worker, which then looks for work before taking the next command
    # (app/worker/host.py): ten chances to train, and a run that waits takes none of them
    for _ in range(10):
        assert http.patch(f"/api/runs/{run['id']}", json={"learning_rate": 0.03}).status_code == 200
    slow = kit.strict_loads(http.get(f"/api/runs/{run['id']}").text)
    assert slow["state"] == "running" and slow["epoch"] <= 2, slow
    assert http.patch(f"/api/runs/{run['id']}", json={"speed": 50}).status_code == 200
    kit.wait_epoch(http, run["id"], slow["epoch"] + 5, timeout=30)
    assert http.post(f"/api/runs/{run['id']}/stop").status_code == 200
