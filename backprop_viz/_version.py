"""The installed distribution's version (one source: ``app.__version__``, read by pyproject.toml)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("backprop-viz")
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+unknown"
