"""A run streamed as fast as it goes: the page keeps every epoch's metrics, in order, equal to the server's
history, whether it watched from the start or joined late; the curves stay thinned to a bounded number of
points and still end at the last epoch.

The run is shorter than the longest history ``hello`` sends whole (services/history.py HELLO_ALL, 2 000
epochs), so the late page holds every point however far the run went before it joined (a loaded machine
joins late); a longer history comes thinned, as docs/protocol.md says."""

from __future__ import annotations

from e2e_helpers import open_page, wait_state

from app.services.history import HELLO_ALL

EPOCHS = 1900
assert EPOCHS + 1 <= HELLO_ALL
CHART_CAP = 1000  # charts.js: a trace holds about this many points (every s-th epoch plus the newest)


def page_history(p) -> dict[str, list]:
    return {name: p.evaluate("n => window.__bpv.historyColumn(n)", name)
            for name in ("epoch", "train_cost", "test_cost", "accuracy")}


def test_fast_stream_keeps_every_metrics_point(browser, server):
    p, watch = open_page(browser, server, hash=f"#epochs={EPOCHS}&speed=auto")
    late = None
    try:
        assert p.locator("[data-key=speed]").input_value() == ""  # "as fast as it goes"
        run_id = p.evaluate("window.__bpv.run().id")
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 300", timeout=60_000)
        # a second page joins while the run trains: the hello's history, then the stream
        late, late_watch = open_page(browser, server, hash=f"#run={run_id}")
        for page in (p, late):
            wait_state(page, "done", timeout=120_000)
            page.wait_for_function("n => window.__bpv.historyEpochs().last === n", arg=EPOCHS, timeout=30_000)
        points = server.get(f"/api/runs/{run_id}/history")["points"]
        assert points[-1]["epoch"] == EPOCHS
        expected = {name: [q[name] for q in points] for name in ("epoch", "train_cost", "test_cost", "accuracy")}
        for page in (p, late):
            held = page.evaluate("window.__bpv.historyEpochs()")
            assert held == {"length": len(points), "first": points[0]["epoch"], "last": EPOCHS, "consecutive": True}
            assert page_history(page) == expected
        # the curves: thinned to a bounded number of points, in order, ending at the last epoch
        p.wait_for_function("n => { const d = document.querySelector('.cost-chart').data;"
                            " return d && d[0].x[d[0].x.length - 1] === n; }", arg=EPOCHS, timeout=30_000)
        xs = p.evaluate("document.querySelector('.cost-chart').data[0].x")
        assert xs[0] == 0 and all(a < b for a, b in zip(xs, xs[1:], strict=False))
        assert len(xs) <= CHART_CAP * 5 // 4 < len(points)
        assert watch.errors() == [] and late_watch.errors() == []
    finally:
        if late is not None:
            late.context.close()
        p.context.close()
