"""Storage that fails shows on the page: a real, small tmpfs as the data directory, filled while a run trains —
the page, asking /healthz every few seconds, says the storage is degraded and why, and stops saying so once
the disk has room again."""

from __future__ import annotations

from e2e_helpers import LONG_RUN, open_page, shot, start_server, stop_server

from tests.reliability.test_reliability_disk import fill
from tests.support import tmpfs


def test_a_full_disk_shows_as_a_lasting_message(browser, tmp_path):
    with tmpfs(tmp_path / "disk", "size=16m") as disk:
        srv = start_server(disk / "data")
        srv.expect_errors = True  # the failing writes are logged
        try:
            p, watch = open_page(browser, srv, hash=LONG_RUN + "&speed=100")
            try:
                p.click("#play")
                p.wait_for_function("() => window.__bpv.run().epoch >= 5", timeout=30_000)
                assert p.locator(".message.health").count() == 0
                filler = fill(disk)
                banner = p.locator(".message.health")
                banner.wait_for(timeout=60_000)
                text = banner.inner_text()
                assert "degraded" in text and "storage is failing" in text, text
                assert p.evaluate("window.__bpv.run().state") == "running"  # it trains on, in memory
                shot(p, "34-storage-degraded.png")
                filler.unlink()
                p.wait_for_function("() => !document.querySelector('.message.health')", timeout=60_000)
                assert watch.errors(ignore=("Failed to load resource",)) == []
            finally:
                p.context.close()
        finally:
            stop_server(srv)
