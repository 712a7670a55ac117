"""``/api/datasets``: the built-in sets, previews, CSV uploads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from ..schemas import DataOut, DatasetInfoOut, DatasetList, RunConfig, errors
from ..services.data import DataError
from ..services.reader import data_out
from .deps import DataDep, Read, SettingsDep, Write

router = APIRouter(prefix="/api/datasets", tags=["datasets"])
PREVIEW_ROWS = 5000  # rows in a preview, at most …
PREVIEW_VALUES = 200_000  # … and values (rows × columns): ~4 MB of JSON


@router.get("", response_model=DatasetList, dependencies=Read, responses=errors(401))
def list_datasets(data: DataDep) -> dict[str, Any]:
    return {"items": data.infos()}


@router.get("/{name}", response_model=DataOut, dependencies=Read, responses=errors(401, 404, 422),
            summary="Points of a dataset, for a preview: at most n_samples rows (default and at most "
                    f"{PREVIEW_ROWS}) and at most {PREVIEW_VALUES:,} values")
def preview(name: str, data: DataDep,
            noise: Annotated[float, Query(ge=0, le=0.5, allow_inf_nan=False)] = 0.0,
            train_fraction: Annotated[float, Query(ge=0.1, le=0.9, allow_inf_nan=False)] = 0.5,
            n_samples: Annotated[int | None, Query(ge=10, le=PREVIEW_ROWS)] = None,
            seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 0) -> dict[str, Any]:
    try:
        cfg = RunConfig(dataset=name, noise=noise, train_fraction=train_fraction, n_samples=n_samples, seed=seed)
    except ValueError as e:
        raise HTTPException(404, f"no dataset {name!r}") from e
    try:
        ds = data.load(cfg)
    except DataError as e:  # an unknown name is a missing resource here, not a bad run config
        if e.field == "dataset":
            raise HTTPException(404, str(e)) from e
        raise
    # an uploaded CSV is as it was uploaded (up to BPV_MAX_UPLOAD_ROWS): its preview shows its first rows
    columns = max(1, ds.raw.input_dim)
    return data_out(ds, min(n_samples or PREVIEW_ROWS, PREVIEW_VALUES // columns))


@router.post("", status_code=201, response_model=DatasetInfoOut, dependencies=Write,
             responses=errors(400, 401, 413, 422),
             summary="Upload a CSV (header row, numeric features, one label column)")
async def upload(file: UploadFile, data: DataDep, settings: SettingsDep,
                 label_column: Annotated[str, Form(min_length=1, max_length=200)] = "label",
                 name: Annotated[str, Form(max_length=200)] = "") -> dict[str, Any]:
    content = await file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        raise HTTPException(413, f"file: the upload is larger than the limit of {settings.max_upload_bytes} bytes")
    return await run_in_threadpool(data.upload, content, label_column, name or (file.filename or "")[:200])
