"""``/healthz``: the server answers and its database is reachable."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from .. import __version__
from ..schemas import Health
from .deps import RunsDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(runs: RunsDep) -> dict[str, Any]:
    return {"status": "ok", "runs_active": runs.active(), "version": __version__}
