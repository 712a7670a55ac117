"""The package as a user gets it: ``python -m build`` prints no setuptools warning; the wheel installs into a
fresh venv, ``backprop-viz --version`` answers, and ``backprop-viz serve`` serves the page and its files.

The fresh venv takes its dependencies from this environment (a .pth line to its site-packages, as
``--system-site-packages`` would) and the project from the wheel alone (``--no-deps --no-index``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from app import __version__
from tests import support as kit
from tests.client.conftest import ROOT
from tests.support import free_port

pytestmark = pytest.mark.slow
WARNING = re.compile(r"Warning\b|!!|deprecat", re.IGNORECASE)


def _warnings(output: str) -> list[str]:
    # pip's own notes about this machine's package indexes are not the build's
    return [line for line in output.splitlines() if WARNING.search(line) and "Location 'file:" not in line]


def test_build_install_serve(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # PYTHONDONTWRITEBYTECODE makes setuptools say "byte-compiling is disabled": a note about the caller's
    # environment, not about the package
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=600, env=env)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert _warnings(built.stdout + built.stderr) == []
    (wheel,) = dist.glob("backprop_viz-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
                                str(wheel)], capture_output=True, text=True, timeout=300, env=env)
    assert installed.returncode == 0, installed.stderr
    assert _warnings(installed.stdout + installed.stderr) == []

    cli = venv / "bin" / "backprop-viz"
    version = subprocess.run([str(cli), "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert version.stdout.strip() == f"backprop-viz {__version__}"
    where = subprocess.run([str(py), "-c", "import backprop_viz_server, backprop_core, backprop_viz; print("
                            "backprop_viz_server.__file__, backprop_core.__file__, backprop_viz.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.split()
    assert all(path.startswith(purelib) for path in where), where  # the wheel's copies, not the checkout
    # installed packages with names of their own: no top-level "app" to collide with another project's
    assert not Path(purelib, "app").exists()
    # every module of the checkout's app/ is in the wheel, under the installed name
    installed_server = Path(purelib, "backprop_viz_server")
    missing = [str(p.relative_to(ROOT / "app")) for p in (ROOT / "app").rglob("*.py")
               if not (installed_server / p.relative_to(ROOT / "app")).exists()]
    assert missing == [], f"modules left out of the wheel (list their packages in pyproject.toml): {missing}"

    port = free_port()
    env = {k: v for k, v in env.items() if not k.startswith("BPV_")}
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(cli), "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
                              cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        page = httpx.get(url + "/")
        assert page.status_code == 200 and "<script" in page.text
        scripts = re.findall(r'src="(/static/[^"]+\.js)"', page.text)
        assert scripts, page.text[:500]
        for path in [*scripts, "/static/js/main.js", "/static/vendor/plotly.min.js",
                     "/static/vendor/swagger/swagger-ui-bundle.js", "/static/js/api-docs.js", "/docs"]:
            response = httpx.get(url + path)
            assert response.status_code == 200 and len(response.content) > 100, path
        # a run trains in the wheel's own training workers
        run = httpx.post(url + "/api/runs", json={"epochs": 3}, timeout=60)
        assert run.status_code == 201, run.text
        kit.wait_for(lambda: httpx.get(f"{url}/api/runs/{run.json()['id']}").json()["state"] == "done", timeout=120,
                     what="a run of the installed wheel to finish")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        log.close()
