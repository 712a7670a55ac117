"""``/api/runs``: create, list, steer and read runs. Handlers validate, call a service, return a schema."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Response
from fastapi.responses import PlainTextResponse

from ..schemas import (
    DataOut,
    EpochIn,
    ErrorOut,
    ExportOut,
    ExternalFinish,
    ExternalRunCreate,
    History,
    RunCreate,
    RunList,
    RunOut,
    RunPatch,
    SnapshotOut,
    StepRequest,
    StoredEpochs,
    errors,
)
from ..services.reader import data_out, history_csv, inputs_out, nearest, points_text, snapshot_json
from ..worker import frames
from .deps import Read, ReaderDep, RunsDep, Write

router = APIRouter(prefix="/api/runs", tags=["runs"])
RUN_ID = r"^[a-f0-9]{12}$"
RunId = Annotated[str, Query(pattern=RUN_ID)]


@router.post("", status_code=201, response_model=RunOut, dependencies=Write,
             responses=errors(400, 401, 413, 422, 429, 503),
             summary="Create a run (and start it unless start is false)")
async def create_run(runs: RunsDep, reader: ReaderDep,
                     body: Annotated[RunCreate, Body(default_factory=RunCreate)]) -> dict[str, Any]:
    run = await runs.create(body)
    return await reader.out(run.id)


@router.post("/external", status_code=201, response_model=RunOut, dependencies=Write,
             responses=errors(400, 401, 413, 422, 429),
             summary="Create a run of your own model, trained by your program (it streams its epochs in)")
async def create_external_run(runs: RunsDep, reader: ReaderDep, body: ExternalRunCreate) -> dict[str, Any]:
    run = await runs.create_external(body)
    return await reader.out(run.id)


@router.post("/{run_id}/epochs", response_model=RunOut, dependencies=Write,
             responses=errors(400, 401, 404, 409, 413, 422),
             summary="One epoch of an external run: metrics, weights, gradients and (optionally) a probe's pass")
async def ingest_epoch(run_id: str, runs: RunsDep, reader: ReaderDep, body: EpochIn) -> dict[str, Any]:
    await runs.ingest(run_id, body)
    return await reader.out(run_id)


@router.post("/{run_id}/finish", response_model=RunOut, dependencies=Write,
             responses=errors(400, 401, 404, 409, 422),
             summary="An external run's program is done (or failed)")
async def finish_external(run_id: str, runs: RunsDep, reader: ReaderDep,
                          body: Annotated[ExternalFinish, Body(default_factory=ExternalFinish)]) -> dict[str, Any]:
    await runs.finish(run_id, body.state, body.reason)
    return await reader.out(run_id)


@router.get("", response_model=RunList, dependencies=Read, responses=errors(401, 422), summary="Runs, newest first")
async def list_runs(reader: ReaderDep, limit: Annotated[int, Query(ge=1, le=200)] = 20,
                    offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> dict[str, Any]:
    items, total = await reader.page(limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{run_id}", response_model=RunOut, dependencies=Read, responses=errors(401, 404))
async def get_run(run_id: str, reader: ReaderDep) -> dict[str, Any]:
    return await reader.out(run_id)


@router.delete("/{run_id}", status_code=204, dependencies=Write, responses=errors(401, 404))
async def delete_run(run_id: str, runs: RunsDep) -> Response:
    await runs.delete(run_id)
    return Response(status_code=204)


def _action(name: str, doc: str) -> None:
    async def handler(run_id: str, runs: RunsDep, reader: ReaderDep) -> dict[str, Any]:
        await runs.action(run_id, name)
        return await reader.out(run_id)

    handler.__name__ = f"{name}_run"
    router.post(f"/{{run_id}}/{name}", response_model=RunOut, dependencies=Write, summary=doc,
                responses=errors(401, 404, 409))(handler)


_action("pause", "Pause a running or queued run")
_action("resume", "Resume a paused run (it queues when every slot is busy)")
_action("stop", "Stop a run for good")


@router.post("/{run_id}/step", response_model=RunOut, dependencies=Write,
             responses=errors(400, 401, 404, 409, 413, 422, 429),
             summary="Train one epoch or one mini-batch of a paused run")
async def step_run(run_id: str, runs: RunsDep, reader: ReaderDep,
                   body: Annotated[StepRequest, Body(default_factory=StepRequest)]) -> dict[str, Any]:
    await runs.action(run_id, "step", body.unit)
    return await reader.out(run_id)


@router.patch("/{run_id}", response_model=RunOut, dependencies=Write,
              responses=errors(400, 401, 404, 409, 413, 422),
              summary="Change the learning rate, speed or probe while it runs; edit a weight while paused")
async def patch_run(run_id: str, body: RunPatch, runs: RunsDep, reader: ReaderDep) -> dict[str, Any]:
    await runs.patch(run_id, body)
    return await reader.out(run_id)


@router.get("/{run_id}/history", response_model=History, dependencies=Read,
            responses={200: {"content": {"text/csv": {}}}, **errors(401, 404, 422)})
async def get_history(run_id: str, reader: ReaderDep,
                      format: Annotated[str, Query(pattern="^(json|csv)$")] = "json") -> Any:
    points = await reader.points(run_id)
    if format == "csv":
        n_layers = len((await reader.meta(run_id))["layer_sizes"]) - 1
        text = await asyncio.to_thread(history_csv, [json.loads(p) for p in points], n_layers)
        return PlainTextResponse(text, media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="run-{run_id}.csv"'})
    return Response(points_text(points), media_type="application/json")


@router.get("/{run_id}/snapshots", response_model=StoredEpochs, dependencies=Read, responses=errors(401, 404))
async def list_snapshots(run_id: str, reader: ReaderDep) -> dict[str, Any]:
    epochs, latest = await reader.stored_epochs(run_id)
    return {"epochs": epochs, "latest": latest}


@router.get("/{run_id}/snapshots/{epoch}", response_model=SnapshotOut, dependencies=Read,
            responses={200: {"content": {"application/octet-stream": {}}}, **errors(401, 422),
                       404: {"model": ErrorOut, "description": "Not stored: detail.nearest lists the nearest "
                                                               "stored epochs"}})
async def get_snapshot(run_id: str, epoch: Annotated[int, Path(ge=0, le=2**62)], reader: ReaderDep,
                       format: Annotated[str, Query(pattern="^(json|binary)$")] = "json") -> Any:
    frame = await reader.frame(run_id, epoch)
    if frame is None:
        epochs, _ = await reader.stored_epochs(run_id)
        raise HTTPException(404, {"message": f"epoch {epoch} of run {run_id} is not stored",
                                  "nearest": nearest(epochs, epoch)})
    if format == "binary":
        return Response(frame, media_type="application/octet-stream")
    return await asyncio.to_thread(snapshot_json, frame)


@router.get("/{run_id}/export", response_model=ExportOut, dependencies=Read, responses=errors(401, 404, 409),
            summary="Config and the newest weights as JSON")
async def export_run(run_id: str, reader: ReaderDep) -> Any:
    out = await reader.out(run_id)
    frame = await reader.latest_frame(run_id)
    if frame is None:
        raise HTTPException(409, "this run has no weights yet")
    header, tensors = frames.decode(frame)
    n = len(out["layer_sizes"]) - 1
    body = {"id": out["id"], "name": out["name"], "config": out["config"], "layer_sizes": out["layer_sizes"],
            "activations": out["activations"], "epoch": header["epoch"], "state": out["state"],
            "weights": [tensors[f"W{l}"].tolist() for l in range(1, n + 1)],
            "biases": [tensors[f"b{l}"].tolist() for l in range(1, n + 1)],
            **inputs_out(await reader.dataset(run_id))}
    return body


@router.get("/{run_id}/data", response_model=DataOut, dependencies=Read, responses=errors(401, 404, 422),
            summary="The run's own training and test data (train order = probe index)")
async def get_data(run_id: str, reader: ReaderDep) -> Any:
    if (await reader.meta(run_id)).get("kind") == "external":
        raise HTTPException(404, f"run {run_id} is external: its data stays with the program that trains it")
    ds = await reader.dataset(run_id)
    return await asyncio.to_thread(data_out, ds)
