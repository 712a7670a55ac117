"""Helpers shared by the page's end-to-end tests and the render benchmark: the server process, opening a
page that records console errors and every request leaving 127.0.0.1 (aborted), waiting for frames."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/lib/chromium/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "docs" / "screenshots"
# The page trains as fast as it goes by default: a long epoch limit keeps a run going until a test pauses it.
LONG_RUN = "#epochs=100000"

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read())

    def get_bytes(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return bytes(r.read())

    def send(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def snapshot(self, run_id: str, epoch: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The binary snapshot of an epoch, decoded independently of the page (docs/protocol.md)."""
        frame = self.get_bytes(f"/api/runs/{run_id}/snapshots/{epoch}?format=binary")
        (h,) = struct.unpack_from("<I", frame, 0)
        header = json.loads(frame[4:4 + h])
        start = 4 + h + (-(4 + h) % 4)
        tensors = {}
        for spec in header["tensors"]:
            count = int(np.prod(spec["shape"]))
            tensors[spec["name"]] = np.frombuffer(frame, "<f4", count, start + spec["offset"]).reshape(spec["shape"])
        return header, tensors

    def upload_csv(self, text: str, label_column: str = "label", name: str = "upload") -> Any:
        """POST /api/datasets with a CSV file (multipart), returning the dataset info."""
        boundary = "----bpv-e2e-boundary"
        parts = []
        for key, value in (("label_column", label_column), ("name", name)):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n')
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}.csv"\r\n'
                     f"Content-Type: text/csv\r\n\r\n{text}\r\n--{boundary}--\r\n")
        req = urllib.request.Request(self.url + "/api/datasets", data="".join(parts).encode(), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())


def start_server(data_dir: Path, skip: Any = None, root: Path = ROOT) -> Server:
    """uvicorn app.main:create_app on a free loopback port with BPV_DATA_DIR=data_dir, once /healthz answers.
    `root`: the checkout to serve (another one than this, e.g. to measure an older page beside this one)."""
    if not (root / "app" / "main.py").exists() or not Path(CHROMIUM).exists():
        reason = "app/main.py is not there yet" if Path(CHROMIUM).exists() else f"no Chromium at {CHROMIUM}"
        if skip and os.environ.get("CI") != "true":  # in CI (make test installs Chromium) this fails instead
            skip(reason)
        raise RuntimeError(reason)
    port = free_port()
    env = {**os.environ, "BPV_DATA_DIR": str(data_dir)}
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - the process owns it until stop_server
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--ws-per-message-deflate", "false"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return Server(url, data_dir, proc)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the server did not start:\n" + (data_dir / "server.log").read_text()) from None
            time.sleep(0.2)


def stop_running(server: Server) -> None:
    """Stop every run still training, so that one test's runs do not slow the next (2 cores)."""
    for run in server.get("/api/runs?limit=200")["items"]:
        if run["state"] in ("running", "queued"):
            try:
                server.send("POST", f"/api/runs/{run['id']}/stop")
            except urllib.error.HTTPError:
                pass  # it finished meanwhile


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)


@dataclass
class Watch:
    """What a page did that a test may want to forbid."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def errors(self, ignore: tuple[str, ...] = ()) -> list[str]:
        return [e for e in self.console_errors + self.page_errors if not any(i in e for i in ignore)]


def new_page(browser: Any, *, width: int = 1280, height: int = 800) -> tuple[Any, Watch]:
    """A page in a fresh context (DPR 1) that records errors and aborts every request leaving 127.0.0.1."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    page = ctx.new_page()
    watch = Watch()
    page.on("console", lambda m: watch.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watch.page_errors.append(str(e)))

    def on_dialog(d: Any) -> None:
        watch.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)

    def route(r: Any) -> None:
        url = r.request.url
        watch.requests.append(url)
        if url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")):
            r.continue_()
        else:
            watch.foreign_requests.append(url)
            r.abort()

    ctx.route("**/*", route)

    def seen(url: str) -> None:
        if not url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")):
            watch.foreign_requests.append(url)

    page.on("request", lambda r: seen(r.url))
    page.on("websocket", lambda ws: seen(ws.url))
    return page, watch


def open_page(browser: Any, server: Server, *, width: int = 1280, height: int = 800,
              hash: str = "") -> tuple[Any, Watch]:
    """Our page at `hash`, once the diagram shows a snapshot of the open run."""
    page, watch = new_page(browser, width=width, height=height)
    page.goto(server.url + "/" + hash)
    wait_drawn(page)
    return page, watch


def wait_drawn(page: Any, timeout: float = 20_000) -> None:
    """Until the diagram shows a snapshot of the open run."""
    page.wait_for_function("() => window.__bpv && window.__bpv.run() && window.__bpv.shown() && "
                           "window.__bpv.network() && window.__bpv.network().frames > 0", timeout=timeout)


def wait_state(page: Any, state: str, timeout: float = 15_000) -> None:
    page.wait_for_function("s => window.__bpv.run() && window.__bpv.run().state === s", arg=state, timeout=timeout)


def settle(page: Any) -> dict[str, Any]:
    """Wait until the run is paused, the shown snapshot is its current epoch and stays so (an epoch in
    flight when the pause arrived is still published after the "paused" state), then two frames."""
    last = None
    while True:
        page.wait_for_function("() => { const r = window.__bpv.run(), s = window.__bpv.shown();"
                               " return r && s && r.state === 'paused' && s.epoch === r.epoch; }", timeout=30_000)
        now = page.evaluate("() => [window.__bpv.run().epoch, window.__bpv.shown().batch]")
        if now == last:
            break
        last = now
        time.sleep(0.4)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return page.evaluate("() => window.__bpv.shown()")


def wait_curves(page: Any, timeout: float = 30_000) -> None:
    """Until both charts end at the run's current epoch (they follow at most 10 times a second)."""
    page.wait_for_function("() => ['.cost-chart', '.norm-chart'].every(sel => {"
                           " const d = document.querySelector(sel).data, e = window.__bpv.run().epoch;"
                           " return d && d.length && d[0].x.length && d[0].x[d[0].x.length - 1] === e; })",
                           timeout=timeout)


def mnist_like_csv(n: int = 240, seed: int = 0) -> str:
    """784 pixel columns and a label 0–9: class c lights up band c of a 28×28 image, plus noise."""
    rng = np.random.default_rng(seed)
    lines = [",".join(f"p{k}" for k in range(784)) + ",label"]
    for r in range(n):
        c = r % 10
        img = rng.uniform(0, 0.3, (28, 28))
        img[c * 2 + 4: c * 2 + 7, 4:24] += 0.7
        lines.append(",".join(f"{v:.2f}" for v in img.ravel()) + f",{c}")
    return "\n".join(lines) + "\n"


def shot(page: Any, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


