"""Loaded by the Schemathesis CLI in test_reliability_schema.py (``SCHEMATHESIS_HOOKS``): one more check for
``--checks all`` — every JSON answer is strict JSON (Python's json and Schemathesis accept NaN and Infinity;
browsers' JSON.parse does not)."""

from __future__ import annotations

from typing import Any

import schemathesis

from tests.support import strict_loads


@schemathesis.check
def finite_json(ctx: Any, response: Any, case: Any) -> bool | None:
    content_type = response.headers.get("content-type") or [""]
    if str(content_type[0] if isinstance(content_type, list) else content_type).startswith("application/json"):
        strict_loads(response.text)
    return None
