"""The async client: ``AsyncClient`` and ``AsyncRun``, the same calls as ``Client`` and ``Run`` to await (on
httpx.AsyncClient and websockets.asyncio); ``watch()`` is an async iterator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Literal, cast, overload

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ._base import HISTORY_PAGE, Follower, RunBase, base_url, config_body, headers, ws_url
from ._client import MAX_FRAME
from ._errors import APIError, BackpropVizError, ConnectError, StreamError, error_for
from ._frames import Snapshot, decode
from ._types import DatasetInfo, EpochPoint, RunInfo


class AsyncClient:
    """A backprop-viz server, for asyncio code::

        async with AsyncClient("http://127.0.0.1:8000") as c:
            run = await c.start(dataset="spiral", hidden_layers=[8, 8])
            async for point in run.watch():
                ...
    """

    def __init__(self, server: str = "http://127.0.0.1:8000", *, token: str | None = None,
                 timeout: float = 30.0) -> None:
        self.server = base_url(server)
        self.token = token
        self.timeout = timeout
        self._http = httpx.AsyncClient(base_url=self.server, headers=headers(token), timeout=timeout)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise ConnectError(f"cannot reach {self.server}: {e or type(e).__name__}") from e
        if response.is_error:
            raise error_for(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(method, path, **kwargs)).json()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClient({self.server!r})"

    async def health(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self._json("GET", "/healthz"))

    async def datasets(self) -> list[DatasetInfo]:
        return cast(list[DatasetInfo], (await self._json("GET", "/api/datasets"))["items"])

    async def runs(self, limit: int = 20, offset: int = 0) -> list[AsyncRun]:
        page = await self._json("GET", "/api/runs", params={"limit": limit, "offset": offset})
        return [AsyncRun(self, info) for info in page["items"]]

    async def run(self, run_id: str) -> AsyncRun:
        return AsyncRun(self, await self._json("GET", f"/api/runs/{run_id}"))

    async def start(self, *, name: str = "", start: bool = True, **config: Any) -> AsyncRun:
        return AsyncRun(self, await self._json("POST", "/api/runs", json=config_body(name, start, config)))


class AsyncRun(RunBase):
    """One run, for asyncio code: the methods of ``Run``, awaited."""

    def __init__(self, client: AsyncClient, info: RunInfo) -> None:
        super().__init__(client.server, info)
        self.client = client

    async def _set(self, method: str, path: str, **kwargs: Any) -> AsyncRun:
        self.info = await self.client._json(method, f"/api/runs/{self.id}{path}", **kwargs)
        return self

    async def refresh(self) -> AsyncRun:
        return await self._set("GET", "")

    async def pause(self) -> AsyncRun:
        return await self._set("POST", "/pause")

    async def resume(self) -> AsyncRun:
        return await self._set("POST", "/resume")

    async def stop(self) -> AsyncRun:
        return await self._set("POST", "/stop")

    async def step(self, unit: Literal["epoch", "batch"] = "epoch") -> AsyncRun:
        return await self._set("POST", "/step", json={"unit": unit})

    async def patch(self, **changes: Any) -> AsyncRun:
        return await self._set("PATCH", "", json=changes)

    async def delete(self) -> None:
        await self.client.request("DELETE", f"/api/runs/{self.id}")

    async def _fill(self, follow: Follower) -> AsyncIterator[Any]:
        """The points ``hello`` did not carry (a long run's is thinned), from the REST history, page by page."""
        while (gap := follow.gap()) is not None:
            page = await self.client._json("GET", f"/api/runs/{self.id}/history",
                                           params={"since": gap[0], "limit": min(HISTORY_PAGE, gap[1] - gap[0] - 1)})
            for item in follow.fill(page["points"]):
                yield item

    async def history(self) -> list[EpochPoint]:
        return cast(list[EpochPoint], (await self.client._json("GET", f"/api/runs/{self.id}/history"))["points"])

    async def stored_epochs(self) -> list[int]:
        return cast(list[int], (await self.client._json("GET", f"/api/runs/{self.id}/snapshots"))["epochs"])

    async def snapshot(self, epoch: int | None = None) -> Snapshot:
        if epoch is None:
            latest = (await self.client._json("GET", f"/api/runs/{self.id}/snapshots"))["latest"]
            if latest is None:
                raise BackpropVizError(f"run {self.id} has no snapshot yet")
            epoch = int(latest)
        frame = await self.client.request("GET", f"/api/runs/{self.id}/snapshots/{epoch}",
                                          params={"format": "binary"})
        return decode(frame.content)

    async def export(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self.client._json("GET", f"/api/runs/{self.id}/export"))

    async def data(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self.client._json("GET", f"/api/runs/{self.id}/data"))

    async def report(self) -> str:
        return (await self.client.request("GET", f"/api/runs/{self.id}/report.html")).text

    @overload
    def watch(self, *, snapshots: Literal[False] = ..., since: int | None = ..., retries: int = ...,
              tail: float = ...) -> AsyncIterator[EpochPoint]: ...

    @overload
    def watch(self, *, snapshots: Literal[True], since: int | None = ..., retries: int = ...,
              tail: float = ...) -> AsyncIterator[EpochPoint | Snapshot]: ...

    def watch(self, *, snapshots: bool = False, since: int | None = None, retries: int = 10,
              tail: float = 1.0) -> AsyncIterator[EpochPoint] | AsyncIterator[EpochPoint | Snapshot]:
        """``async for point in run.watch(): …``: the same items, endings and reconnections as ``Run.watch``."""
        return self._watch(Follower(self, snapshots, -1 if since is None else since), retries, tail)

    async def _watch(self, follow: Follower, retries: int, tail: float) -> AsyncIterator[Any]:
        failures, error = 0, ""
        while True:
            try:
                with contextlib.suppress(APIError):  # (a run the server does not have: its stream says so)
                    follow.expect((await self.client._json("GET", f"/api/runs/{self.id}"))["epoch"])
                async for item in self._fill(follow):
                    yield item
                async with connect(ws_url(self.server, self.id, follow.last_epoch),
                                   additional_headers=headers(self.client.token), compression=None,
                                   max_size=MAX_FRAME, open_timeout=self.client.timeout) as ws:
                    while True:
                        try:
                            async with asyncio.timeout(tail if follow.ending else None):
                                message = await ws.recv()
                        except TimeoutError:
                            return
                        failures = 0
                        for item in follow.feed(message):
                            yield item
                        async for item in self._fill(follow):
                            yield item
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
            await asyncio.sleep(min(0.2 * 2 ** (failures - 1), 5.0))
