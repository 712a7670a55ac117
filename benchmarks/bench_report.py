"""Size and build time of a run's report (``GET /api/runs/{id}/report.html``) for a 10 000-epoch run (issue 13).

A real uvicorn (tests/support.py ``Server``) trains circle on a 2-4-2-1 net for 10 000 epochs; then the
report is fetched ``--reps`` times, interleaved with the run's history as JSON (``GET …/history``, which the
report reads and thins to ≤ 2 000 points per curve) as the baseline measured in the same run. Printed: medians,
their ratio, the report's size, and how much of it is Plotly.js (a fixed ~4.8 MB, embedded so that the file
opens anywhere with nothing fetched).

    python benchmarks/bench_report.py              # ~1 minute on an idle 2-core machine
    python benchmarks/bench_report.py --epochs 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.paths import PLOTLY_JS  # noqa: E402
from backprop_viz import Client  # noqa: E402
from tests.support import Server  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        server = Server(Path(d) / "data", Path(d) / "uvicorn.log").start()
        try:
            with Client(server.url) as c:
                started = time.perf_counter()
                run = c.start(dataset="circle", hidden_layers=[4, 2], epochs=args.epochs)
                for _ in run.watch():
                    pass
                print(f"trained {run.epoch} epochs ({run.state}) in {time.perf_counter() - started:.1f} s")
            report_s, history_s = [], []
            size = 0
            with httpx.Client(base_url=server.url, timeout=300) as http:
                for _ in range(args.reps):
                    t = time.perf_counter()
                    body = http.get(f"/api/runs/{run.id}/report.html").content
                    report_s.append(time.perf_counter() - t)
                    size = len(body)
                    t = time.perf_counter()
                    http.get(f"/api/runs/{run.id}/history").raise_for_status()
                    history_s.append(time.perf_counter() - t)
        finally:
            server.stop()
    plotly = PLOTLY_JS.stat().st_size
    report, history = statistics.median(report_s), statistics.median(history_s)
    print(f"report of a {args.epochs}-epoch run: {size / 1e6:.2f} MB ({plotly / 1e6:.2f} MB of it Plotly.js, "
          f"{(size - plotly) / 1e3:.0f} kB figures and text)")
    print(f"build + fetch: median {report * 1000:.0f} ms over {args.reps}; history JSON {history * 1000:.0f} ms; "
          f"ratio report/history {report / history:.1f}")


if __name__ == "__main__":
    main()
