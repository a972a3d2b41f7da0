"""The durable job queue (the outbox), in the same database as the memory it serves.

A job is inserted in the same transaction as the change that calls for it
(closing an episode), so no acknowledged episode can miss its processing. A
worker claims jobs with a lease; a job whose lease runs out (its worker died)
is claimed again. Failures back off exponentially, and after ``max_attempts``
the job is a dead letter until it is re-driven. Times are the application's
clock on both engines.

Claiming is where the engines differ (``dialect.skip_locked``): on PostgreSQL
any number of workers in any number of processes claim with ``FOR UPDATE SKIP
LOCKED``, so two claims never take the same job and neither waits; SQLite has
one writer, which serialises claims by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from memfuse_server.models import JSON, Job, LayerTimings, QueueStats
from memfuse_server.storage.ops.rows import dt, iso, js
from memfuse_server.storage.tx import Tx

PROCESS_EPISODE = "process_episode"

_CLAIM = """
WITH ready AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE (status = 'pending' AND run_after <= $1) OR (status = 'running' AND locked_until < $1)
    ORDER BY id LIMIT $2{skip_locked}
)
UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $3,
    locked_until = $4, updated_at = $1
WHERE id IN (SELECT id FROM ready)
RETURNING id, kind, user_id, payload, attempts, request_id
"""

_STATS = """
SELECT
    coalesce(sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS pending,
    coalesce(sum(CASE WHEN status = 'running' AND locked_until >= $1 THEN 1 ELSE 0 END), 0)
        AS running,
    coalesce(sum(CASE WHEN status = 'running' AND locked_until < $1 THEN 1 ELSE 0 END), 0)
        AS stalled,
    coalesce(sum(CASE WHEN status = 'dead' THEN 1 ELSE 0 END), 0) AS dead,
    coalesce(sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END), 0) AS done,
    coalesce(sum(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0) AS retries,
    min(CASE WHEN status = 'pending' THEN created_at END) AS oldest
FROM jobs
"""

_TIMINGS = """
SELECT avg(m1_ms), avg(m2_ms) FROM (SELECT m1_ms, m2_ms FROM jobs
WHERE status = 'done' AND mode IS NOT NULL ORDER BY finished_at DESC LIMIT 100) recent
"""


async def enqueue(
    tx: Tx,
    kind: str,
    user_id: str,
    payload: JSON,
    now: datetime,
    request_id: str | None = None,
) -> None:
    await tx.execute(
        "INSERT INTO jobs (kind, user_id, payload, run_after, request_id, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $4, $4)",
        kind,
        user_id,
        payload,
        now,
        request_id,
    )


async def claim(tx: Tx, worker_id: str, limit: int, lease: timedelta, now: datetime) -> list[Job]:
    """Take up to ``limit`` ready jobs (pending and due, or running with a lapsed lease)."""
    sql = _CLAIM.format(skip_locked=tx.dialect.skip_locked)
    rows = await tx.fetch(sql, now, limit, worker_id, now + lease)
    jobs = [Job(r[0], r[1], r[2], js(r[3]), r[4], r[5]) for r in rows]
    return sorted(jobs, key=lambda j: j.id)


async def release(tx: Tx, worker_id: str, now: datetime) -> int:
    """Put the jobs still leased to ``worker_id`` back in the queue, due now: called by a
    worker that has just taken that identity, so the run that leased them has ended (a
    SIGKILL, a crash) and nobody is working on them; their leases need not lapse first."""
    return await tx.execute(
        "UPDATE jobs SET status = 'pending', run_after = $1, locked_by = NULL,"
        " locked_until = NULL, updated_at = $1 WHERE status = 'running' AND locked_by = $2",
        now,
        worker_id,
    )


async def renew(
    tx: Tx, worker_id: str, ids: Sequence[int], lease: timedelta, now: datetime
) -> None:
    if ids:
        await tx.execute(
            "UPDATE jobs SET locked_until = $1 WHERE locked_by = $2 AND status = 'running'"
            " AND id = ANY($3::bigint[])",
            now + lease,
            worker_id,
            list(ids),
        )


async def complete(tx: Tx, job_id: int, timings: LayerTimings | None, now: datetime) -> None:
    await tx.execute(
        "UPDATE jobs SET status = 'done', locked_by = NULL, locked_until = NULL,"
        " last_error = NULL, mode = $1, m1_ms = $2, m2_ms = $3, finished_at = $4,"
        " updated_at = $4 WHERE id = $5",
        timings.mode if timings else None,
        timings.m1_ms if timings else None,
        timings.m2_ms if timings else None,
        now,
        job_id,
    )


async def fail(tx: Tx, job_id: int, error: str, retry_at: datetime | None, now: datetime) -> None:
    """Record a failure: back to pending at ``retry_at``, or dead when it is None."""
    await tx.execute(
        "UPDATE jobs SET status = $1, run_after = $2, last_error = $3, locked_by = NULL,"
        " locked_until = NULL, updated_at = $4 WHERE id = $5",
        "pending" if retry_at else "dead",
        retry_at or now,
        error[:2000],
        now,
        job_id,
    )


async def retry_dead(tx: Tx, ids: Sequence[int] | None, now: datetime) -> int:
    """Put dead letters (all, or these) back in the queue with fresh attempts."""
    sql = "UPDATE jobs SET status = 'pending', attempts = 0, run_after = $1, updated_at = $1"
    if ids is None:
        return await tx.execute(f"{sql} WHERE status = 'dead'", now)
    return await tx.execute(
        f"{sql} WHERE status = 'dead' AND id = ANY($2::bigint[])", now, list(ids)
    )


async def dead_letters(tx: Tx, limit: int) -> list[JSON]:
    rows = await tx.fetch(
        "SELECT id, kind, user_id, payload, attempts, last_error, updated_at FROM jobs"
        " WHERE status = 'dead' ORDER BY id LIMIT $1",
        limit,
    )
    return [
        {
            "id": r[0],
            "kind": r[1],
            "user_id": r[2],
            "payload": js(r[3]),
            "attempts": r[4],
            "last_error": r[5],
            "failed_at": iso(r[6]),
        }
        for r in rows
    ]


async def purge_done(tx: Tx, before: datetime) -> int:
    return await tx.execute("DELETE FROM jobs WHERE status = 'done' AND finished_at < $1", before)


async def stats(tx: Tx, now: datetime) -> QueueStats:
    counts = await tx.fetchrow(_STATS, now)
    assert counts is not None
    timings = await tx.fetchrow(_TIMINGS)
    m1, m2 = (timings[0], timings[1]) if timings else (None, None)
    last = await tx.fetchval(
        "SELECT mode FROM jobs WHERE status = 'done' AND mode IS NOT NULL"
        " ORDER BY finished_at DESC LIMIT 1"
    )
    oldest = counts["oldest"]
    return QueueStats(
        int(counts["pending"]),
        int(counts["running"]),
        int(counts["dead"]),
        int(counts["done"]),
        int(counts["retries"]),
        (now - dt(oldest)).total_seconds() if oldest else None,
        m1,
        m2,
        last,
        stalled=int(counts["stalled"]),
    )


__all__ = [
    "PROCESS_EPISODE",
    "claim",
    "complete",
    "dead_letters",
    "enqueue",
    "fail",
    "purge_done",
    "release",
    "renew",
    "retry_dead",
    "stats",
]
