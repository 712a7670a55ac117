"""Questions a paused run answers about its current weights, in the worker where its trainer lives.

    walk      {id, run, probe_index?, apply}              the next mini-batch step taken apart
    gradcheck {id, run, layer, index?, bias?, epsilon?}   backprop against central differences
    whatif    {id, run, layer, index?, bias?, delta}      the cost's change for a nudge, against Δ · ∂C/∂w

The answer is the core's JSON-safe dict (``backprop_core/walkthrough.py``) as JSON text: the body of the
command's ack, passed to the HTTP client as it is. A ValueError (a limit, an index out of range) is the
ack's error.
"""

from __future__ import annotations

import json
from typing import Any

from backprop_core import Trainer, Walked, check_gradient, walk, what_if
from backprop_core.gradcheck import EPSILON

KINDS = ("walk", "gradcheck", "whatif")


def answer(trainer: Trainer, h: dict[str, Any]) -> tuple[bytes, Walked | None]:
    """The JSON answer to the question ``h`` and, for a walk, what it did (an applied walk stepped)."""
    kind = h["t"]
    walked = None
    if kind == "walk":
        walked = walk(trainer, h.get("probe_index"), apply=bool(h.get("apply")))
        out = walked.answer
    elif kind == "gradcheck":
        out = check_gradient(trainer, int(h["layer"]), index=_pair(h.get("index")), bias=h.get("bias"),
                             eps=float(h.get("epsilon") or EPSILON))
    elif kind == "whatif":
        out = what_if(trainer, int(h["layer"]), float(h["delta"]), index=_pair(h.get("index")), bias=h.get("bias"))
    else:
        raise ValueError(f"unknown question {kind!r}")
    return json.dumps(out, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode(), walked


def _pair(index: list[int] | None) -> tuple[int, int] | None:
    if index is None:
        return None
    j, k = index
    return int(j), int(k)
