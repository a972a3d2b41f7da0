"""The client's exception tree: every error it raises on purpose is a ``MemFuseClientError``.

It hangs under the project's root, so ``except MemFuseError`` catches both sides. An error the
server answered carries the server's ``status``, ``message`` and field ``errors`` (from the
MemFuse envelope); the others say what went wrong on the way.

::

    MemFuseError (memfuse_server.errors)
    └── MemFuseClientError                 anything the client raises on purpose
        ├── APIError                       the server answered with an error status
        │   ├── InvalidRequestError        400, 413, 422: fix the request
        │   ├── AuthenticationError        401, 403: no key, a wrong key, or another user's data
        │   ├── NotFoundError              404: a user, agent, session, message ... is unknown
        │   ├── ConflictError              409: a name is taken, or an idempotency key was reused
        │   ├── RateLimitedError           429: too many requests (retried with Retry-After)
        │   └── ServerError                5xx: the server failed (retried)
        ├── ConnectionFailed               the server could not be reached (retried)
        ├── RequestTimeout                 no answer in time (also a builtin ``TimeoutError``)
        ├── InvalidResponse                an answer that is not the MemFuse envelope
        └── InvalidArgument                a bad argument to a client method (also a ``ValueError``)
"""

from __future__ import annotations

from typing import Any

from memfuse_server.errors import FieldError, MemFuseError


class MemFuseClientError(MemFuseError):
    """Root of every error the client raises on purpose."""


class APIError(MemFuseClientError):
    """The server answered with an error status; ``message`` is the server's sentence."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[FieldError] | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"HTTP {status}: {message}", errors=errors)
        self.status = status
        self.server_message = message
        self.retry_after = retry_after


class InvalidRequestError(APIError):
    """400, 413 or 422: the request's values are not acceptable; see ``errors``."""


class AuthenticationError(APIError):
    """401 or 403: set ``api_key`` (``MEMFUSE_CLIENT__API_KEY``) to a key for this user."""


class NotFoundError(APIError):
    """404: the user, agent, session, message or knowledge item does not exist."""


class ConflictError(APIError):
    """409: the name is taken, or an idempotency key was used with another body."""


class RateLimitedError(APIError):
    """429: the server asks to slow down (``retry_after`` seconds)."""


class ServerError(APIError):
    """5xx: the server failed or a dependency of it is unavailable."""


class ConnectionFailed(MemFuseClientError):
    """The server could not be reached (refused, reset, DNS): is it running at ``base_url``?"""


class RequestTimeout(MemFuseClientError, TimeoutError):
    """The server did not answer in time (``timeout_seconds``, or a bulk item's timeout)."""


class InvalidResponse(MemFuseClientError):
    """The answer is not the MemFuse envelope: is ``base_url`` a memfuse-server?"""


class NotSent(MemFuseClientError):
    """A bulk item held back because an earlier item of its session failed (sent in order)."""


class InvalidArgument(MemFuseClientError, ValueError):
    """A client method was called with a value it cannot use."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitedError,
}


def api_error(status: int, body: Any, retry_after: float | None = None) -> APIError:
    """The ``APIError`` for an error answer (``body`` is the parsed envelope, or anything)."""
    envelope = body if isinstance(body, dict) else {}
    message = str(envelope.get("message") or f"the server answered HTTP {status}")
    fields = [
        FieldError(str(e.get("field", "")), str(e.get("message", "")))
        for e in envelope.get("errors") or []
        if isinstance(e, dict)
    ]
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, APIError)
    return cls(status, message, fields or None, retry_after=retry_after)


__all__ = [
    "APIError",
    "AuthenticationError",
    "ConflictError",
    "ConnectionFailed",
    "InvalidArgument",
    "InvalidRequestError",
    "InvalidResponse",
    "MemFuseClientError",
    "NotFoundError",
    "NotSent",
    "RateLimitedError",
    "RequestTimeout",
    "ServerError",
    "api_error",
]
