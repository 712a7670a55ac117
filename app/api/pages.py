"""The page (``/``) and the API docs (``/docs``), both working offline under a strict CSP."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ..paths import PLOTLY_JS, TEMPLATES_DIR
from ..security import set_cookies
from .deps import PolicyDep

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
<script type="module" src="/static/js/api-docs.js"></script></body></html>"""


@router.get("/", response_class=HTMLResponse)
def index(request: Request, policy: PolicyDep, token: str | None = None) -> Response:
    """The page. ``/?token=…`` (the login URL) trades the token for the session cookie and redirects here; a
    server with a token shows its login form to a browser without the cookie (the page's first act is to
    create a run, which needs the login)."""
    if token is not None:
        if policy.login_required and not policy.token_ok(token):
            return _login(request, "Wrong token: copy it again from the login URL the server printed.")
        response: Response = RedirectResponse("/", status_code=303)  # the token leaves the address bar
        set_cookies(response, request, policy, login=policy.login_required)
        return response
    if policy.login_required and not policy.authenticated(request):
        return _login(request, "")
    response = templates.TemplateResponse(request, "index.html", {"static_url": "/static"})
    set_cookies(response, request, policy, login=False)
    return response


def _login(request: Request, error: str) -> Response:
    # A link from another site arrives without the SameSite=Strict cookie: reload once from here, which sends it.
    retry = not error and request.headers.get("sec-fetch-site") == "cross-site"
    return templates.TemplateResponse(request, "login.html", {"static_url": "/static", "error": error,
                                                              "retry": retry}, status_code=401)


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request, policy: PolicyDep) -> HTMLResponse:
    response = HTMLResponse(DOCS_HTML)
    set_cookies(response, request, policy, login=False)  # "Try it out" sends the CSRF header too
    return response


@router.get("/static/vendor/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})
