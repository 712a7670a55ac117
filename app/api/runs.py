"""``/api/runs``: create, list, steer and read runs. Handlers validate, call a service, return a schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from backprop_core.datasets import Dataset

from ..schemas import (
    DataOut,
    ErrorOut,
    ExportOut,
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
from ..services import frames
from ..services.data import DataService
from ..services.present import Reader, data_out, history_csv, inputs_out, nearest, snapshot_json
from .deps import DataDep, Read, RunsDep, StorageDep, Write

router = APIRouter(prefix="/api/runs", tags=["runs"])
RUN_ID = r"^[a-f0-9]{12}$"
RunId = Annotated[str, Query(pattern=RUN_ID)]


def reader(runs: RunsDep, storage: StorageDep) -> Reader:
    return Reader(runs, storage)


@router.post("", status_code=201, response_model=RunOut, dependencies=Write,
             responses=errors(400, 401, 413, 422, 429), summary="Create a run (and start it unless start is false)")
async def create_run(runs: RunsDep, storage: StorageDep,
                     body: Annotated[RunCreate, Body(default_factory=RunCreate)]) -> dict[str, Any]:
    run = await run_in_threadpool(runs.create, body)
    return reader(runs, storage).out(run.id)


@router.get("", response_model=RunList, dependencies=Read, responses=errors(401, 422), summary="Runs, newest first")
def list_runs(runs: RunsDep, storage: StorageDep, limit: Annotated[int, Query(ge=1, le=200)] = 20,
              offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> dict[str, Any]:
    items, total = reader(runs, storage).page(limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{run_id}", response_model=RunOut, dependencies=Read, responses=errors(401, 404))
def get_run(run_id: str, runs: RunsDep, storage: StorageDep) -> dict[str, Any]:
    return reader(runs, storage).out(run_id)


@router.delete("/{run_id}", status_code=204, dependencies=Write, responses=errors(401, 404))
def delete_run(run_id: str, runs: RunsDep) -> Response:
    runs.delete(run_id)
    return Response(status_code=204)


def _action(name: str, doc: str) -> None:
    def handler(run_id: str, runs: RunsDep, storage: StorageDep) -> dict[str, Any]:
        runs.action(run_id, name)
        return reader(runs, storage).out(run_id)

    handler.__name__ = f"{name}_run"
    router.post(f"/{{run_id}}/{name}", response_model=RunOut, dependencies=Write, summary=doc,
                responses=errors(401, 404, 409))(handler)


_action("pause", "Pause a running or queued run")
_action("resume", "Resume a paused run (it queues when every slot is busy)")
_action("stop", "Stop a run for good")


@router.post("/{run_id}/step", response_model=RunOut, dependencies=Write,
             responses=errors(400, 401, 404, 409, 413, 422, 429),
             summary="Train one epoch or one mini-batch of a paused run")
def step_run(run_id: str, runs: RunsDep, storage: StorageDep,
             body: Annotated[StepRequest, Body(default_factory=StepRequest)]) -> dict[str, Any]:
    runs.action(run_id, "step", body.unit)
    return reader(runs, storage).out(run_id)


@router.patch("/{run_id}", response_model=RunOut, dependencies=Write,
              responses=errors(400, 401, 404, 409, 413, 422),
              summary="Change the learning rate, speed or probe while it runs; edit a weight while paused")
def patch_run(run_id: str, body: RunPatch, runs: RunsDep, storage: StorageDep) -> dict[str, Any]:
    runs.patch(run_id, body.learning_rate, body.speed, "speed" in body.model_fields_set, body.probe_index,
               body.parameter, body.name)
    return reader(runs, storage).out(run_id)


@router.get("/{run_id}/history", response_model=History, dependencies=Read,
            responses={200: {"content": {"text/csv": {}}}, **errors(401, 404, 422)})
def get_history(run_id: str, runs: RunsDep, storage: StorageDep,
                format: Annotated[str, Query(pattern="^(json|csv)$")] = "json") -> Any:
    r = reader(runs, storage)
    points = r.history(run_id)
    if format == "csv":
        n_layers = len(r.meta(run_id)["layer_sizes"]) - 1
        return PlainTextResponse(history_csv(points, n_layers), media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="run-{run_id}.csv"'})
    return {"points": points}


@router.get("/{run_id}/snapshots", response_model=StoredEpochs, dependencies=Read, responses=errors(401, 404))
def list_snapshots(run_id: str, runs: RunsDep, storage: StorageDep) -> dict[str, Any]:
    epochs, latest = reader(runs, storage).stored_epochs(run_id)
    return {"epochs": epochs, "latest": latest}


@router.get("/{run_id}/snapshots/{epoch}", response_model=SnapshotOut, dependencies=Read,
            responses={200: {"content": {"application/octet-stream": {}}}, **errors(401, 422),
                       404: {"model": ErrorOut, "description": "Not stored: detail.nearest lists the nearest "
                                                               "stored epochs"}})
def get_snapshot(run_id: str, epoch: Annotated[int, Path(ge=0, le=2**62)], runs: RunsDep, storage: StorageDep,
                 format: Annotated[str, Query(pattern="^(json|binary)$")] = "json") -> Any:
    r = reader(runs, storage)
    frame = r.frame(run_id, epoch)
    if frame is None:
        epochs, _ = r.stored_epochs(run_id)
        raise HTTPException(404, {"message": f"epoch {epoch} of run {run_id} is not stored",
                                  "nearest": nearest(epochs, epoch)})
    if format == "binary":
        return Response(frame, media_type="application/octet-stream")
    return snapshot_json(frame)


@router.get("/{run_id}/export", response_model=ExportOut, dependencies=Read, responses=errors(401, 404, 409),
            summary="Config and the newest weights as JSON")
def export_run(run_id: str, runs: RunsDep, storage: StorageDep, data: DataDep) -> Any:
    r = reader(runs, storage)
    out = r.out(run_id)
    frame = r.latest_frame(run_id)
    if frame is None:
        raise HTTPException(409, "this run has no weights yet")
    header, tensors = frames.decode(frame)
    n = len(out["layer_sizes"]) - 1
    body = {"id": out["id"], "name": out["name"], "config": out["config"], "layer_sizes": out["layer_sizes"],
            "activations": out["activations"], "epoch": header["epoch"], "state": out["state"],
            "weights": [tensors[f"W{l}"].tolist() for l in range(1, n + 1)],
            "biases": [tensors[f"b{l}"].tolist() for l in range(1, n + 1)], **inputs_out(_dataset(run_id, r, data))}
    return body


@router.get("/{run_id}/data", response_model=DataOut, dependencies=Read, responses=errors(401, 404, 422),
            summary="The run's own training and test data (train order = probe index)")
def get_data(run_id: str, request: Request, runs: RunsDep, storage: StorageDep, data: DataDep) -> Any:
    return data_out(_dataset(run_id, reader(runs, storage), data))


def _dataset(run_id: str, r: Reader, data: DataService) -> Dataset:
    """The run's dataset: the live run's own, or rebuilt from the stored config (deterministic)."""
    run = r.runs.runs.get(run_id)
    return run.dataset if run is not None else data.load(r.config(run_id))
