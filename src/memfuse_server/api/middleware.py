"""ASGI middleware: trailing slashes, body size limit, request ids and access logs."""

from __future__ import annotations

import time
import uuid

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memfuse_server.api.envelope import error
from memfuse_server.metrics import Metrics

log = structlog.get_logger("memfuse_server.access")


class TrailingSlash:
    """Serve ``/x/`` as ``/x`` (the SDK does not follow redirects on POST/DELETE)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                # In place: outer middleware reads what routing adds to this scope.
                scope["path"] = path.rstrip("/") or "/"
        await self.app(scope, receive, send)


class BodyGuard:
    """Check a request body before any route sees it.

    Bodies over ``limit`` bytes get 413 (by Content-Length, or while reading a
    body sent without one); a body that is not JSON by its Content-Type gets
    415; JSON that does not parse, or is nested absurdly deep, gets 422 before
    the framework's own parser spends time on it.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _refuse(scope, receive, send, 413, self._too_large())
            return
        body = await self._read_within_limit(receive)
        problem = None if body is None else _json_problem(body, headers.get(b"content-type"))
        if body is None:
            await _refuse(scope, receive, send, 413, self._too_large())
        elif problem is not None:
            await _refuse(scope, receive, send, *problem)
        else:
            await self.app(scope, _replay(body, receive), send)

    def _too_large(self) -> str:
        return (
            f"The request body is larger than the limit of {self.limit} bytes"
            " (server.max_body_bytes); send a smaller batch."
        )

    async def _read_within_limit(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _json_problem(body: bytes, content_type: bytes | None) -> tuple[int, str] | None:
    """Why this body cannot be a JSON request (status and message), or None."""
    if not body.strip():
        return None
    kind = (content_type or b"").split(b";")[0].strip().lower()
    if kind != b"application/json" and not kind.endswith(b"+json"):
        shown = kind.decode("latin-1") or "none"
        return 415, f"Send the body as JSON with 'Content-Type: application/json' (got {shown})."
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "recursion" in str(exc) or "depth" in str(exc):
            return 422, "The JSON body is nested too deeply; flatten it."
        return 422, f"The request body is not valid JSON: {exc}."
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    await error(status, message)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that yields ``body`` once, then defers to the real one (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class InFlightLimit:
    """A bound on requests in progress: past it, answer 503 at once with ``Retry-After``.

    Work beyond what the embedder and the database can absorb only queues up
    and times out; refusing early keeps latency bounded for the requests that
    are admitted and tells clients when to come back. ``/health`` is exempt.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].endswith("/health"):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            message = (
                f"The server is at capacity ({self.limit} requests in progress,"
                " server.max_in_flight); retry in a moment."
            )
            await error(503, message, headers={"Retry-After": "1"})(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def route_template(scope: Scope) -> str:
    """The matched route as a template ("/api/v1/sessions/{session_id}/messages"): a bounded
    set of metric labels, whatever ids the paths carry."""
    if scope.get("route") is None:
        return "unmatched"
    path: str = scope["path"]
    for name, value in scope.get("path_params", {}).items():
        path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path


class RequestLog:
    """Give each request an id (``X-Request-ID``), bind it to log lines, log one access line,
    and count it in the metrics by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming or uuid.uuid4().hex
        status = 500
        start = time.perf_counter()

        async def with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = dict(message, headers=headers)
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, with_id)
            finally:
                seconds = time.perf_counter() - start
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    ms=round(seconds * 1000, 2),
                )
                self._count(scope, status, seconds)

    def _count(self, scope: Scope, status: int, seconds: float) -> None:
        if self.metrics is None:
            return
        route = route_template(scope)
        self.metrics.requests.labels(scope["method"], route, str(status)).inc()
        self.metrics.request_seconds.labels(scope["method"], route).observe(seconds)


__all__ = ["BodyGuard", "InFlightLimit", "RequestLog", "TrailingSlash"]
