"""Insertion metrics of one client, summed over its ``bulk_add`` calls (the seed's set, and more)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from memfuse_server.client.bulk import BulkResult


@dataclass(frozen=True)
class InsertionMetrics:
    """Totals since the client was made or ``reset_metrics()`` was called.

    ``average_latency_seconds_per_item`` is wall time per inserted item, as the seed defines it
    (50 ms per item one at a time, ~5 ms at 10 in parallel); ``mean_request_latency_seconds`` is
    how long one successful item's request took. ``errors`` counts the items not inserted
    (failed, or held back behind a failure of their session: ``NotSent``). ``cut_off_items``
    were in flight when a call was cancelled: the server may have stored them (sending them
    again adds them at most once).
    """

    total_items_inserted: int = 0
    total_messages_inserted: int = 0
    total_insertion_time_seconds: float = 0.0
    batches_processed: int = 0
    errors: int = 0
    average_throughput_items_per_sec: float = 0.0
    average_latency_seconds_per_item: float = 0.0
    mean_request_latency_seconds: float = 0.0
    max_concurrent_insertions: int = 0
    peak_in_flight: int = 0
    cut_off_items: int = 0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class MetricsRecorder:
    """Adds up ``BulkResult``s; ``snapshot()`` derives the averages."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._items = 0
        self._messages = 0
        self._seconds = 0.0
        self._batches = 0
        self._errors = 0
        self._latency_sum = 0.0
        self._max_concurrency = 0
        self._peak = 0
        self._cut_off = 0

    def record(self, result: BulkResult) -> None:
        succeeded = result.succeeded
        self._items += len(succeeded)
        self._messages += sum(len(r.message_ids) for r in succeeded)
        self._seconds += result.elapsed_seconds
        self._batches += 1
        self._errors += len(result.items) - len(succeeded)
        self._latency_sum += sum(r.latency_seconds for r in succeeded)
        self._max_concurrency = result.max_concurrency
        self._peak = max(self._peak, result.peak_in_flight)
        self._cut_off += result.cut_off

    def snapshot(self) -> InsertionMetrics:
        items, seconds = self._items, self._seconds
        return InsertionMetrics(
            total_items_inserted=items,
            total_messages_inserted=self._messages,
            total_insertion_time_seconds=seconds,
            batches_processed=self._batches,
            errors=self._errors,
            average_throughput_items_per_sec=items / seconds if seconds > 0 else 0.0,
            average_latency_seconds_per_item=seconds / items if items else 0.0,
            mean_request_latency_seconds=self._latency_sum / items if items else 0.0,
            max_concurrent_insertions=self._max_concurrency,
            peak_in_flight=self._peak,
            cut_off_items=self._cut_off,
        )


__all__ = ["InsertionMetrics", "MetricsRecorder"]
