"""Bulk insertion: many ``POST .../messages`` at once, bounded, timed, each failure kept.

The seed's loop (``asyncio.gather`` under a semaphore, a timeout per item, errors counted) with
three additions:

- every item carries an ``Idempotency-Key`` the server honours: the caller's, or one derived from
  the item's position, session and messages, so running the same items again (after a crash, a
  Ctrl-C, a retry) adds nothing;
- ``adaptive``: the limit is set by AIMD (``adaptive.py``) between 1 and ``max_concurrency``;
- ``in_session_order``: items of one session are sent one after another, in the given order
  (sessions still run in parallel), so a conversation's turns reach the server's round windows
  in the order they were said. When an item fails in a way the server may recover from
  (unreachable, timed out, 429, 5xx), the rest of its session is held back (``NotSent``)
  rather than stored around the gap; sending the same items again fills it in order.

Failures never escape: each item ends as an ``ItemResult`` with its message ids or its error.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from memfuse_server.client.adaptive import AIMD, ConcurrencyLimit
from memfuse_server.client.errors import (
    APIError,
    ConnectionFailed,
    InvalidArgument,
    MemFuseClientError,
    NotSent,
    RequestTimeout,
)
from memfuse_server.client.models import ChatMessage

MAX_CONCURRENCY = 50
KEY_PREFIX = "bulk-"


@dataclass(frozen=True)
class BulkItem:
    """Messages to add to one session in one request."""

    session_id: str
    messages: Sequence[ChatMessage | Mapping[str, Any]]
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PreparedItem:
    index: int
    session_id: str
    body: dict[str, Any]
    idempotency_key: str


@dataclass(frozen=True)
class ItemResult:
    """What became of one item: its message ids, or the error that stopped it."""

    index: int
    session_id: str
    idempotency_key: str
    message_ids: tuple[str, ...] = ()
    error: MemFuseClientError | None = None
    latency_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class BulkResult:
    """All items in input order, with how the run went."""

    items: tuple[ItemResult, ...]
    elapsed_seconds: float
    max_concurrency: int
    peak_in_flight: int
    final_concurrency: int  # the limit at the end (AIMD's, or max_concurrency)
    adaptive: bool
    # Items whose request was in flight when the call was cancelled (Ctrl-C): the server may
    # have stored them; the same items sent again are added at most once (idempotency keys).
    cut_off: int = 0

    @property
    def succeeded(self) -> list[ItemResult]:
        return [r for r in self.items if r.ok]

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.items if not r.ok]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.items)

    @property
    def message_ids(self) -> list[str]:
        return [i for r in self.items for i in r.message_ids]

    @property
    def throughput(self) -> float:
        """Items added per second of wall time."""
        return len(self.succeeded) / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


@dataclass(frozen=True)
class BulkOptions:
    max_concurrency: int
    item_timeout: float
    adaptive: bool = False
    in_session_order: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.max_concurrency <= MAX_CONCURRENCY:
            raise InvalidArgument(
                f"max_concurrency must be between 1 and {MAX_CONCURRENCY}, not"
                f" {self.max_concurrency}."
            )
        if not self.item_timeout > 0:
            raise InvalidArgument(f"item_timeout must be > 0 seconds, not {self.item_timeout}.")


def item_key(index: int, session_id: str, messages: list[dict[str, Any]]) -> str:
    """The idempotency key of an item given without one: its position, session and content."""
    payload = orjson.dumps([index, session_id, messages], option=orjson.OPT_SORT_KEYS)
    return KEY_PREFIX + hashlib.sha256(payload).hexdigest()[:40]


def message_json(message: ChatMessage | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(message, ChatMessage):
        return message.to_json()
    return dict(message)


def prepare(items: Sequence[BulkItem | Mapping[str, Any]]) -> list[PreparedItem]:
    """Request bodies and keys for ``items`` (a ``BulkItem`` or a mapping of its fields)."""
    prepared = []
    for index, raw in enumerate(items):
        item = raw if isinstance(raw, BulkItem) else _from_mapping(index, raw)
        messages = [message_json(m) for m in item.messages]
        if not messages:
            raise InvalidArgument(f"item {index} has no messages; every item needs at least one.")
        key = item.idempotency_key or item_key(index, item.session_id, messages)
        prepared.append(PreparedItem(index, item.session_id, {"messages": messages}, key))
    return prepared


def _from_mapping(index: int, raw: Mapping[str, Any]) -> BulkItem:
    try:
        return BulkItem(str(raw["session_id"]), raw["messages"], raw.get("idempotency_key"))
    except (KeyError, TypeError) as exc:
        raise InvalidArgument(
            f"item {index} must be a BulkItem or a mapping with session_id and messages."
        ) from exc


Send = Callable[[PreparedItem], Awaitable[list[str]]]
OnResult = Callable[[ItemResult], None]
OnEnd = Callable[[BulkResult], None]


def _congestion(error: MemFuseClientError) -> bool:
    """Whether a failure says the server is overloaded (rather than the item being wrong)."""
    if isinstance(error, RequestTimeout | ConnectionFailed):
        return True
    return isinstance(error, APIError) and (error.status == 429 or error.status >= 500)


class _Run:
    """One ``bulk_add`` call: lanes of items, a limit, an optional AIMD controller."""

    def __init__(self, send: Send, options: BulkOptions, on_result: OnResult | None) -> None:
        self.send = send
        self.options = options
        self.on_result = on_result
        initial = 1 if options.adaptive else options.max_concurrency
        self.limit = ConcurrencyLimit(initial)
        self.control = AIMD(options.max_concurrency, initial) if options.adaptive else None
        self.results: list[ItemResult] = []
        self.cut_off = 0

    async def run(self, items: Sequence[PreparedItem]) -> None:
        lanes = _lanes(items, self.options.in_session_order)
        queue = iter(lanes)  # shared: each lane goes to one worker, its items in order

        async def worker() -> None:
            for members in queue:
                for position, item in enumerate(members):
                    result = await self.one(item)
                    self._record(result)
                    if self._stops_the_lane(result):
                        self._hold_back(members[position + 1 :], result)
                        break

        # max_concurrency workers at most, each taking the next lane as soon as it is free
        # (no task to start per item, so the next request leaves in the same step).
        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.options.max_concurrency, len(lanes))):
                group.create_task(worker())

    def _stops_the_lane(self, result: ItemResult) -> bool:
        """Whether the rest of a session waits: in order, after a failure that may pass."""
        error = result.error
        return self.options.in_session_order and error is not None and _congestion(error)

    def _hold_back(self, rest: Sequence[PreparedItem], failed: ItemResult) -> None:
        for item in rest:
            error = NotSent(
                f"item {item.index} not sent: item {failed.index} of session {item.session_id}"
                " failed before it, and a session's items are sent in order; run again."
            )
            self._record(ItemResult(item.index, item.session_id, item.idempotency_key, (), error))

    def _record(self, result: ItemResult) -> None:
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    async def one(self, item: PreparedItem) -> ItemResult:
        await self.limit.acquire()
        in_flight = self.limit.in_flight
        start = time.perf_counter()
        try:
            result = await self._attempt(item, start)
        except asyncio.CancelledError:
            self.cut_off += 1
            raise
        finally:
            self.limit.release()
        self._observe(result, in_flight)
        return result

    async def _attempt(self, item: PreparedItem, start: float) -> ItemResult:
        error: MemFuseClientError
        try:
            async with asyncio.timeout(self.options.item_timeout):
                ids = await self.send(item)
            elapsed = time.perf_counter() - start
            return ItemResult(
                item.index, item.session_id, item.idempotency_key, tuple(ids), None, elapsed
            )
        except MemFuseClientError as exc:
            error = exc
        except TimeoutError:
            error = RequestTimeout(
                f"item {item.index} took longer than item_timeout={self.options.item_timeout:g}s"
                " (retries included); raise item_timeout or lower the concurrency."
            )
        except Exception as exc:  # never raised away: kept with the item
            error = MemFuseClientError(f"item {item.index} failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
        elapsed = time.perf_counter() - start
        return ItemResult(item.index, item.session_id, item.idempotency_key, (), error, elapsed)

    def _observe(self, result: ItemResult, in_flight: int) -> None:
        if self.control is None:
            return
        congested = result.error is not None and _congestion(result.error)
        latency = result.latency_seconds if result.ok else None
        new_limit = self.control.observe(latency, in_flight, congested)
        if new_limit is not None:
            self.limit.set_limit(new_limit)


def _lanes(items: Sequence[PreparedItem], in_session_order: bool) -> list[list[PreparedItem]]:
    if not in_session_order:
        return [[item] for item in items]
    by_session: dict[str, list[PreparedItem]] = {}
    for item in items:
        by_session.setdefault(item.session_id, []).append(item)
    return list(by_session.values())


async def run_bulk(
    items: Sequence[PreparedItem],
    send: Send,
    options: BulkOptions,
    on_result: OnResult | None = None,
    on_end: OnEnd | None = None,
) -> BulkResult:
    """Send every item with ``send`` under ``options``; never raises an item's error.

    ``on_end`` gets the result even when the call is cancelled (then with the items that
    ended before, and ``cut_off`` counting those still in flight).
    """
    run = _Run(send, options, on_result)
    start = time.perf_counter()
    try:
        await run.run(items)
    finally:
        result = BulkResult(
            items=tuple(sorted(run.results, key=lambda r: r.index)),
            elapsed_seconds=time.perf_counter() - start,
            max_concurrency=options.max_concurrency,
            peak_in_flight=run.limit.peak,
            final_concurrency=run.limit.limit,
            adaptive=options.adaptive,
            cut_off=run.cut_off,
        )
        if on_end is not None:
            on_end(result)
    return result


__all__ = [
    "MAX_CONCURRENCY",
    "BulkItem",
    "BulkOptions",
    "BulkResult",
    "ItemResult",
    "PreparedItem",
    "item_key",
    "prepare",
    "run_bulk",
]
