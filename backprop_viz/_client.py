"""The blocking client: ``Client`` (the server) and ``Run`` (one run on it), on httpx and websockets.sync."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal, cast, overload

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

from ._base import HISTORY_PAGE, Follower, RunBase, base_url, config_body, headers, ws_url
from ._errors import APIError, BackpropVizError, ConnectError, StreamError, error_for
from ._frames import Snapshot, decode
from ._track import Tracker
from ._types import DatasetInfo, EpochPoint, RunInfo

MAX_FRAME = 1 << 28  # the largest stream message accepted (a 2 M-parameter net's snapshot is ~20 MB)


class Client:
    """A backprop-viz server::

        c = Client("http://127.0.0.1:8000", token=None)
        run = c.start(dataset="spiral", hidden_layers=[8, 8])

    ``token`` is the server's API token (``BPV_API_TOKEN``), sent as ``Authorization: Bearer``. Every error is
    a ``BackpropVizError``: ``ConnectError`` when the server cannot be reached, an ``APIError`` subclass with
    the server's status and message when it refuses. Use it as a context manager, or ``close()`` it.
    """

    def __init__(self, server: str = "http://127.0.0.1:8000", *, token: str | None = None,
                 timeout: float = 30.0) -> None:
        self.server = base_url(server)
        self.token = token
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.server, headers=headers(token), timeout=timeout)

    # -- plumbing -------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP request; raises ``ConnectError`` or the ``APIError`` for an error status."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise ConnectError(f"cannot reach {self.server}: {e or type(e).__name__}") from e
        if response.is_error:
            raise error_for(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.server!r})"

    # -- the server -----------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``GET /healthz``: status, live runs, the server's version."""
        return cast(dict[str, Any], self._json("GET", "/healthz"))

    def datasets(self) -> list[DatasetInfo]:
        """The built-in datasets and uploads."""
        return cast(list[DatasetInfo], self._json("GET", "/api/datasets")["items"])

    def runs(self, limit: int = 20, offset: int = 0) -> list[Run]:
        """Runs, newest first (``limit`` ≤ 200 per call)."""
        page = self._json("GET", "/api/runs", params={"limit": limit, "offset": offset})
        return [Run(self, info) for info in page["items"]]

    def run(self, run_id: str) -> Run:
        """The run with this id (``NotFoundError`` if there is none)."""
        return Run(self, self._json("GET", f"/api/runs/{run_id}"))

    def start(self, *, name: str = "", start: bool = True, **config: Any) -> Run:
        """Create a run and start it (``start=False``: created paused). ``config`` takes the fields of
        ``POST /api/runs`` (dataset, hidden_layers, activation, learning_rate, batch_size, epochs, seed …);
        every field has a default, and the server names the field at fault when one is refused."""
        return Run(self, self._json("POST", "/api/runs", json=config_body(name, start, config)))

    def track(self, model: Any = None, *, name: str = "", layers: Sequence[int] | None = None,
              activations: Sequence[str] | None = None, task: str = "classification", n_classes: int = 2,
              epochs: int | None = None, probe: tuple[Any, Any, Any] | None = None) -> Tracker:
        """Your own model on the page: a run of kind ``external`` that your training loop feeds, one
        ``log_epoch`` per epoch — ``with c.track(model, name="my mlp") as t: … t.log_epoch(epoch,
        train_cost=…)``. ``model``: a PyTorch nn.Sequential of Linear layers and elementwise activations (its
        weights and gradients are read at each epoch; ``probe=(x, y, loss_fn)`` adds that example's zˡ, aˡ, δˡ),
        or None with ``layers`` and ``activations`` to pass arrays to ``log_epoch`` (see ``Tracker``)."""
        return Tracker(self, model, name=name, layers=layers, activations=activations, task=task,
                       n_classes=n_classes, epochs=epochs, probe=probe)

    def _make_run(self, info: RunInfo) -> Run:
        return Run(self, info)


class Run(RunBase):
    """One run: steer it, read its history and snapshots, follow its stream. ``info`` is the newest state
    seen; ``refresh()`` asks again."""

    def __init__(self, client: Client, info: RunInfo) -> None:
        super().__init__(client.server, info)
        self.client = client

    def _set(self, info: RunInfo) -> Run:
        self.info = info
        return self

    def refresh(self) -> Run:
        return self._set(self.client._json("GET", f"/api/runs/{self.id}"))

    def pause(self) -> Run:
        return self._set(self.client._json("POST", f"/api/runs/{self.id}/pause"))

    def resume(self) -> Run:
        return self._set(self.client._json("POST", f"/api/runs/{self.id}/resume"))

    def stop(self) -> Run:
        return self._set(self.client._json("POST", f"/api/runs/{self.id}/stop"))

    def step(self, unit: Literal["epoch", "batch"] = "epoch") -> Run:
        """Train one epoch (or one mini-batch) of a paused run; it happens just after the call returns."""
        return self._set(self.client._json("POST", f"/api/runs/{self.id}/step", json={"unit": unit}))

    def patch(self, **changes: Any) -> Run:
        """Change ``learning_rate``, ``speed`` (epochs/s, None = unlimited), ``probe_index`` or ``name`` while
        it runs, or a ``parameter`` ({"kind": "weight", "layer": 1, "row": 0, "col": 1, "value": 0.5}) while
        paused."""
        return self._set(self.client._json("PATCH", f"/api/runs/{self.id}", json=changes))

    def delete(self) -> None:
        self.client.request("DELETE", f"/api/runs/{self.id}")

    def _fill(self, follow: Follower) -> Iterator[Any]:
        """The points ``hello`` did not carry (a long run's is thinned), from the REST history, page by page."""
        while (gap := follow.gap()) is not None:
            page = self.client._json("GET", f"/api/runs/{self.id}/history",
                                     params={"since": gap[0], "limit": min(HISTORY_PAGE, gap[1] - gap[0] - 1)})
            yield from follow.fill(page["points"])

    def history(self) -> list[EpochPoint]:
        """Every epoch's point, in order (a row per epoch: costs, accuracies, per-layer norms)."""
        return cast(list[EpochPoint], self.client._json("GET", f"/api/runs/{self.id}/history")["points"])

    def stored_epochs(self) -> list[int]:
        """The epochs whose snapshots are stored (thinned evenly for long runs) and the newest one."""
        return cast(list[int], self.client._json("GET", f"/api/runs/{self.id}/snapshots")["epochs"])

    def snapshot(self, epoch: int | None = None) -> Snapshot:
        """The tensors of a stored epoch (default: the newest) as NumPy arrays, from the binary frame.
        ``NotFoundError`` when that epoch is not stored: its ``detail["nearest"]`` lists stored ones."""
        if epoch is None:
            latest = self.client._json("GET", f"/api/runs/{self.id}/snapshots")["latest"]
            if latest is None:
                raise BackpropVizError(f"run {self.id} has no snapshot yet")
            epoch = int(latest)
        frame = self.client.request("GET", f"/api/runs/{self.id}/snapshots/{epoch}", params={"format": "binary"})
        return decode(frame.content)

    def export(self) -> dict[str, Any]:
        """The config and the newest weights and biases as JSON."""
        return cast(dict[str, Any], self.client._json("GET", f"/api/runs/{self.id}/export"))

    def data(self) -> dict[str, Any]:
        """The run's own training and test data (train order = the probe index)."""
        return cast(dict[str, Any], self.client._json("GET", f"/api/runs/{self.id}/data"))

    def report(self) -> str:
        """The run's report: one self-contained HTML page of Plotly figures (save it and open it anywhere)."""
        return self.client.request("GET", f"/api/runs/{self.id}/report.html").text

    @overload
    def watch(self, *, snapshots: Literal[False] = ..., since: int | None = ..., retries: int = ...,
              tail: float = ...) -> Iterator[EpochPoint]: ...

    @overload
    def watch(self, *, snapshots: Literal[True], since: int | None = ..., retries: int = ...,
              tail: float = ...) -> Iterator[EpochPoint | Snapshot]: ...

    def watch(self, *, snapshots: bool = False, since: int | None = None, retries: int = 10,
              tail: float = 1.0) -> Iterator[EpochPoint] | Iterator[EpochPoint | Snapshot]:
        """Follow the run: every epoch's point (from epoch 0, the initial network, or after ``since``), once and in
        order (the history first), and with
        ``snapshots=True`` the snapshots too (the newest ones: a client that falls behind skips some; at least
        the last, even of a run that had finished before the stream opened). Ends
        when the run finishes; a run that was stopped may still publish the epoch that was in flight, so the
        stream is read on until it has been quiet for ``tail`` seconds. A dropped connection is reopened (up to
        ``retries`` times in a row) and what was already yielded is skipped. ``info`` follows the stream."""
        return self._watch(Follower(self, snapshots, -1 if since is None else since), retries, tail)

    def _watch(self, follow: Follower, retries: int, tail: float) -> Iterator[Any]:
        failures, error = 0, ""
        while True:
            try:
                with contextlib.suppress(APIError):  # (a run the server does not have: its stream says so)
                    follow.expect(self.client._json("GET", f"/api/runs/{self.id}")["epoch"])
                yield from self._fill(follow)
                with connect(ws_url(self.server, self.id, follow.last_epoch),
                             additional_headers=headers(self.client.token), compression=None,
                             max_size=MAX_FRAME, open_timeout=self.client.timeout) as ws:
                    while True:
                        try:
                            message = ws.recv(timeout=tail if follow.ending else None)
                        except TimeoutError:
                            return
                        failures = 0
                        yield from follow.feed(message)
                        yield from self._fill(follow)
                        if follow.ended:
                            return
            except ConnectionClosed as e:
                follow.closed(e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else "")
                if follow.ending:
                    return
                error = str(e)
            except InvalidStatus as e:
                if e.response.status_code < 500:
                    raise StreamError(None, f"the server refused the stream: HTTP {e.response.status_code}") from e
                error = str(e)
            except (OSError, TimeoutError, InvalidHandshake, ConnectError) as e:
                error = str(e) or type(e).__name__
            failures += 1
            if failures > retries:
                raise ConnectError(f"lost the stream of run {self.id} at {self.server} and could not reconnect "
                                   f"({retries} attempts): {error}")
            time.sleep(min(0.2 * 2 ** (failures - 1), 5.0))
