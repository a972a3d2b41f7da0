"""Test doubles for memfuse-server's own tests and for users' tests.

``FakeLLMServer`` is a network-edge double: a REAL OpenAI-compatible HTTP
server on 127.0.0.1 (uvicorn + Starlette in a background thread), so the code
under test runs its real HTTP client, timeouts, retries and concurrency limits.
It serves

- ``POST /v1/chat/completions``: a valid extraction JSON derived from the
  episode in the last user message (see ``canned_extraction``), or a scripted
  content queued with ``reply_next``;
- ``POST /v1/embeddings``: deterministic unit vectors (``fake_embedding``).

Knobs: ``latency_seconds`` (per request), ``fail_next`` / ``fail_always``
(error statuses, with an optional ``Retry-After``). It records every request
and the most requests it had in flight at once::

    with FakeLLMServer(dimension=8) as fake:
        settings = LLMSettings(base_url=fake.base_url)
        ...
        assert fake.max_in_flight <= 3
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_NAME_INSIDE_SENTENCE = re.compile(r"(?<=[a-z0-9,;:] )[A-Z][a-zA-Z-]+")
_START_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any
    at: float  # time.monotonic() on arrival


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: float | None


def fake_embedding(text: str, dimension: int) -> list[float]:
    """A deterministic unit vector for ``text``, seeded by its SHA-256."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    vector = np.random.default_rng(seed).standard_normal(dimension)
    return [float(x) for x in vector / np.linalg.norm(vector)]


class _Turn(NamedTuple):
    position: int
    speaker: str
    content: str
    date: str | None  # YYYY-MM-DD of the timestamp, when given


def _turns(body: Mapping[str, Any]) -> list[_Turn]:
    """The episode's messages from the last user message (JSON, or ``speaker: text`` lines)."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    content = str(users[-1].get("content", "")) if users else ""
    try:
        items = json.loads(content)["messages"]
        return [
            _Turn(int(t["index"]), str(t["speaker"]), str(t["content"]), _date(t.get("timestamp")))
            for t in items
        ]
    except (ValueError, LookupError, TypeError):
        lines = [line.partition(": ") for line in content.splitlines() if ": " in line]
        return [_Turn(i, s, c, None) for i, (s, _, c) in enumerate(lines)]


def _date(timestamp: object) -> str | None:
    return timestamp[:10] if isinstance(timestamp, str) and timestamp else None


def _mentions(turn: _Turn, speakers: list[str]) -> list[str]:
    """The first capitalised word inside a sentence that is not a speaker's name (or none)."""
    words = [w for w in _NAME_INSIDE_SENTENCE.findall(turn.content) if w not in speakers]
    return words[:1]


def canned_extraction(body: Mapping[str, Any]) -> dict[str, Any]:
    """A valid answer to both extraction prompts, derived from the request's messages.

    One fact per message ("<speaker> said: <content>"); the speakers as persons;
    in each message, the first capitalised word inside a sentence that is not a
    speaker as a thing, with a relation (speaker, "mentioned", thing).
    """
    turns = _turns(body)
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    facts = [
        dict(
            text=f"{t.speaker} said: {t.content}",
            occurred_at=t.date,
            subject=t.speaker,
            confidence=0.9,
            source_message_ids=[t.position],
        )
        for t in turns
    ]
    mentions = [(t, word) for t in turns for word in _mentions(t, speakers)]
    relations = [
        dict(
            subject=t.speaker,
            predicate="mentioned",
            object=word,
            valid_at=t.date,
            fact=f"{t.speaker} mentioned {word}.",
            confidence=0.7,
            source_message_ids=[t.position],
        )
        for t, word in mentions
    ]
    entities = [dict(name=s, type="person", aliases=[]) for s in speakers] + [
        dict(name=w, type="thing", aliases=[]) for w in dict.fromkeys(w for _, w in mentions)
    ]
    return {"facts": facts, "entities": entities, "relations": relations}


class FakeLLMServer:
    """An OpenAI-compatible server on 127.0.0.1; ``start``/``stop`` it or use ``with``."""

    def __init__(self, *, dimension: int = 384, latency_seconds: float = 0.0) -> None:
        self.dimension = dimension
        self.latency_seconds = latency_seconds
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures: deque[_Failure] = deque()
        self._always: _Failure | None = None
        self._replies: deque[str] = deque()
        self._in_flight = 0
        self._max_in_flight = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        host, port = self._socket.getsockname()[:2]
        self._base_url = f"http://{host}:{port}/v1"
        config = uvicorn.Config(
            self._app(),
            lifespan="off",
            ws="none",
            http="h11",
            loop="asyncio",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
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

    def fail_next(self, n: int = 1, status: int = 503, *, retry_after: float | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` (and ``Retry-After`` if given)."""
        with self._lock:
            self._failures.extend(_Failure(status, retry_after) for _ in range(n))

    def fail_always(self, status: int | None, *, retry_after: float | None = None) -> None:
        """Answer every request with ``status`` from now on; ``None`` stops it."""
        with self._lock:
            self._always = None if status is None else _Failure(status, retry_after)

    def reply_next(self, content: str) -> None:
        """Use ``content`` verbatim as the message content of the next chat completion."""
        with self._lock:
            self._replies.append(content)

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
                Route("/v1/chat/completions", chat, methods=["POST"]),
                Route("/v1/embeddings", embeddings, methods=["POST"]),
            ]
        )

    async def _serve(self, request: Request, answer: Callable[[Any], dict[str, Any]]) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(_Failure(400, None), "the body is not JSON")
        headers = {k.lower(): v for k, v in request.headers.items()}
        failure = self._arrive(RecordedRequest(request.url.path, headers, body, time.monotonic()))
        try:
            await asyncio.sleep(self.latency_seconds)
            if failure is not None:
                return _error(failure, "injected failure")
            return JSONResponse(answer(body))
        finally:
            with self._lock:
                self._in_flight -= 1

    def _arrive(self, recorded: RecordedRequest) -> _Failure | None:
        with self._lock:
            self._requests.append(recorded)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            return self._failures.popleft() if self._failures else self._always

    def _completion(self, body: Any) -> dict[str, Any]:
        with self._lock:
            content = self._replies.popleft() if self._replies else None
        if content is None:
            content = json.dumps(canned_extraction(body))
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    def _embeddings(self, body: Any) -> dict[str, Any]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": fake_embedding(str(t), self.dimension)}
            for i, t in enumerate(texts)
        ]
        return {"object": "list", "model": body.get("model", "fake"), "data": data}


def _error(failure: _Failure, reason: str) -> Response:
    headers = {} if failure.retry_after is None else {"Retry-After": f"{failure.retry_after:g}"}
    message = f"{reason} (HTTP {failure.status})"
    return JSONResponse({"error": {"message": message}}, failure.status, headers=headers)


__all__ = ["FakeLLMServer", "RecordedRequest", "canned_extraction", "fake_embedding"]
