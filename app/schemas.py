"""Pydantic schemas, named by direction: ``RunConfig``/``RunCreate``/``RunPatch`` come in; ``RunOut``,
``EpochPoint``, ``History`` … go out."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backprop_core.activations import HIDDEN_NAMES, OUTPUT_NAMES
from backprop_core.costs import COSTS

ActivationName = Literal["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
OutputName = Literal["sigmoid", "tanh", "relu", "leaky_relu", "linear", "softmax"]
CostName = Literal["quadratic", "cross_entropy", "binary_cross_entropy"]
RunStateName = Literal["queued", "running", "paused", "done", "stopped", "diverged", "failed", "interrupted"]
# The Literals mirror the core's tables (HIDDEN_NAMES, OUTPUT_NAMES, COSTS); a test keeps them in step.
CORE_NAMES = (HIDDEN_NAMES, OUTPUT_NAMES, tuple(COSTS))

Width = Annotated[int, Field(ge=1, le=4096)]
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class RunConfig(BaseModel):
    """A run's configuration. Every field has a default — TensorFlow Playground's."""

    model_config = _STRICT

    dataset: str = Field("circle", min_length=1, max_length=64, pattern=r"^[a-z_]+$|^csv:[a-f0-9]{12}$",
                         description="a built-in dataset (GET /api/datasets) or csv:<id> of an upload")
    noise: float = Field(0.0, ge=0, le=0.5, description="Playground's noise, 0–50 %")
    train_fraction: float = Field(0.5, ge=0.1, le=0.9)
    n_samples: int | None = Field(None, ge=10, le=100_000, description="null: the dataset's default")
    hidden_layers: list[Width] = Field([4, 2], max_length=64, description="neurons per hidden layer")
    activation: ActivationName | list[ActivationName] = Field(
        "tanh", description="σ of the hidden layers: one name, or one per hidden layer")
    output_activation: OutputName | None = Field(
        None, description="null: tanh for two classes, softmax for more, linear for regression")
    cost: CostName | None = Field(
        None, description="null: cross_entropy with softmax, binary_cross_entropy with sigmoid, else quadratic")
    init: Literal["auto", "xavier", "he", "uniform"] = "uniform"
    optimizer: Literal["sgd", "momentum"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)
    learning_rate: float = Field(0.03, gt=0, le=100)
    batch_size: int = Field(10, ge=1, le=100_000)
    regularization: Literal["l1", "l2"] | None = None
    regularization_rate: float = Field(0.0, ge=0, le=10)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    epochs: int = Field(1000, ge=1, description="stop after this many epochs (at most the server's limit)")
    target_cost: float | None = Field(None, ge=0, description="stop once the training cost is at most this")
    probe_index: int = Field(0, ge=0, description="the training example whose z, a and δ are streamed")
    speed: float | None = Field(None, gt=0, le=100_000, description="epochs per second; null: unlimited")
    dtype: Literal["float32", "float64"] = "float32"


class RunCreate(RunConfig):
    """``POST /api/runs``: a config plus a name; ``start: false`` creates the run paused."""

    # the body /docs offers for "Try it out" (its own guess from the types would be refused: batch 10 of 5 examples)
    model_config = ConfigDict(**_STRICT, json_schema_extra={"examples": [
        {"name": "spiral", "dataset": "spiral", "hidden_layers": [8, 8], "learning_rate": 0.1, "epochs": 500}]})

    name: str = Field("", max_length=200)
    start: bool = True


class ParameterEdit(BaseModel):
    model_config = _STRICT
    kind: Literal["weight", "bias"]
    layer: int = Field(ge=1)
    row: int = Field(ge=0)
    col: int | None = Field(None, ge=0)
    value: float = Field(ge=-1e6, le=1e6)


class RunPatch(BaseModel):
    """``PATCH /api/runs/{id}``: only the fields given change. ``speed: null`` means unlimited."""

    model_config = _STRICT
    learning_rate: float | None = Field(None, gt=0, le=100)
    speed: float | None = Field(None, gt=0, le=100_000)
    probe_index: int | None = Field(None, ge=0)
    parameter: ParameterEdit | None = None
    name: str | None = Field(None, max_length=200)


class StepRequest(BaseModel):
    model_config = _STRICT
    unit: Literal["epoch", "batch"] = "epoch"


class RunLinks(BaseModel):
    self: str
    ws: str
    history: str
    snapshots: str
    export: str
    data: str


class RunOut(BaseModel):
    id: str
    name: str
    state: RunStateName
    reason: str
    epoch: int
    config: RunConfig
    layer_sizes: list[int]
    activations: list[str]
    task: Literal["classification", "regression"]
    n_classes: int
    created_at: str
    updated_at: str
    links: RunLinks


class RunList(BaseModel):
    items: list[RunOut]
    total: int
    limit: int
    offset: int


class EpochPoint(BaseModel):
    """One epoch's scalars; the same object in ``history`` and in the stream's ``metrics``."""

    epoch: int
    train_cost: float | None
    test_cost: float | None
    accuracy: float | None
    train_accuracy: float | None
    learning_rate: float
    grad_norms: list[float | None]
    delta_norms: list[float | None]


class History(BaseModel):
    points: list[EpochPoint]


class StoredEpochs(BaseModel):
    epochs: list[int]
    latest: int | None


class TensorOut(BaseModel):
    shape: list[int]
    data: list[float | None]


class SnapshotOut(BaseModel):
    epoch: int
    batch: int
    probe_index: int
    train_cost: float | None
    test_cost: float | None
    accuracy: float | None
    learning_rate: float | None
    tensors: dict[str, TensorOut]


class Split(BaseModel):
    X: list[list[float]]
    y: list[float]


class DataOut(BaseModel):
    name: str
    task: str
    n_classes: int
    feature_names: list[str]
    class_names: list[str]
    image_shape: list[int] | None
    train: Split
    test: Split


class DatasetInfoOut(BaseModel):
    name: str
    task: str
    description: str
    default_samples: int
    input_dim: int
    n_classes: int
    two_d: bool


class DatasetList(BaseModel):
    items: list[DatasetInfoOut]


class ExportOut(BaseModel):
    id: str
    name: str
    config: RunConfig
    layer_sizes: list[int]
    activations: list[str]
    epoch: int
    state: str
    weights: list[list[list[float]]]
    biases: list[list[float]]


class Health(BaseModel):
    status: Literal["ok"]
    runs_active: int
    version: str


ErrorDetail = dict[str, Any] | str


class ErrorOut(BaseModel):
    """Every error answer. ``detail`` is the message, naming the field at fault; a validation error (422)
    gives the list of problems there and sums them up in ``message``; a snapshot's 404 gives an object with
    the nearest stored epochs."""

    detail: str | list[dict[str, Any]] | dict[str, Any]
    message: str | None = None


_ERROR_TEXT = {
    400: "The body could not be read (not UTF-8, not JSON, a broken form)",
    401: "The API token is missing or wrong (only when the server has one)",
    404: "No such run, dataset or stored epoch",
    409: "Not allowed in the run's current state; the message names it",
    413: "The request body is over the upload limit",
    422: "Invalid input or over a limit; the message names the field",
    429: "Too many live runs (or queued steps); the message says what to do",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer with."""
    return {code: {"model": ErrorOut, "description": _ERROR_TEXT[code]} for code in codes}
