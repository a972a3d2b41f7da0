"""Prometheus metrics of one server process (``GET /metrics``).

Everything lives in a registry owned by the app (no process-global state), in
two kinds: instruments updated as things happen (requests, ingested messages,
embedding batches, layer timings, jobs) and values read when the endpoint is
scraped (queue depth and lag from the database, the query cache, the
connection pool). What each metric means and what to alert on is in
``docs/operations.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from memfuse_server.embeddings.batcher import Priority
from memfuse_server.jobs.throttle import ThrottleState
from memfuse_server.models import LayerTimings, QueueStats
from memfuse_server.storage.base import PoolStats

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass
class Snapshot:
    """Values read at scrape time (set by the /metrics route before rendering)."""

    queue: QueueStats | None = None
    pool: PoolStats | None = None
    cache_hits: int = 0
    cache_misses: int = 0
    parallel: bool = True
    throttle: ThrottleState | None = None


@dataclass(eq=False)  # registries keep collectors in dicts: identity hash
class _ScrapeCollector(Collector):
    snapshot: Snapshot = field(default_factory=Snapshot)

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        yield _counter("memfuse_query_cache_hits", "Queries answered from the cache.", s.cache_hits)
        yield _counter("memfuse_query_cache_misses", "Queries computed.", s.cache_misses)
        mode = GaugeMetricFamily(
            "memfuse_layers_mode", "1 for the M1/M2 mode in use.", labels=["mode"]
        )
        mode.add_metric(["parallel"], 1.0 if s.parallel else 0.0)
        mode.add_metric(["sequential"], 0.0 if s.parallel else 1.0)
        yield mode
        yield from _queue_metrics(s.queue)
        yield from _pool_metrics(s.pool)
        yield from _throttle_metrics(s.throttle)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _queue_metrics(q: QueueStats | None) -> Iterator[Metric]:
    if q is None:
        return
    yield _gauge("memfuse_jobs_pending", "Background jobs waiting to run.", q.pending)
    yield _gauge("memfuse_jobs_running", "Background jobs running (all workers).", q.running)
    yield _gauge(
        "memfuse_jobs_stalled", "Jobs whose worker's lease lapsed, waiting for a worker.", q.stalled
    )
    yield _gauge("memfuse_jobs_dead_letters", "Jobs that failed every attempt.", q.dead)
    yield _gauge(
        "memfuse_jobs_retries", "Attempts beyond the first, over the jobs kept.", q.retries
    )
    lag = q.oldest_pending_age_seconds or 0.0
    yield _gauge("memfuse_jobs_lag_seconds", "Age of the oldest pending job.", lag)


def _pool_metrics(p: PoolStats | None) -> Iterator[Metric]:
    if p is None:
        return
    yield _gauge("memfuse_db_connections_in_use", "Database connections in use.", p.in_use)
    yield _gauge("memfuse_db_waiting", "Database calls waiting for a connection.", p.waiting)
    yield _counter("memfuse_db_waits", "Database calls that had to wait.", p.waits_total)


def _throttle_metrics(t: ThrottleState | None) -> Iterator[Metric]:
    if t is None:
        return
    yield _gauge(
        "memfuse_worker_concurrency_limit", "Jobs this worker may run at once now.", t.limit
    )
    yield _gauge("memfuse_worker_concurrency_max", "worker.concurrency of this worker.", t.maximum)
    yield _gauge(
        "memfuse_worker_pause_seconds", "Pause between jobs while throttled.", t.pause_seconds
    )
    p95 = (t.request_p95_ms or 0.0) / 1000
    yield _gauge("memfuse_worker_request_p95_seconds", "Request p95 the throttle last saw.", p95)


class Metrics:
    """The instruments and the registry of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "memfuse_http_requests", "HTTP requests.", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "memfuse_http_request_seconds",
            "HTTP request latency.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.messages = Counter("memfuse_messages_ingested", "Messages stored (M0).", registry=r)
        self.batch_size = Histogram(
            "memfuse_embedding_batch_size",
            "Texts per model call.",
            ["priority"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "memfuse_embedding_batch_seconds",
            "Model call latency.",
            ["priority"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.embed_wait_seconds = Histogram(
            "memfuse_embedding_wait_seconds",
            "Time a call's texts waited for the model.",
            ["priority"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.layer_seconds = Histogram(
            "memfuse_layer_seconds",
            "Time to derive one episode's layer.",
            ["layer", "mode"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.jobs = Counter("memfuse_jobs", "Jobs finished, by outcome.", ["outcome"], registry=r)
        self.in_flight = Gauge("memfuse_http_in_flight", "HTTP requests in progress.", registry=r)
        self.scrape = _ScrapeCollector()
        r.register(self.scrape)

    def observe_batch(self, size: int, seconds: float, priority: Priority) -> None:
        self.batch_size.labels(priority.value).observe(size)
        self.batch_seconds.labels(priority.value).observe(seconds)

    def observe_embed_wait(self, seconds: float, priority: Priority) -> None:
        self.embed_wait_seconds.labels(priority.value).observe(seconds)

    def observe_layers(self, timings: LayerTimings) -> None:
        self.layer_seconds.labels("m1", timings.mode).observe(timings.m1_ms / 1000)
        self.layer_seconds.labels("m2", timings.mode).observe(timings.m2_ms / 1000)

    def render(self, snapshot: Snapshot) -> bytes:
        self.scrape.snapshot = snapshot
        return generate_latest(self.registry)


__all__ = ["Metrics", "Snapshot"]
