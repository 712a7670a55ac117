"""The JSON objects of the REST API and the stream, as typed dicts (docs/protocol.md, /openapi.json)."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

RunState = Literal["queued", "running", "paused", "done", "stopped", "diverged", "failed", "interrupted"]
TERMINAL: frozenset[str] = frozenset({"done", "stopped", "diverged", "failed", "interrupted"})
# Endings after which the server may still publish the epoch that was in flight (docs/protocol.md, `state`).
ENDED_MID_EPOCH: frozenset[str] = frozenset({"stopped", "interrupted"})


class EpochPoint(TypedDict):
    """One epoch's scalars: a row of ``history()`` and an item of ``watch()``. ``grad_norms[l-1]`` is
    ‖∂C/∂Wˡ‖ and ``delta_norms[l-1]`` is ‖δˡ‖ of layer l."""

    epoch: int
    train_cost: float | None
    test_cost: float | None
    accuracy: float | None
    train_accuracy: float | None
    learning_rate: float
    grad_norms: list[float | None]
    delta_norms: list[float | None]


class RunInfo(TypedDict):
    """A run as ``GET /api/runs/{id}`` shows it."""

    id: str
    name: str
    state: RunState
    reason: str
    epoch: int
    config: dict[str, Any]
    layer_sizes: list[int]
    activations: list[str]
    task: Literal["classification", "regression"]
    n_classes: int
    created_at: str
    updated_at: str
    links: dict[str, str]
    kind: Literal["trained", "external"]  # external: trained by a program of its own (Client.track)


class DatasetInfo(TypedDict):
    """A dataset as ``GET /api/datasets`` lists it."""

    name: str
    task: str
    description: str
    default_samples: int
    input_dim: int
    n_classes: int
    two_d: bool
    label: str
