"""What the served OpenAPI document adds to FastAPI's: the security schemes (a Bearer token, the page's session
cookie with its CSRF header) and each operation's requirement on this server; the answers every operation can
give (403 from the Host / CSRF guard, 503 over the connection cap); and the bounds that this server's settings
set on a run's fields, so that a config the schema allows is one the limits allow."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .config import Settings
from .schemas import errors
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
DATA_RULES = ("Limits that depend on the dataset are checked when the run is created (422 naming the field): "
              "batch_size and probe_index below its number of training examples; the network's parameters "
              "(BPV_MAX_PARAMS) and activations per pass (BPV_MAX_ACTIVATIONS); one activation per hidden layer "
              "when a list is given; features other than the default only on 2-D data; a cost that fits the "
              "output activation; a dataset that exists.")


def finish_openapi(app: FastAPI, settings: Settings, policy: Policy) -> None:
    """Replace ``app.openapi`` with FastAPI's document plus the additions above."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema["components"]["securitySchemes"] = SCHEMES
        _security(schema, policy)
        _bounds(schema["components"]["schemas"], settings)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _security(schema: dict[str, Any], policy: Policy) -> None:
    """The operations that can ask for a login are the ones that document a 401 (``api/deps.py``'s ``Read`` and
    ``Write``); every operation can meet the guard (403) and the cap (503)."""
    login: list[dict[str, list[str]]] = [{"bearer": []}, {"session": [], "csrf": []}]
    always = errors(403, 503)
    for operations in schema["paths"].values():
        for method, op in operations.items():
            responses = op.setdefault("responses", {})
            for code, answer in always.items():
                responses.setdefault(str(code), {"description": answer["description"],
                                                 "content": {"application/json": {"schema": {
                                                     "$ref": "#/components/schemas/ErrorOut"}}}})
            if "401" not in responses:
                continue
            if method == "get":
                if policy.reads_need_login:
                    op["security"] = [{"bearer": []}, {"session": []}]
            elif policy.login_required:
                op["security"] = login


def _bounds(schemas: dict[str, Any], s: Settings) -> None:
    """The settings' limits as the schema's: hidden layers, widths, epochs, samples; a probe index and a batch
    below the most training examples a run can have (BPV_MAX_SAMPLES, or BPV_MAX_UPLOAD_ROWS for an upload)."""
    most_train = max(s.max_samples, s.max_upload_rows)

    def at_most(prop: dict[str, Any], value: int) -> None:
        for branch in prop.get("anyOf", [prop]):
            if branch.get("type") == "integer":
                branch["maximum"] = min(branch.get("maximum", value), value)

    for name in ("RunConfig", "RunCreate"):
        props = schemas[name]["properties"]
        props["hidden_layers"]["maxItems"] = min(props["hidden_layers"].get("maxItems", s.max_layers), s.max_layers)
        at_most(props["hidden_layers"]["items"], s.max_width)
        at_most(props["epochs"], s.max_epochs)
        at_most(props["n_samples"], s.max_samples)
        at_most(props["batch_size"], most_train)
        at_most(props["probe_index"], most_train - 1)
    schemas["RunCreate"]["description"] = f"{schemas['RunCreate'].get('description', '')} {DATA_RULES}".strip()
    at_most(schemas["RunPatch"]["properties"]["probe_index"], most_train - 1)
