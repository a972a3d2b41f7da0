"""A real OpenAI-compatible embeddings server on 127.0.0.1, scripted by tests.

It answers ``POST /v1/embeddings`` with deterministic, not normalised vectors
listed in reverse ``index`` order (clients must sort). Tests queue up
``Reply`` objects to make the next requests fail, stall or answer oddly.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status with headers and body, after a delay."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # None: the normal embeddings answer
    delay: float = 0.0
    dimension: int | None = None  # vectors of another size than the server's


def stub_vector(text: str, dimension: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The raw vector the stub returns for ``text``: seeded by its CRC32."""
    rng = np.random.default_rng(zlib.crc32(text.encode()))
    return (rng.normal(size=dimension) * 3.0).astype(np.float32)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class OpenAIStub:
    """Serves in a background thread; ``start`` and ``stop`` it."""

    def __init__(self, dimension: int = 8) -> None:
        self.dimension = dimension
        self.script: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def next_reply(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            return self.script.popleft() if self.script else Reply()

    def answer(self, body: dict[str, Any], reply: Reply) -> str:
        if reply.body is not None:
            return reply.body
        dimension = reply.dimension or self.dimension
        data = [
            {"object": "embedding", "index": i, "embedding": stub_vector(t, dimension).tolist()}
            for i, t in enumerate(body["input"])
        ]
        return json.dumps({"object": "list", "model": body["model"], "data": data[::-1]})


def _handler(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = json.loads(raw)
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = stub.next_reply(Recorded(self.path, headers, body, time.monotonic()))
            time.sleep(reply.delay)
            if self.path != "/v1/embeddings":
                reply = Reply(status=404, body='{"error": "not found"}')
            payload = stub.answer(body, reply) if reply.status == 200 else reply.body or ""
            with contextlib.suppress(OSError):  # the client gave up (a timeout test)
                self._send(reply, payload.encode())

        def _send(self, reply: Reply, payload: bytes) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
