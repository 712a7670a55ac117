"""A run streamed as fast as it goes: the page keeps every epoch's metrics, in order, equal to the server's
history, whether it watched from the start or joined late; the curves stay thinned to a bounded number of
points and still end at the last epoch.

The run is shorter than the longest history ``hello`` sends whole (services/history.py HELLO_ALL, 2 000
epochs), so the late page holds every point however far the run went before it joined (a loaded machine
joins late); a longer history comes thinned, as docs/protocol.md says."""

from __future__ import annotations

import httpx
import numpy as np
from e2e_helpers import LONG_RUN, open_page, settle, wait_state

from app.services.history import HELLO_ALL
from app.worker import frames

EPOCHS = 1900
assert EPOCHS + 1 <= HELLO_ALL
CHART_CAP = 1000  # chart_specs.js (CAP): a trace holds about this many points (every s-th epoch plus the newest)


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


# Click a neuron of the diagram from inside the page, right after a frame (so that a limit by time alone would
# still be holding the other views back), and report whether the inspector shows it one frame later.
CLICK_THEN_ONE_FRAME = """async ([l, j]) => {
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  await frame();
  const d = window.__bpv.network();
  const n = d.neurons.find((x) => x.l === l && x.j === j);
  const c = document.querySelector("canvas.net").getBoundingClientRect();
  const at = { clientX: c.left + n.x + n.size / 2, clientY: c.top + n.y + n.size / 2, bubbles: true };
  document.querySelector("canvas.net").dispatchEvent(new MouseEvent("click", at));
  await frame();
  const root = document.getElementById("inspector");
  return { empty: root.classList.contains("empty"), text: root.querySelector(".inspector-body").textContent };
}"""

EPOCH_SHOWN = "() => Number(document.getElementById('epoch').textContent.replace(/\\D/g, ''))"


def test_views_follow_a_fast_stream_and_a_click_shows_in_the_next_frame(browser, server):
    """While a run streams as fast as it goes, the views other than the diagram update at a reading speed
    (main.js READ_MS): the epoch on screen still advances, and a click is not held back by that limit: the
    inspector shows the clicked neuron in the very next frame. Paused, every view shows the same epoch."""
    p, watch = open_page(browser, server, hash=LONG_RUN)
    try:
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 20", timeout=60_000)
        for _ in range(2):  # the epoch on screen advances while the run streams
            seen = p.evaluate(EPOCH_SHOWN)
            p.wait_for_function(f"e => ({EPOCH_SHOWN})() > e", arg=seen, timeout=30_000)
        assert p.evaluate("window.__bpv.run().state") == "running"
        for l, j in ((1, 0), (1, 1), (2, 0)):
            got = p.evaluate(CLICK_THEN_ONE_FRAME, [l, j])
            assert not got["empty"], f"neuron ({l}, {j}): the inspector was still empty a frame after the click"
            assert f"Neuron {j + 1} of hidden layer {l}" in got["text"], got["text"]
        assert p.evaluate("window.__bpv.run().state") == "running"  # all of it while streaming
        p.click("#play")
        wait_state(p, "paused")
        p.wait_for_function(f"() => ({EPOCH_SHOWN})() === window.__bpv.shown().epoch", timeout=15_000)
        assert watch.errors() == []
    finally:
        p.context.close()


def test_the_page_takes_compact_grids_and_shows_them_within_half_a_level(browser, server):
    """The page asks for its grids compact (docs/protocol.md, "frames"): the snapshot it shows is under half
    the bytes of the same epoch's stored float32 snapshot, and every value of its grids is within half a
    level ((max − min) / 510) of the stored one."""
    p, watch = open_page(browser, server, hash=LONG_RUN)
    try:
        p.click("#play")
        p.wait_for_function("() => window.__bpv.run().epoch >= 20", timeout=60_000)
        p.click("#play")
        epoch = settle(p)["epoch"]
        run_id = p.evaluate("window.__bpv.run().id")
        with httpx.Client(base_url=server.url, timeout=30) as http:
            stored = http.get(f"/api/runs/{run_id}/snapshots/{epoch}", params={"format": "binary"})
        assert stored.status_code == 200, stored.text
        _, tensors = frames.decode(stored.content)
        assert p.evaluate("window.__bpv.counters().snapshotBytes") < len(stored.content) / 2
        grids = [name for name in tensors if name.startswith("grid")]
        assert grids
        for name in grids:
            want = tensors[name].ravel()
            got = np.array(p.evaluate("([n, k]) => Array.from({ length: k }, (_, i) => window.__bpv.value(n, i))",
                                      [name, want.size]), dtype=np.float64)
            assert np.abs(got - want).max() <= (want.max() - want.min()) / 510 * 1.01 + 1e-6, name
        assert watch.errors() == []
    finally:
        p.context.close()
