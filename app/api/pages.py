"""The page (``/``) and the API docs (``/docs``), both working offline under a strict CSP."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from ..paths import PLOTLY_JS, TEMPLATES_DIR

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

# Swagger UI 5 (static/vendor/swagger, the npm package swagger-ui-dist: it reads FastAPI's OpenAPI 3.1), started
# by a served file: the CSP allows no inline script.
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>backprop-viz API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/vendor/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger/swagger-ui-bundle.js"></script>
<script src="/static/js/api-docs.js"></script></body></html>"""


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "index.html", {"static_url": "/static"})


@router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    return HTMLResponse(DOCS_HTML)


@router.get("/static/vendor/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})
