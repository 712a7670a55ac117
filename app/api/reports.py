"""``GET /api/runs/{id}/report.html``: a run's report, one self-contained HTML file (app/services/report.py)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ..schemas import errors
from ..services.report import MAX_POINTS, build_report
from .deps import Read, ReaderDep

router = APIRouter(prefix="/api/runs", tags=["runs"])


# no response_class: errors are documented (and sent) as JSON, the 200 as text/html
@router.get("/{run_id}/report.html", dependencies=Read, response_model=None,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}, **errors(401, 404, 422)},
            summary="The run's report: Plotly figures, config and equations in one self-contained HTML file")
async def get_report(run_id: str, reader: ReaderDep, download: bool = False) -> HTMLResponse:
    out, meta, points = await reader.out(run_id), await reader.meta(run_id), await reader.thinned(run_id, MAX_POINTS)
    frame, dataset = await reader.latest_frame(run_id), await reader.dataset(run_id)
    report = await asyncio.to_thread(build_report, out, meta, points, frame, dataset)
    headers = {"Content-Security-Policy": report.csp}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="report-{run_id[:12]}.html"'
    return HTMLResponse(report.html, headers=headers)
