"""The one place errors become HTTP responses (always in the envelope)."""

from __future__ import annotations

import math

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from memfuse_server.api.envelope import error
from memfuse_server.errors import (
    ConfigurationError,
    Conflict,
    Forbidden,
    InvalidInput,
    MemFuseError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)

log = structlog.get_logger(__name__)

STATUS: list[tuple[type[MemFuseError], int]] = [
    (PayloadTooLarge, 413),
    (InvalidInput, 422),
    (NotFound, 404),
    (Unauthorized, 401),
    (Forbidden, 403),
    (Conflict, 409),
    (Unavailable, 503),
    (ConfigurationError, 500),
]

_HTTP_MESSAGES = {
    404: "No such route: check the path (all routes are under /api/v1).",
    405: "This method is not allowed on this route.",
}


def status_of(exc: MemFuseError) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def retry_after(exc: MemFuseError) -> str:
    """``Retry-After`` in whole seconds (at least 1) of an error that may pass."""
    seconds = exc.retry_after if isinstance(exc, Unavailable) else 1.0
    return str(max(1, math.ceil(seconds)))


def _location(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    errors = [{"field": _location(tuple(e["loc"])), "message": str(e["msg"])} for e in exc.errors()]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return "The request body is not valid JSON.", errors
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"Invalid request: {first['field']}: {first['message']}{more}.", errors


async def _memfuse_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MemFuseError)
    code = status_of(exc)
    if code >= 500:
        log.error("request failed", error=exc.message, path=request.url.path)
    headers = {"Retry-After": retry_after(exc)} if code == 503 else None
    if code == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    fields = [{"field": e.field, "message": e.message} for e in exc.errors] or None
    return error(code, exc.message, fields, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    message, errors = _validation_message(exc)
    return error(422, message, errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
    return error(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", path=request.url.path)
    return error(500, "The server failed to handle this request; the error has been logged.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(MemFuseError, _memfuse_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


__all__ = ["install", "status_of"]
