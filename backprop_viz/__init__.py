"""A Python client for a backprop-viz server: start and steer runs, read their history and snapshots (NumPy
arrays), follow their stream, and show a run's page in a notebook::

    from backprop_viz import Client

    c = Client("http://127.0.0.1:8000")
    run = c.start(dataset="spiral", hidden_layers=[8, 8], epochs=300)
    for point in run.watch():
        print(point["epoch"], point["train_cost"])
    snap = run.snapshot()          # {"W1": array(...), "dW1": ..., "delta1": ..., ...}

``AsyncClient`` offers the same calls for asyncio. Built on httpx and websockets; the REST API and the stream
are described at ``/docs`` and in docs/protocol.md.
"""

from ._async_client import AsyncClient, AsyncRun
from ._base import PageEmbed
from ._client import Client, Run
from ._errors import (
    APIError,
    AuthenticationError,
    BackpropVizError,
    BadRequestError,
    ConflictError,
    ConnectError,
    FrameError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamError,
)
from ._frames import Snapshot, decode
from ._track import Tracker
from ._types import DatasetInfo, EpochPoint, RunInfo, RunState
from ._version import __version__

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncRun",
    "AuthenticationError",
    "BackpropVizError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "ConnectError",
    "DatasetInfo",
    "EpochPoint",
    "FrameError",
    "NotFoundError",
    "PageEmbed",
    "RateLimitError",
    "Run",
    "RunInfo",
    "RunState",
    "ServerError",
    "Snapshot",
    "StreamError",
    "Tracker",
    "__version__",
    "decode",
]
