"""Every router, gathered in one place."""

from fastapi import APIRouter

from . import catalog, datasets, health, pages, reports, runs, ws

api_router = APIRouter()
for module in (health, runs, reports, datasets, catalog, pages, ws):
    api_router.include_router(module.router)

__all__ = ["api_router"]
