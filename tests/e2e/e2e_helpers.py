"""Helpers shared by the page's end-to-end tests and the render benchmark: the server process, opening a
page that records console errors and every request leaving 127.0.0.1 (aborted), waiting for frames."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tests import support as kit
from tests.support import ROOT, Server, free_port

__all__ = ["ROOT", "Server", "free_port"]
CHROMIUM = "/usr/lib/chromium/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "docs" / "screenshots"
# The page trains as fast as it goes by default: a long epoch limit keeps a run going until a test pauses it.
LONG_RUN = "#epochs=100000"


def start_server(data_dir: Path, skip: Any = None, root: Path = ROOT) -> Server:
    """A real uvicorn on a free loopback port with BPV_DATA_DIR=data_dir, once /healthz answers. ``root``: the
    checkout to serve (another one than this, e.g. to measure an older page beside this one)."""
    if not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM}"
        if skip and os.environ.get("CI") != "true":  # in CI (make test installs Chromium) this fails instead
            skip(reason)
        raise RuntimeError(reason)
    return Server(data_dir, data_dir / "server.log", root=root).start(timeout=60)


def stop_running(server: Server) -> None:
    """Stop every run still training, so that one test's runs do not slow the next (2 cores)."""
    for run in server.get("/api/runs?limit=200")["items"]:
        if run["state"] in ("running", "queued"):
            try:
                server.send("POST", f"/api/runs/{run['id']}/stop")
            except httpx.HTTPStatusError:
                pass  # it finished meanwhile


def stop_server(server: Server) -> None:
    server.stop()


@dataclass
class Watch:
    """What a page did that a test may want to forbid."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    in_flight: dict[Any, str] = field(default_factory=dict)  # requests sent and not yet finished or failed

    def errors(self, ignore: tuple[str, ...] = ()) -> list[str]:
        return [e for e in self.console_errors + self.page_errors if not any(i in e for i in ignore)]


def new_page(browser: Any, *, width: int = 1280, height: int = 800) -> tuple[Any, Watch]:
    """A page in a fresh context (DPR 1) that records errors and aborts every request leaving 127.0.0.1."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    ctx.set_default_timeout(90_000)  # a bound on waits for events (a click waits for the page to take it)
    page = ctx.new_page()
    return page, record(page)


def record(page: Any, local: tuple[str, ...] = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")) -> Watch:
    """Record the page's console errors, page errors and dialogs, and every request that leaves ``local``
    (those are aborted)."""
    ctx = page.context
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
        if url.startswith(local):
            r.continue_()
        else:
            watch.foreign_requests.append(url)
            r.abort()

    ctx.route("**/*", route)

    def seen(url: str) -> None:
        if not url.startswith(local):
            watch.foreign_requests.append(url)

    page.on("request", lambda r: seen(r.url))
    page.on("request", lambda r: watch.in_flight.__setitem__(r, r.url))
    page.on("requestfinished", lambda r: watch.in_flight.pop(r, None))
    page.on("requestfailed", lambda r: watch.in_flight.pop(r, None))
    page.on("websocket", lambda ws: seen(ws.url))
    return watch


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
    """Wait until the page shows the paused run where it stands for good, then two frames. An epoch in flight
    when the pause arrived is still published after the "paused" state: where the run stands comes from the
    server once its worker has answered (``kit.at_rest``, which also finds that the run does not move), then
    the page must show that epoch."""
    wait_state(page, "paused", timeout=30_000)
    run_id = page.evaluate("window.__bpv.run().id")
    origin = "/".join(page.url.split("/", 3)[:3])
    with httpx.Client(base_url=origin, timeout=30) as http:
        epoch = kit.at_rest(http, run_id)["epoch"]
    page.wait_for_function("e => { const r = window.__bpv.run(), s = window.__bpv.shown();"
                           " return r && s && r.state === 'paused' && r.epoch === e && s.epoch === e; }",
                           arg=epoch, timeout=30_000)
    animation_frames(page)
    return page.evaluate("() => window.__bpv.shown()")


def animation_frames(page: Any, n: int = 2) -> None:
    """Until the page has drawn ``n`` more frames: what the page state holds now is on screen."""
    page.evaluate("n => new Promise(r => { const f = k => k ? requestAnimationFrame(() => f(k - 1)) : r(); f(n); })",
                  n)


def pause_after(p: Any, epochs: int) -> dict[str, Any]:
    """Play, pause once the run is at ``epochs`` or later, and wait until the page shows where it paused
    (settle); the pointer off the diagram, so no hover marks are drawn."""
    p.click("#play")
    wait_state(p, "running")
    p.wait_for_function("n => window.__bpv.run().epoch >= n", arg=epochs, timeout=30_000)
    p.click("#play")
    wait_state(p, "paused")
    p.mouse.move(1, 1)
    return settle(p)


def quiet(page: Any, watch: Watch, timeout: float = 60.0) -> None:
    """Until every request the page has made is answered (or failed) and two frames have been drawn since:
    whatever those answers change has been applied. Playwright reports each request's end as it waits."""
    deadline = time.monotonic() + timeout
    while watch.in_flight:
        assert time.monotonic() < deadline, f"requests still open after {timeout} s: {list(watch.in_flight.values())}"
        page.wait_for_timeout(20)  # the interval at which to look again, not a wait for something to happen
    animation_frames(page)


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


def element_shot(page: Any, selector: str, name: str) -> None:
    """One element, whole: taller than the window, it is taken in strips, and the sticky top bar would be drawn
    over it in each; for the picture the bar stays at the page's top (it takes the same room either way)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(selector).screenshot(path=str(SCREENSHOTS / name), style=".topbar { position: static !important; }")


