"""The OpenAPI document's security: the schemes (a Bearer token, the page's session cookie with its CSRF
header) and, per operation, what this server asks for — nothing when it has no token, reads only when reads
need the login."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .security import CSRF_COOKIE, Policy

SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "The server's token: BPV_API_TOKEN, or the one in the login URL it printed at start "
                              "(X-API-Token: <token> works too)."},
    "session": {"type": "apiKey", "in": "cookie", "name": "bpv-session-PORT",
                "description": "The page's login: /?token=<token> sets this HttpOnly, SameSite=Strict cookie "
                               "(PORT: the port in the page's address)."},
    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
             "description": f"Equal to the {CSRF_COOKIE} cookie that GET / sets: state-changing requests that carry "
                            "the session cookie need it, and so do uploads from a browser."},
}


def declare_security(app: FastAPI, policy: Policy) -> None:
    """Replace ``app.openapi`` with one that adds the schemes and each operation's requirement. The operations
    that can ask for a login are the ones that document a 401 (``api/deps.py``'s ``Read`` and ``Write``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = SCHEMES
        login: list[dict[str, list[str]]] = [{"bearer": []}, {"session": [], "csrf": []}]
        for operations in schema["paths"].values():
            for method, op in operations.items():
                if "401" not in op.get("responses", {}):
                    continue
                if method == "get":
                    if policy.reads_need_login:
                        op["security"] = [{"bearer": []}, {"session": []}]
                elif policy.login_required:
                    op["security"] = login
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
