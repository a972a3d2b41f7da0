"""One HTTP/1.1 connection of the default transport: a request out, its answer parsed by httptools.

A ``Connection`` is an ``asyncio.Protocol``: the event loop hands it the bytes as they arrive
and httptools (llhttp, the parser uvicorn uses) calls it back with the status, the headers and
the body, whatever the framing (``Content-Length``, chunked, or up to the close). It carries one
request at a time; ``exchange`` writes it and returns a future for the whole answer.

How an exchange can end, and in which class of httpx (whose exceptions the client's retry policy
reads to tell whether a request may have reached the server):

- the answer: ``Answer``; informational answers (1xx) are skipped; a HEAD answer ends with its
  headers;
- no bytes for ``timeout`` seconds while waiting: ``httpx.ReadTimeout``;
- the server closed the connection, or the socket failed, before the answer was whole:
  ``httpx.RemoteProtocolError`` / ``httpx.ReadError``;
- bytes that are not HTTP/1.1: ``httpx.RemoteProtocolError``.

Whoever ends it otherwise (a cancelled caller) closes the connection: a late answer must never
be read as the answer to the next request.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httptools
import httpx
from multidict import CIMultiDict

from memfuse_server.client.transport import Answer

_UNFRAMED_STATUSES = frozenset({204, 304})


class Connection(asyncio.Protocol):
    """An HTTP/1.1 client connection: ``exchange`` one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.reusable = False  # after an answer: the server keeps the connection open
        self.idle_since = 0.0
        self._waiter: asyncio.Future[Answer] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timeout = 0.0
        self._head_only = False  # the request was HEAD: its answer has no body
        self._heard = 0.0  # loop time of the last bytes received
        self._start_answer()

    def _start_answer(self) -> None:
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._framed = False  # the answer says where it ends (Content-Length or chunked)
        self._headers_done = False

    # -- used by the transport ----------------------------------------------------------------

    def exchange(self, data: bytes, timeout: float, head_only: bool) -> asyncio.Future[Answer]:
        """Write a whole request; the future is its answer, or the failure that ended it."""
        assert self.transport is not None and self._waiter is None
        self._waiter = waiter = self.loop.create_future()
        self._head_only = head_only
        self._timeout = timeout
        self._heard = self.loop.time()
        self._timer = self.loop.call_at(self._heard + timeout, self._check_silence)
        self.reusable = False
        self.transport.write(data)
        return waiter

    @property
    def usable(self) -> bool:
        """Open, idle, and not closing: fit for the next request."""
        transport = self.transport
        return not self.lost and transport is not None and not transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # an asyncio.Transport in behaviour; uvloop's transports do not subclass it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing asked: an idle connection is not trusted again
            self.close()
            return
        self._heard = self.loop.time()
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            # garbage, or a switch to another protocol (101): the connection is done for; an
            # answer already whole was delivered, anything else fails
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._fail(
                httpx.RemoteProtocolError(f"the answer is not HTTP/1.1 we can read ({reason})")
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._waiter is None:
            return
        if self._headers_done and not self._framed:  # an answer that runs to the close
            self._answer()
        elif exc is not None:
            self._fail(httpx.ReadError(f"the connection failed before the answer was whole: {exc}"))
        else:
            self._fail(
                httpx.RemoteProtocolError(
                    "the server closed the connection before answering in full"
                )
            )

    # -- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        header = name.decode("latin-1"), value.decode("latin-1")
        self._headers.append(header)
        lowered = header[0].lower()
        if lowered == "content-length" or (
            lowered == "transfer-encoding" and "chunked" in header[1].lower()
        ):
            self._framed = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            return  # informational: its message ends right away, the answer follows
        self._headers_done = True
        self._framed = self._framed or status in _UNFRAMED_STATUSES
        if self._head_only:  # no body follows, whatever the headers say: the parser can't know
            self._answer(reusable=False)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._headers_done:
            self._answer(reusable=self.parser.should_keep_alive())
        else:
            self._start_answer()  # the end of an informational answer

    # -- ending an exchange -------------------------------------------------------------------

    def _check_silence(self) -> None:
        """The read timeout: fail after ``timeout`` seconds without bytes, else look again."""
        silent_until = self._heard + self._timeout
        if self.loop.time() < silent_until:
            self._timer = self.loop.call_at(silent_until, self._check_silence)
            return
        self._timer = None
        self._fail(httpx.ReadTimeout(f"no answer for {self._timeout:g} s"))

    def _answer(self, reusable: bool = False) -> None:
        waiter = self._end()
        answer = Answer(
            self.parser.get_status_code(), CIMultiDict(self._headers), b"".join(self._chunks)
        )
        self._start_answer()
        self.reusable = reusable and not self.lost
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)
        if not self.reusable:
            self.close()

    def _fail(self, error: httpx.TransportError) -> None:
        waiter = self._end()
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _end(self) -> asyncio.Future[Answer] | None:
        waiter, self._waiter = self._waiter, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return waiter


__all__ = ["Connection"]
