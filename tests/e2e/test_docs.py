"""The API explorer at /docs in real Chromium: Swagger UI (served by us) renders FastAPI's OpenAPI 3.1 and its
"Try it out" creates a run; nothing is fetched from elsewhere, nothing logs an error, the CSP stays on."""

from __future__ import annotations

import json
from typing import Any

from e2e_helpers import Server, record, shot


def test_docs_render_every_operation_and_try_it_out_creates_a_run(browser: Any, server: Server) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    watch = record(page)
    response = page.goto(server.url + "/docs")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator("text=Unable to render this definition").count() == 0
    spec = server.get("/openapi.json")
    assert spec["openapi"].startswith("3.1")
    operations = sum(len(item) for item in spec["paths"].values())
    assert page.locator(".opblock").count() == operations  # every operation of the schema is shown

    block = page.locator("#operations-runs-create_run_api_runs_post")
    block.locator(".opblock-summary").click()
    block.locator(".try-out__btn").click()
    body = block.locator("textarea.body-param__text")
    body.wait_for()
    sent = json.loads(body.input_value())  # the schema's example
    assert sent["dataset"] == "spiral" and sent["hidden_layers"] == [8, 8]
    body.fill(json.dumps({**sent, "epochs": 5, "name": "from the explorer"}))
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=30_000)
    assert status.inner_text().strip() == "201"
    created = json.loads(block.locator(".live-responses-table tbody .microlight").first.inner_text())
    assert created["name"] == "from the explorer" and created["config"]["epochs"] == 5
    assert server.get(f"/api/runs/{created['id']}")["name"] == "from the explorer"
    shot(page, "10-api-explorer.png")

    assert watch.foreign_requests == [], watch.foreign_requests
    assert watch.errors() == [], watch.errors()
    ctx.close()
