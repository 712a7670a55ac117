"""The errors the client raises: every one is a ``BackpropVizError``; an ``APIError`` carries the server's answer
(HTTP status and its ``detail``) and says it in one line."""

from __future__ import annotations

import json
from typing import Any

import httpx


class BackpropVizError(Exception):
    """Anything this client raises on purpose."""


class ConnectError(BackpropVizError):
    """The server could not be reached (refused, timed out, name not found); the message names the URL."""


class StreamError(BackpropVizError):
    """The server closed the run's stream for good (no such run, a missing token, a policy violation).

    ``code`` is the WebSocket close code (docs/protocol.md), ``reason`` the server's words."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"the stream was closed ({code}): {reason}" if reason else f"the stream was closed ({code})")
        self.code, self.reason = code, reason


class FrameError(BackpropVizError):
    """Bytes that are not a binary snapshot frame as docs/protocol.md defines it."""


class APIError(BackpropVizError):
    """The server answered with an error status.

    ``status`` is the HTTP status, ``detail`` the ``detail`` field of its JSON answer as it came (a string, the
    list of problems of a 422, or an object such as a snapshot 404's ``{"message", "nearest"}``), ``message``
    one line of text saying what was wrong.
    """

    def __init__(self, status: int, message: str, detail: Any = None, method: str = "", url: str = "") -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message, self.detail, self.method, self.url = status, message, detail, method, url


class BadRequestError(APIError):
    """400, 413 or 422: the request was refused as it stands; ``message`` names the field at fault."""


class AuthenticationError(APIError):
    """401: the server needs an API token (``Client(..., token=...)``) or the one given is wrong."""


class NotFoundError(APIError):
    """404: no such run, dataset or stored epoch."""


class ConflictError(APIError):
    """409: not allowed in the run's current state (pausing a finished run …)."""


class RateLimitError(APIError):
    """429: too many live runs or queued steps."""


class ServerError(APIError):
    """5xx: the server failed."""


_BY_STATUS: dict[int, type[APIError]] = {400: BadRequestError, 401: AuthenticationError, 404: NotFoundError,
                                         409: ConflictError, 413: BadRequestError, 422: BadRequestError,
                                         429: RateLimitError}


def message_of(detail: Any, body: Any) -> str:
    """One line from an error body: ``detail`` when it is text, a 422's ``message``, a ``{"message"}`` object."""
    if isinstance(detail, str):
        return detail
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    if isinstance(detail, dict) and isinstance(detail.get("message"), str):
        return str(detail["message"])
    if isinstance(detail, list):
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return "" if detail is None else json.dumps(detail)


def error_for(response: httpx.Response) -> APIError:
    """The ``APIError`` subclass for an error response, with the server's own message."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    message = message_of(detail, body) or response.text.strip()[:500] or response.reason_phrase
    status = response.status_code
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    return cls(status, message, detail, response.request.method, str(response.request.url))
