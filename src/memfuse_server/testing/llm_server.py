"""``FakeLLMServer``: a real OpenAI-compatible HTTP server on 127.0.0.1, scripted by tests.

It runs uvicorn + Starlette in a background thread, so the code under test uses
its real HTTP client, timeouts, retries and concurrency limits. It serves

- ``POST /v1/chat/completions``: ``chat_reply`` if given, else a valid
  extraction JSON derived from the episode in the last user message
  (``canned_extraction``);
- ``POST /v1/embeddings``: deterministic unit vectors (``fake_embedding``).

Knobs: ``latency_seconds`` (every request); ``script`` queues a ``Reply`` for
each of the next requests, whichever endpoint they call (a status with an
optional ``Retry-After``, a raw body, a chat content, vectors of another
dimension, an extra delay); ``fail_next`` and ``reply_next`` are shorthands
for it; ``fail_always`` answers every unscripted request with an error. It
records every request (``requests``, ``chat_messages``) and the most requests
it had in flight at once (``max_in_flight``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from memfuse_server.testing.answers import canned_extraction, chat_completion, embedding_list

_START_TIMEOUT_SECONDS = 5.0
_CHAT_PATH = "/v1/chat/completions"
_EMBEDDINGS_PATH = "/v1/embeddings"


@dataclass(frozen=True)
class Reply:
    """How to answer one request; the defaults answer it normally."""

    status: int = 200
    retry_after: float | str | None = None  # a Retry-After header: seconds or an HTTP date
    body: str | None = None  # sent verbatim instead of the answer (or the error JSON)
    content: str | None = None  # chat: the message content instead of the default
    dimension: int | None = None  # embeddings: vectors of another size than the server's
    delay_seconds: float = 0.0  # on top of latency_seconds


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any
    at: float  # time.monotonic() on arrival


_Answer = Callable[[Any, Reply], dict[str, Any]]


class FakeLLMServer:
    """An OpenAI-compatible server on 127.0.0.1; ``start``/``stop`` it or use ``with``::

    with FakeLLMServer(dimension=8) as fake:
        settings = LLMSettings(base_url=fake.base_url)
        ...
        assert fake.max_in_flight <= 3
    """

    def __init__(
        self,
        *,
        dimension: int = 384,
        latency_seconds: float = 0.0,
        chat_reply: str | None = None,
    ) -> None:
        self.dimension = dimension
        self.latency_seconds = latency_seconds
        self.chat_reply = chat_reply
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._always: Reply | None = None
        self._in_flight = 0
        self._max_in_flight = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        host, port = self._socket.getsockname()[:2]
        self._base_url = f"http://{host}:{port}/v1"
        self._server = uvicorn.Server(_config(self._app()))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def chat_messages(self, index: int = -1) -> list[dict[str, Any]]:
        """The messages of a chat completion request (by default the last one)."""
        chats = [r for r in self.requests if r.path == _CHAT_PATH]
        if not chats:
            raise LookupError(f"FakeLLMServer at {self.base_url}: no chat completion requested")
        return list(chats[index].body["messages"])

    def script(self, *replies: Reply) -> None:
        """Answer the next requests, one each in order, as ``replies`` say."""
        with self._lock:
            self._script.extend(replies)

    def fail_next(self, n: int = 1, status: int = 503, *, retry_after: float | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` (and ``Retry-After`` if given)."""
        self.script(*[Reply(status, retry_after)] * n)

    def reply_next(self, content: str) -> None:
        """Use ``content`` verbatim as the message content of the next answer."""
        self.script(Reply(content=content))

    def fail_always(self, status: int | None, *, retry_after: float | None = None) -> None:
        """Answer every unscripted request with ``status`` from now on; ``None`` stops it."""
        with self._lock:
            self._always = None if status is None else Reply(status, retry_after)

    def start(self) -> FakeLLMServer:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"FakeLLMServer did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=_START_TIMEOUT_SECONDS)
        self._socket.close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            return await self._serve(request, self._completion)

        async def embeddings(request: Request) -> Response:
            return await self._serve(request, self._embeddings)

        return Starlette(
            routes=[
                Route(_CHAT_PATH, chat, methods=["POST"]),
                Route(_EMBEDDINGS_PATH, embeddings, methods=["POST"]),
            ]
        )

    async def _serve(self, request: Request, answer: _Answer) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(Reply(400), "the body is not JSON")
        headers = {k.lower(): v for k, v in request.headers.items()}
        reply = self._arrive(RecordedRequest(request.url.path, headers, body, time.monotonic()))
        try:
            await asyncio.sleep(self.latency_seconds + reply.delay_seconds)
            if reply.body is not None:
                return Response(reply.body, reply.status, _headers(reply), "application/json")
            if reply.status >= 400:
                return _error(reply, "injected failure")
            return JSONResponse(answer(body, reply), reply.status, _headers(reply))
        finally:
            with self._lock:
                self._in_flight -= 1

    def _arrive(self, recorded: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(recorded)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if self._script:
                return self._script.popleft()
            return self._always or Reply()

    def _completion(self, body: Any, reply: Reply) -> dict[str, Any]:
        content = reply.content if reply.content is not None else self.chat_reply
        if content is None:
            content = json.dumps(canned_extraction(body))
        return chat_completion(body.get("model", "fake"), content)

    def _embeddings(self, body: Any, reply: Reply) -> dict[str, Any]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dimension = reply.dimension or self.dimension
        return embedding_list(body.get("model", "fake"), [str(t) for t in texts], dimension)


def _config(app: Starlette) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )


def _headers(reply: Reply) -> dict[str, str]:
    if reply.retry_after is None:
        return {}
    value = reply.retry_after
    return {"Retry-After": value if isinstance(value, str) else f"{value:g}"}


def _error(reply: Reply, reason: str) -> Response:
    message = f"{reason} (HTTP {reply.status})"
    return JSONResponse({"error": {"message": message}}, reply.status, headers=_headers(reply))


__all__ = ["FakeLLMServer", "RecordedRequest", "Reply"]
