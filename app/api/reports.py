"""``GET /api/runs/{id}/report.html``: a run's report, one self-contained HTML file (app/services/report.py)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from ..schemas import errors
from ..services.present import Reader
from ..services.report import build_report
from .deps import DataDep, Read, RunsDep, StorageDep

router = APIRouter(prefix="/api/runs", tags=["runs"])


# no response_class: errors are documented (and sent) as JSON, the 200 as text/html
@router.get("/{run_id}/report.html", dependencies=Read, response_model=None,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}, **errors(401, 404, 422)},
            summary="The run's report: Plotly figures, config and equations in one self-contained HTML file")
async def get_report(run_id: str, runs: RunsDep, storage: StorageDep, data: DataDep,
                     download: bool = False) -> HTMLResponse:
    report = await run_in_threadpool(build_report, Reader(runs, storage), data, run_id)
    headers = {"Content-Security-Policy": report.csp}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="report-{run_id[:12]}.html"'
    return HTMLResponse(report.html, headers=headers)
