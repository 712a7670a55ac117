"""``/healthz``: the server answers; ``degraded`` with the reason when storage is failing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from .. import __version__
from ..schemas import Health
from .deps import RunsDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(runs: RunsDep) -> dict[str, Any]:
    status, reason = await runs.check()
    return {"status": status, "reason": reason, "runs_active": runs.active(), "version": __version__}
