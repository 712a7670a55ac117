"""``/api/catalog``: the model's vocabulary, the server's limits and datasets, in one answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..schemas import CatalogOut, errors
from ..services.catalog import catalog
from .deps import DataDep, Read, SettingsDep

router = APIRouter(prefix="/api/catalog", tags=["catalog"])


@router.get("", response_model=CatalogOut, dependencies=Read, responses=errors(401),
            summary="Activations, costs, initialisations, optimisers, features, limits, datasets — every name "
                    "and number a client derives its forms from")
def get_catalog(settings: SettingsDep, data: DataDep) -> dict[str, Any]:
    return catalog(settings, data)
