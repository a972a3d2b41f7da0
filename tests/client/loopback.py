"""A tiny MemFuse-shaped HTTP server on 127.0.0.1: the network edge for client tests and benchmarks.

It answers ``POST /api/v1/sessions/{sid}/messages`` (after ``latency`` seconds, at most
``capacity`` at once when given) the way the real server does: 201 with ``message_ids``, the
first answer again for a repeated ``Idempotency-Key``, 404 for a session named ``missing...``.
``GET /api/v1/health`` answers too; anything else is a 404 envelope. Failures can be scripted
(``fail_next``: an error status with an optional ``Retry-After``; ``drop_next``: close the
connection without answering). It counts requests, the most it had in flight at once, and the
messages it stored per session, in arrival order.

Plain asyncio streams and orjson, not a framework, so the server's own cost per request is a
few tens of microseconds and a benchmark measures the client (it stands for a remote endpoint,
whose CPU is not the client's: with the standard json module its answers to a burst of 50
came ~1.3 ms later). Run it in a thread (``with LoopbackServer()``)
or as its own process (``python -m tests.client.loopback --latency 0.05 [--uvloop]``, which
prints its URL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson

_REASONS = {200: "OK", 201: "Created", 404: "Not Found", 429: "Too Many Requests"}


@dataclass
class _State:
    latency: float
    capacity: int | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    connections: int = 0  # accepted so far
    in_flight: int = 0
    max_in_flight: int = 0
    failures: deque[tuple[int, float | None]] = field(default_factory=deque)
    drops: int = 0
    keys: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    stored: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _envelope(code: int, data: Any = None, message: str = "ok") -> bytes:
    status = "success" if code < 400 else "error"
    body = {"status": status, "code": code, "data": data, "message": message, "errors": None}
    return orjson.dumps(body)


class _Handler:
    def __init__(self, state: _State) -> None:
        self.state = state
        self.gate = asyncio.Semaphore(state.capacity) if state.capacity else None
        self.connections: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        with self.state.lock:
            self.state.connections += 1
        try:
            while await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def close(self) -> None:
        """End every open connection (``Server.close`` leaves them open before 3.12)."""
        tasks = list(self.connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        answer = await self._answer(method, path, headers, body)
        if answer is None:  # a scripted drop
            return False
        status, payload, extra = answer
        reason = _REASONS.get(status, "Error")
        extra_headers = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n{extra_headers}\r\n".encode()
            + payload
        )
        await writer.drain()
        return headers.get("connection", "").lower() != "close"

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]] | None:
        parts = path.split("?")[0].strip("/").split("/")
        if method == "GET" and parts == ["api", "v1", "health"]:
            return 200, _envelope(200, {"status": "ok", "version": "loopback"}), {}
        shape = [*parts[:3], "{sid}", *parts[4:]]
        if method == "POST" and shape == ["api", "v1", "sessions", "{sid}", "messages"]:
            return await self._messages(parts[3], headers, body)
        return 404, _envelope(404, message="No such route on the loopback server."), {}

    async def _messages(
        self, session: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]] | None:
        failure = self._arrive()
        try:
            if self.gate is not None:
                async with self.gate:
                    await asyncio.sleep(self.state.latency)
            else:
                await asyncio.sleep(self.state.latency)
            if failure == "drop":
                return None
            if failure is not None:
                status, wait = failure
                extra = {} if wait is None else {"Retry-After": f"{wait:g}"}
                return status, _envelope(status, message="Injected failure, try again."), extra
            return self._store(session, headers.get("idempotency-key"), orjson.loads(body))
        finally:
            with self.state.lock:
                self.state.in_flight -= 1

    def _arrive(self) -> tuple[int, float | None] | str | None:
        s = self.state
        with s.lock:
            s.requests += 1
            s.in_flight += 1
            s.max_in_flight = max(s.max_in_flight, s.in_flight)
            if s.drops:
                s.drops -= 1
                return "drop"
            return s.failures.popleft() if s.failures else None

    def _store(
        self, session: str, key: str | None, body: dict[str, Any]
    ) -> tuple[int, bytes, dict[str, str]]:
        if session.startswith("missing"):
            return 404, _envelope(404, message=f"Session {session} not found."), {}
        s = self.state
        with s.lock:
            if key is not None and (session, key) in s.keys:
                ids = s.keys[(session, key)]
            else:
                ids = [str(uuid.uuid4()) for _ in body["messages"]]
                s.stored.setdefault(session, []).extend(body["messages"])
                if key is not None:
                    s.keys[(session, key)] = ids
        return 201, _envelope(201, {"message_ids": ids}, f"{len(ids)} message(s) added"), {}


class LoopbackServer:
    """The server on a thread of its own; ``with LoopbackServer(latency=0.05) as s: s.base_url``."""

    def __init__(
        self,
        latency: float = 0.0,
        capacity: int | None = None,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    ) -> None:
        self.state = _State(latency, capacity)
        self.base_url = ""
        self._loop = loop_factory()
        self._server: asyncio.Server | None = None
        self._handler = _Handler(self.state)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> LoopbackServer:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._open(), self._loop)
        self.base_url = started.result(timeout=10)
        return self

    async def _open(self) -> str:
        serve = self._handler.serve
        self._server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._handler.close()
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def fail_next(self, n: int = 1, status: int = 503, retry_after: float | None = None) -> None:
        with self.state.lock:
            self.state.failures.extend((status, retry_after) for _ in range(n))

    def close_connections(self) -> None:
        """End every open connection (as a server does with idle keep-alive ones); keep serving."""
        asyncio.run_coroutine_threadsafe(self._handler.close(), self._loop).result(timeout=10)

    def drop_next(self, n: int = 1) -> None:
        with self.state.lock:
            self.state.drops += n

    @property
    def requests(self) -> int:
        with self.state.lock:
            return self.state.requests

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self.state.lock:
            return self.state.connections

    @property
    def max_in_flight(self) -> int:
        with self.state.lock:
            return self.state.max_in_flight

    def stored(self, session: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.stored.get(session, []))

    def stored_count(self) -> int:
        with self.state.lock:
            return sum(len(v) for v in self.state.stored.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--capacity", type=int, default=None)
    parser.add_argument("--uvloop", action="store_true", help="serve on uvloop (less overhead)")
    args = parser.parse_args()
    factory = asyncio.new_event_loop
    if args.uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    server = LoopbackServer(args.latency, args.capacity, factory).start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
