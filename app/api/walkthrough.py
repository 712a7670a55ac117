"""``/api/runs/{id}/walkthrough``, ``/gradcheck``, ``/whatif``: questions a paused run answers about its
current weights and the mini-batch it trains next (docs/walkthrough.md). The run's worker computes the answer
with the core's own functions and sends it as JSON text, which goes to the client as it is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from backprop_core.walkthrough import MAX_CHECK_PARAMS, MAX_CHECK_WORK, MAX_WEIGHTS

from ..schemas import (
    GradcheckOut,
    GradcheckRequest,
    WalkRequest,
    WalkthroughOut,
    WhatIfOut,
    WhatIfRequest,
    errors,
)
from .deps import RunsDep, Write

router = APIRouter(prefix="/api/runs", tags=["walkthrough"])
PAUSED = "Only on a paused run (409 otherwise, naming its state)."


@router.post("/{run_id}/walkthrough", response_model=WalkthroughOut, dependencies=Write,
             responses=errors(400, 401, 404, 409, 413, 422),
             summary="The next mini-batch step taken apart: every number, for the batch and a probe example",
             description=f"""For the mini-batch the run trains next (its epoch's shuffled order; at an epoch's
start the order the step will draw) and the probe example: per layer zˡ, aˡ, σ′(zˡ), δˡ of the probe, its
∂Cₓ/∂Wˡ and ∂Cₓ/∂bˡ, the batch's ∂C/∂Wˡ and ∂C/∂bˡ (with the penalty's term when regularised), the weights
before and after the update (the run's optimiser: gradient descent or momentum) and the batch cost before
and after it — computed as the trainer computes them, in the run's dtype. The run does not move unless
`apply` is true: then it trains exactly that batch, and its history and stream show the step like any
other. {PAUSED} A network of more than {MAX_WEIGHTS:,} weights is refused with a 422 (the answer
sends each weight up to six times, about 1.5 MB of JSON at the limit).""")
async def walk(run_id: str, runs: RunsDep,
               body: Annotated[WalkRequest, Body(default_factory=WalkRequest)]) -> Response:
    answer = await runs.ask(run_id, "walk", body.model_dump())
    return Response(answer, media_type="application/json")


@router.post("/{run_id}/gradcheck", response_model=GradcheckOut, dependencies=Write,
             responses=errors(400, 401, 404, 409, 413, 422),
             summary="Backprop's ∂C/∂w against the central difference (C(w + ε) − C(w − ε)) / 2ε",
             description=f"""One weight (`index` [j, k] of Wˡ), one bias (`bias` k of bˡ) or, with neither,
every weight and bias of layer l: backprop's gradient and the central difference, both in float64 on a copy
of the current weights and the batch the run trains next (the walkthrough's), their relative error and ε.
{PAUSED} At most {MAX_CHECK_PARAMS:,} parameters and {MAX_CHECK_WORK:,} multiply-adds (2 ·
parameters · batch rows · weights) per check: more is refused with a 422 naming the limit.""")
async def gradcheck(run_id: str, body: GradcheckRequest, runs: RunsDep) -> Response:
    answer = await runs.ask(run_id, "gradcheck", body.model_dump())
    return Response(answer, media_type="application/json")


@router.post("/{run_id}/whatif", response_model=WhatIfOut, dependencies=Write,
             responses=errors(400, 401, 404, 409, 413, 422),
             summary="Nudge one weight or bias by Δ: the batch cost's change next to Δ · ∂C/∂w",
             description=f"""Moves one parameter of a float64 copy of the current weights by `delta` and
answers the cost's change on the batch the run trains next, next to the first-order prediction Δ · ∂C/∂w.
The run itself is not changed, so there is nothing to undo (to edit a weight for real: PATCH). {PAUSED}""")
async def whatif(run_id: str, body: WhatIfRequest, runs: RunsDep) -> Response:
    answer = await runs.ask(run_id, "whatif", body.model_dump())
    return Response(answer, media_type="application/json")
