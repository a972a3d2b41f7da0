"""How many pooled connections a process needs, checked before it starts.

Every store call holds one connection for one transaction, so the most a
process needs at once is the sum of what runs concurrently in it:

- each job in flight (``worker.concurrency`` of them) writes its layers at once:
  facts beside the graph when ``memory.parallel_enabled``, and entities beside
  relations when ``storage.parallel_writes`` — up to 3 connections per job;
- the worker's own loop (claim, lease renewal, idle-window sweep): 1;
- the API: a query asks the vector, full-text and graph retrievers at once (3),
  plus one connection for a write arriving meanwhile (4).

What counts depends on the process (``ProcessKind``): ``serve`` has the API and, unless
``worker.enabled`` is false, a worker; ``memfuse-server worker`` has only the worker.

A pool smaller than that makes the parallel writes of one job wait for each
other's connections behind ``acquire_timeout_seconds`` and fail as 503s or
retries under load — in effect a pool deadlock. Such a configuration is
refused at start with the numbers to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from memfuse_server.config import Settings
from memfuse_server.errors import ConfigurationError
from memfuse_server.models import ProcessKind

API_CONNECTIONS = 4
WORKER_LOOP_CONNECTIONS = 1


def writes_per_job(settings: Settings) -> int:
    """Connections one episode job holds at its widest moment."""
    graph = 2 if settings.storage.parallel_writes else 1
    return 1 + graph if settings.memory.parallel_enabled else graph


@dataclass(frozen=True)
class PoolNeeds:
    jobs: int
    worker_loop: int
    api: int

    @property
    def total(self) -> int:
        return self.jobs + self.worker_loop + self.api


def pool_needs(settings: Settings, kind: ProcessKind = ProcessKind.SERVE) -> PoolNeeds:
    api = 0 if kind is ProcessKind.WORKER else API_CONNECTIONS
    if kind is not ProcessKind.WORKER and not settings.worker.enabled:
        return PoolNeeds(0, 0, api)
    jobs = settings.worker.concurrency * writes_per_job(settings)
    return PoolNeeds(jobs, WORKER_LOOP_CONNECTIONS, api)


def _detail(settings: Settings, needs: PoolNeeds) -> str:
    parts = []
    if needs.jobs:
        parts.append(
            f"worker.concurrency ({settings.worker.concurrency}) x {writes_per_job(settings)}"
            f" parallel writes per job + {WORKER_LOOP_CONNECTIONS} for the worker loop"
        )
    if needs.api:
        parts.append(f"{API_CONNECTIONS} for the API")
    return " + ".join(parts)


def check_pool(settings: Settings, kind: ProcessKind = ProcessKind.SERVE) -> PoolNeeds:
    """Refuse a pool too small for what this kind of process runs (``ConfigurationError``)."""
    needs = pool_needs(settings, kind)
    db = settings.database
    size = db.pool_size + db.max_overflow
    if size >= needs.total:
        return needs
    detail = _detail(settings, needs)
    raise ConfigurationError(
        f"The database pool is too small for this configuration and could deadlock: {detail}"
        f" = {needs.total} connections needed at once, but database.pool_size +"
        f" database.max_overflow = {db.pool_size} + {db.max_overflow} = {size}. Raise"
        f" database.max_overflow to at least {needs.total - db.pool_size}, or lower"
        " worker.concurrency, or set storage.parallel_writes: false."
    )


__all__ = ["PoolNeeds", "check_pool", "pool_needs", "writes_per_job"]
