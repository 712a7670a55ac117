"""The catalog: the core's vocabulary plus what this server adds — its limits, its datasets, the defaults and
bounds of a run's config. What the page, its URL hash and its forms derive from (``GET /api/catalog``)."""

from __future__ import annotations

from typing import Any

from backprop_core import vocabulary

from ..config import Settings
from ..schemas import RunConfig
from .data import DataService

# the Settings a client may want to know before it asks (never the token, paths or addresses)
LIMITS = ("max_layers", "max_width", "max_epochs", "max_params", "max_samples", "max_activations",
          "max_upload_bytes", "max_upload_rows", "max_upload_columns", "max_running", "max_queued",
          "max_ws_message")
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "minLength",
           "maxLength", "pattern", "uniqueItems")


def catalog(settings: Settings, data: DataService) -> dict[str, Any]:
    out = vocabulary.catalog()
    out["limits"] = {name: getattr(settings, name) for name in LIMITS}
    out["datasets"] = data.infos()
    out["config"] = {"defaults": RunConfig().model_dump(mode="json"), "bounds": config_bounds()}
    return out


def config_bounds() -> dict[str, dict[str, Any]]:
    """Each RunConfig field's bounds as its JSON Schema states them (a nullable field: its non-null branch;
    a list: its own bounds and its items' as ``items``)."""
    props = RunConfig.model_json_schema()["properties"]
    out: dict[str, dict[str, Any]] = {}
    for name, spec in props.items():
        branch = next((b for b in spec.get("anyOf", []) if b.get("type") != "null"), spec)
        bounds = {k: v for k, v in branch.items() if k in _BOUNDS}
        items = {k: v for k, v in branch.get("items", {}).items() if k in _BOUNDS}
        if items:
            bounds["items"] = items
        if bounds:
            out[name] = bounds
    return out
