"""Where the page's files are: beside the package in a checkout, inside it when installed from a wheel."""

from __future__ import annotations

from pathlib import Path

import plotly

_HERE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    installed, checkout = _HERE / name, _HERE.parent / name
    if installed.is_dir():
        return installed
    if (_HERE.parent / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    raise RuntimeError(f"cannot find the {name}/ directory of backprop-viz")


STATIC_DIR = _find("static")
TEMPLATES_DIR = _find("templates")
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
