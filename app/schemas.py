"""Pydantic schemas, named by direction: ``RunConfig``/``RunCreate``/``RunPatch`` come in; ``RunOut``,
``EpochPoint``, ``History`` … go out.

Names of the model's parts (activations, costs, inits, optimisers, regularisations, features, dtypes) are
not listed here: each is checked against the core's own table when a request arrives (``OneOf``), and the
OpenAPI schema lists the table's names as an enum. A new activation in the core is accepted with no change
here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from backprop_core import activations, costs, inputs, network, optimizers


@dataclass(frozen=True)
class OneOf:
    """A name from one of the core's tables, read when a value is checked (``names()``) — so the core's
    table is the only list — and published as the JSON Schema's ``enum``."""

    what: str
    names: Callable[[], Iterable[str]]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out["enum"] = list(self.names())
        return out

    def check(self, value: str) -> str:
        valid = tuple(self.names())
        if value not in valid:
            raise ValueError(f"unknown {self.what} {value!r}; valid: {', '.join(valid)}")
        return value


ActivationName = Annotated[str, OneOf("activation", activations.hidden_names)]
OutputName = Annotated[str, OneOf("output activation", activations.output_names)]
CostName = Annotated[str, OneOf("cost", lambda: costs.COSTS)]
InitName = Annotated[str, OneOf("init", lambda: network.INITS)]
OptimizerName = Annotated[str, OneOf("optimizer", lambda: optimizers.OPTIMIZERS)]
RegularizationName = Annotated[str, OneOf("regularization", lambda: network.REGULARIZATIONS)]
FeatureName = Annotated[str, OneOf("feature", lambda: inputs.FEATURES)]
DtypeName = Annotated[str, OneOf("dtype", lambda: network.DTYPES)]
RunStateName = Literal["queued", "running", "paused", "done", "stopped", "diverged", "failed", "interrupted"]

Width = Annotated[int, Field(ge=1, le=4096)]
# strict: JSON types are kept — true is not 1, "4" is not 4 (an int is still a float: 1 for 1.0)
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class RunConfig(BaseModel):
    """A run's configuration. Every field has a default — TensorFlow Playground's."""

    model_config = _STRICT

    dataset: str = Field("circle", min_length=1, max_length=64, pattern=r"^[a-z_]+$|^csv:[a-f0-9]{12}$",
                         description="a built-in dataset (GET /api/datasets) or csv:<id> of an upload")
    noise: float = Field(0.0, ge=0, le=0.5, description="Playground's noise, 0–50 %")
    train_fraction: float = Field(0.5, ge=0.1, le=0.9)
    n_samples: int | None = Field(None, ge=10, le=100_000, description="null: the dataset's default")
    features: list[FeatureName] = Field(
        list(inputs.DEFAULT_FEATURES), min_length=1, json_schema_extra={"uniqueItems": True},
        description="the network's inputs, computed from the raw point of a 2-D dataset (Playground's "
                    "features, GET /api/catalog); on other data only the default, which means its own columns")
    standardize: bool = Field(True, description="standardise each input: subtract its mean and divide by its "
                                                "standard deviation, both over the training split")
    hidden_layers: list[Width] = Field([4, 2], max_length=64, description="neurons per hidden layer")
    activation: ActivationName | list[ActivationName] = Field(
        "tanh", description="σ of the hidden layers: one name, or one per hidden layer")
    output_activation: OutputName | None = Field(
        None, description="null: tanh for two classes, softmax for more, linear for regression")
    cost: CostName | None = Field(
        None, description="null: cross_entropy with softmax, binary_cross_entropy with sigmoid, else quadratic")
    init: InitName = "uniform"
    optimizer: OptimizerName = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)
    learning_rate: float = Field(0.03, gt=0, le=100)
    batch_size: int = Field(10, ge=1, le=100_000)
    regularization: RegularizationName | None = None
    regularization_rate: float = Field(0.0, ge=0, le=10)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    epochs: int = Field(1000, ge=1, description="stop after this many epochs (at most the server's limit)")
    target_cost: float | None = Field(None, ge=0, description="stop once the training cost is at most this")
    probe_index: int = Field(0, ge=0, description="the training example whose z, a and δ are streamed")
    speed: float | None = Field(None, gt=0, le=100_000, description="epochs per second; null: unlimited")
    dtype: DtypeName = "float32"

    @field_validator("features")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        inputs.check_features(names)  # known names were checked one by one; this refuses repeats
        return names


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
    epochs: int | None = Field(None, ge=1, description="a new epoch limit, above the run's epoch; a run that is "
                               "done or stopped goes on with it (paused again, from its checkpoint)")


Number = Annotated[float, Field(allow_inf_nan=False)]
Weights = list[list[Number]]


class ExternalRunCreate(BaseModel):
    """``POST /api/runs/external``: a model trained elsewhere (your own NumPy MLP, a PyTorch nn.Sequential of
    Linear layers and elementwise activations) that streams its epochs into a run the page draws."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field("", max_length=200)
    layer_sizes: list[int] = Field(min_length=2, max_length=66, description="n₀ … n_L: inputs, layers, outputs")
    activations: list[str] = Field(min_length=1, max_length=65,
                                   description="σ of layers 1 … L, names from GET /api/catalog (linear if none)")
    task: Literal["classification", "regression"] = "classification"
    n_classes: int = Field(2, ge=0, le=10_000)
    epochs: int | None = Field(None, ge=1, description="the epochs it will train, if known")


class ProbeIn(BaseModel):
    """One example's forward and backward pass: aˡ for l = 0 … L (a⁰ its input), zˡ and δˡ for l = 1 … L,
    its target y."""

    model_config = ConfigDict(extra="forbid", strict=True)
    activations: list[list[Number]]
    zs: list[list[Number]]
    deltas: list[list[Number]]
    target: list[Number] = []


class EpochIn(BaseModel):
    """``POST /api/runs/{id}/epochs``: one epoch of an external run, its epochs numbered 0, 1, 2 … in order.
    Wˡ of shape (n_{l−1}, n_l) (PyTorch's Linear.weight transposed), ∂C/∂Wˡ of the same shapes."""

    model_config = ConfigDict(extra="forbid", strict=True)
    epoch: int = Field(ge=0)
    train_cost: Number
    test_cost: Number | None = None
    accuracy: float | None = Field(None, ge=0, le=1)
    train_accuracy: float | None = Field(None, ge=0, le=1)
    learning_rate: float = Field(0.0, ge=0, allow_inf_nan=False)
    weights: list[Weights]
    biases: list[list[Number]]
    grad_weights: list[Weights]
    grad_biases: list[list[Number]]
    probe: ProbeIn | None = None


class ExternalFinish(BaseModel):
    """``POST /api/runs/{id}/finish``: the external program is done (or failed, with why)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    state: Literal["done", "failed"] = "done"
    reason: str = Field("", max_length=2000)


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
    kind: Literal["trained", "external"] = Field(
        "trained", description="trained here, or external: a model trained by its own program, which streams "
                               "its epochs in (POST /api/runs/external)")
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
    """Points in epoch order. With ``limit``: ``next`` is the ``since`` of the next page (null: this page
    reached the newest epoch)."""

    points: list[EpochPoint]
    next: int | None = None


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
    """A dataset's points. ``X`` holds the raw data (its columns are ``column_names``); the network's inputs
    are ``feature_names``, each computed from a raw row and then standardised: a⁰ = (φ(x) − mean) / scale
    (mean 0 and scale 1 when ``standardized`` is false)."""

    name: str
    task: str
    n_classes: int
    feature_names: list[str]
    class_names: list[str]
    image_shape: list[int] | None
    train: Split
    test: Split
    column_names: list[str] | None = None
    standardized: bool = False
    mean: list[float] | None = None
    scale: list[float] | None = None


class DatasetInfoOut(BaseModel):
    name: str
    task: str
    description: str
    default_samples: int
    input_dim: int
    n_classes: int
    two_d: bool
    label: str = Field(description="its name for people: a built-in set's title, an upload's given name")


class DatasetList(BaseModel):
    items: list[DatasetInfoOut]


class ActivationOut(BaseModel):
    name: str
    label: str
    formula: str = Field(description="σ as text")
    derivative: str = Field(description="σ′ as text")
    range: list[float | None] = Field(description="[low, high] of σ; null where unbounded")
    hidden: bool = Field(description="whether a hidden layer may use it (elementwise)")
    default_init: str = Field(description="what init 'auto' gives a layer of this activation")
    default_cost: str = Field(description="the cost an output of this activation gets when none is chosen")
    targets: list[float] = Field(description="[not this class, this class]: the targets of an output neuron")
    threshold: float = Field(description="a single output neuron above this says class 1: halfway between the "
                                         "targets")


class CostOut(BaseModel):
    name: str
    label: str
    formula: str
    delta: str = Field(description="δᴸ as text")
    outputs: list[str] = Field(description="the output activations it may be used with")


class TermOut(BaseModel):
    name: str
    label: str
    formula: str
    gradient: str | None = Field(None, description="what it adds to ∂C/∂W")


class FeatureOut(BaseModel):
    name: str
    label: str


class NotationOut(BaseModel):
    convention: str
    seed: str = Field(description="the seed's column convention, and how it maps to ours")
    equations: dict[str, str]


class ConfigInfoOut(BaseModel):
    defaults: dict[str, Any] = Field(description="RunConfig's defaults (POST /api/runs with {})")
    bounds: dict[str, dict[str, Any]] = Field(description="each field's JSON Schema bounds")


class StepTextOut(BaseModel):
    """One step of the walkthrough in words (``backprop_core/lessons.py``)."""

    name: Literal["forward", "cost", "output_delta", "hidden_delta", "gradient", "update"]
    label: str
    text: str = Field(description="what the step computes and why, in one or two sentences")
    equation: str = Field(description="its equation in the code's convention (one row per example)")
    seed: str = Field(description="where the seed says it, and where the seed's text slips")
    note: str = Field(description="what is particular to this network (its cost, penalty, optimiser); "
                                  "empty in the catalog")


class WalkthroughInfoOut(BaseModel):
    steps: list[StepTextOut]
    seed_equations: dict[str, str] = Field(description="the seed's displayed equations by their number")
    gradcheck: str = Field(description="why backprop and the central difference agree")
    whatif: str = Field(description="why Δ · ∂C/∂w predicts the cost's change")
    max_weights: int = Field(description="a walkthrough is refused (422) for a network of more weights")
    max_check_params: int = Field(description="parameters one gradient check takes")
    max_check_work: int = Field(description="multiply-adds one gradient check may take: 2 · parameters · "
                                            "batch rows · weights")
    epsilon: float = Field(description="the gradient check's default ε")


class CatalogOut(BaseModel):
    """``GET /api/catalog``: every name and number about the model a client needs, from the core's tables."""

    activations: list[ActivationOut]
    costs: list[CostOut]
    auto_output_activation: dict[str, str] = Field(
        description="output activation when none is chosen: regression, two_classes, more_classes")
    inits: list[TermOut]
    optimizers: list[TermOut]
    regularizations: list[TermOut]
    dtypes: list[str]
    features: list[FeatureOut] = Field(description="the inputs computed from a 2-D point (Playground's)")
    default_features: list[str]
    grid_size: int = Field(description="G: 2-D data's input-plane grid is G × G points")
    max_grid_neurons: int = Field(description="layers wider than this get no per-neuron grid")
    grad_subset: int = Field(description="snapshots' gradients average over at most this many training examples")
    grad_subset_note: str
    max_test_outputs: int
    datasets: list[DatasetInfoOut]
    notation: NotationOut
    limits: dict[str, int] = Field(description="this server's limits (BPV_MAX_… settings)")
    config: ConfigInfoOut
    walkthrough: WalkthroughInfoOut = Field(description="the words and limits of POST /api/runs/{id}/walkthrough, "
                                                        "/gradcheck and /whatif")


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
    feature_names: list[str] | None = Field(None, description="the network's inputs, in order")
    standardized: bool | None = None
    mean: list[float] | None = Field(None, description="a⁰ = (φ(x) − mean) / scale for a raw example x")
    scale: list[float] | None = None


# -- one step taken apart: POST /api/runs/{id}/walkthrough, /gradcheck, /whatif (docs/walkthrough.md) -----------
Vector = list[float | None]
Matrix = list[list[float | None]]
Index = Annotated[list[Annotated[int, Field(ge=0)]], Field(
    min_length=2, max_length=2, description="[j, k]: the weight Wˡⱼₖ from neuron j of layer l−1 to neuron k of "
                                            "layer l")]
_QUESTION = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class WalkRequest(BaseModel):
    model_config = _QUESTION
    probe_index: int | None = Field(None, ge=0, description="the training example to follow (not stored); "
                                                            "null: the run's probe")
    apply: bool = Field(False, description="true: also carry out the update — one mini-batch step, in the "
                                           "history and stream like any; false: change nothing")


class _OneParameter(BaseModel):
    model_config = _QUESTION
    layer: int = Field(ge=1, le=1000, description="l: Wˡ and bˡ join layer l−1 to layer l (1 … L)")
    index: Index | None = None
    bias: int | None = Field(None, ge=0, description="k: the bias bˡₖ of neuron k of layer l")

    def _both(self) -> None:
        if self.index is not None and self.bias is not None:
            raise ValueError("give index (one weight) or bias (one bias), not both")


class GradcheckRequest(_OneParameter):
    """Neither ``index`` nor ``bias``: every weight and bias of the layer."""

    epsilon: float = Field(1e-6, gt=0, le=0.1, description="ε of the central difference")

    @model_validator(mode="after")
    def _one(self) -> GradcheckRequest:
        self._both()
        return self


class WhatIfRequest(_OneParameter):
    """Exactly one of ``index`` and ``bias``."""

    delta: float = Field(ge=-100, le=100, description="Δ: how far to move the parameter")

    @model_validator(mode="after")
    def _one(self) -> WhatIfRequest:
        self._both()
        if self.index is None and self.bias is None:
            raise ValueError("give index (one weight) or bias (one bias)")
        return self


class WalkLayerOut(BaseModel):
    """Layer l: the probe's vectors (n_l), the gradients and parameters (Wˡ: n_{l−1} × n_l, rows j, columns k)."""

    layer: int
    activation: str
    z: Vector = Field(description="zˡ = aˡ⁻¹ Wˡ + bˡ of the probe")
    a: Vector = Field(description="aˡ = σ(zˡ) of the probe")
    sigma_prime: Vector | None = Field(description="σ′(zˡ) of the probe; null for a softmax output")
    delta: Vector = Field(description="δˡ of the probe")
    dW_probe: Matrix = Field(description="∂Cₓ/∂Wˡ = aˡ⁻¹ᵀ δˡ of the probe (no penalty term)")
    db_probe: Vector = Field(description="∂Cₓ/∂bˡ = δˡ of the probe")
    dW: Matrix = Field(description="∂C/∂Wˡ of the batch, what the update uses: the average, plus the penalty's "
                                   "term when regularised")
    db: Vector = Field(description="∂C/∂bˡ of the batch")
    dW_data: Matrix | None = Field(description="when regularised: the average (1/n) Σₓ aˡ⁻¹ᵀ δˡ alone")
    dW_penalty: Matrix | None = Field(description="when regularised: the penalty's term λ sign(Wˡ) or λ Wˡ")
    W: Matrix = Field(description="Wˡ before the update")
    b: Vector = Field(description="bˡ before the update")
    W_after: Matrix = Field(description="Wˡ after the update")
    b_after: Vector = Field(description="bˡ after the update")


class WalkProbeOut(BaseModel):
    index: int = Field(description="its training-set index")
    in_batch: bool = Field(description="whether it is one of the batch's examples")
    x: Vector = Field(description="a⁰: its inputs as the network sees them")
    y: Vector = Field(description="its target")
    cost: float | None = Field(description="Cₓ (no penalty term)")


class WalkOptimizerOut(BaseModel):
    name: str
    formula: str
    momentum: float | None = Field(description="μ, for momentum")


class WalkRegularizationOut(BaseModel):
    name: str
    rate: float = Field(description="λ")
    formula: str
    gradient: str = Field(description="the term it adds to ∂C/∂Wˡ")


class WalkCostOut(BaseModel):
    name: str
    formula: str
    delta: str = Field(description="δᴸ as text")


class WalkthroughOut(BaseModel):
    """The next mini-batch step, every number computed as the trainer computes it (float32 as trained)."""

    epoch: int = Field(description="epochs done; the batch belongs to the next one")
    batch: int = Field(description="batches done in this epoch: the batch's number, from 0")
    n_batches: int
    batch_indices: list[int] = Field(description="the batch's training-set indices, in the shuffled order")
    dtype: str
    layer_sizes: list[int]
    probe: WalkProbeOut
    learning_rate: float = Field(description="η")
    optimizer: WalkOptimizerOut
    regularization: WalkRegularizationOut | None
    cost: WalkCostOut
    batch_cost_before: float | None = Field(description="C of the batch before the update (penalty included)")
    batch_cost_after: float | None = Field(description="C of the same batch after the update")
    penalty_before: float | None = Field(description="the penalty term of C (0 without regularisation)")
    penalty_after: float | None
    layers: list[WalkLayerOut]
    applied: bool = Field(description="whether the update was carried out")
    finite: bool = Field(description="false when the update overflows (those numbers are null)")
    steps: list[StepTextOut]


class GradcheckValuesOut(BaseModel):
    backprop: Vector
    numeric: Vector
    rel_error: Vector


class GradcheckOut(BaseModel):
    """Float64 on a copy of the current weights and the walkthrough's batch. One weight or bias: numbers; a
    layer: the weights as matrices (rows j, columns k) and the biases in ``biases``."""

    layer: int
    index: list[int] | None
    bias: int | None
    target: Literal["weight", "bias", "layer"]
    backprop: float | None | Matrix = Field(description="backprop's ∂C/∂w")
    numeric: float | None | Matrix = Field(description="(C(w + ε) − C(w − ε)) / 2ε")
    rel_error: float | None | Matrix = Field(description="|backprop − numeric| / (|backprop| + |numeric|)")
    biases: GradcheckValuesOut | None = Field(description="a layer's biases; null for one parameter")
    max_rel_error: float | None
    epsilon: float
    batch: list[int] = Field(description="the batch's training-set indices")
    cost: float | None = Field(description="C of the batch (float64)")
    dtype: Literal["float64"]
    explanation: str


class WhatIfOut(BaseModel):
    """The run is not changed: a float64 copy of its weights is nudged."""

    layer: int
    index: list[int] | None
    bias: int | None
    delta: float
    value_before: float
    value_after: float | None
    gradient: float | None = Field(description="∂C/∂w before the nudge (backprop, float64)")
    cost_before: float | None
    cost_after: float | None
    change: float | None = Field(description="cost_after − cost_before")
    predicted: float | None = Field(description="Δ · ∂C/∂w, the first-order prediction")
    difference: float | None = Field(description="change − predicted: the second- and higher-order terms")
    batch: list[int]
    dtype: Literal["float64"]
    explanation: str


class Health(BaseModel):
    """``degraded``: the server answers but something is failing (``reason`` says what and what it does)."""

    status: Literal["ok", "degraded"]
    reason: str = ""
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
    403: "Refused: a Host that is not allowed; or, for a change, another site's Origin or Sec-Fetch-Site, a form "
         "or text/plain body, a browser's upload or the session cookie without X-CSRF-Token",
    405: "Not a method of this path: the Allow header lists its methods",
    404: "No such run, dataset or stored epoch",
    409: "Not allowed in the run's current state; the message names it",
    413: "The request body is over the upload limit",
    422: "Invalid input or over a limit; the message names the field",
    429: "Too many live runs (or queued steps); the message says what to do",
    503: "The server cannot take this now: its training workers or its storage are failing, or it is at its limit "
         "of connections (BPV_MAX_CONNECTIONS; Retry-After says when to try again); the message says which",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer with."""
    return {code: {"model": ErrorOut, "description": _ERROR_TEXT[code]} for code in codes}
