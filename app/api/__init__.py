"""Every router, gathered in one place."""

from fastapi import APIRouter

from . import catalog, datasets, health, pages, reports, runs, walkthrough, ws

api_router = APIRouter()
for module in (health, runs, walkthrough, reports, datasets, catalog, pages, ws):
    api_router.include_router(module.router)

__all__ = ["api_router"]
