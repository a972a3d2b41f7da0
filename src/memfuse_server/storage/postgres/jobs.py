"""The durable job queue (the outbox), in the same database as the memory it serves.

A job is inserted in the same transaction as the change that calls for it
(closing an episode). Any number of workers, in any number of processes,
claim jobs with ``FOR UPDATE SKIP LOCKED``: two claims running at once never
take the same job, and neither waits for the other. A claimed job carries a
lease; one whose lease lapsed (its worker died) is claimed again. Failures
back off exponentially, and after ``max_attempts`` the job is a dead letter
until it is re-driven. Times are the application's clock, as on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from memfuse_server.models import JSON, Job, LayerTimings, QueueStats
from memfuse_server.storage.postgres.rows import iso

Connection = asyncpg.Connection
PROCESS_EPISODE = "process_episode"

_CLAIM = """
WITH ready AS (
    SELECT id FROM jobs
    WHERE (status = 'pending' AND run_after <= $1) OR (status = 'running' AND locked_until < $1)
    ORDER BY id LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs j SET status = 'running', attempts = j.attempts + 1, locked_by = $3,
    locked_until = $4, updated_at = $1
FROM ready WHERE j.id = ready.id
RETURNING j.id, j.kind, j.user_id, j.payload, j.attempts, j.request_id
"""

_STATS = """
SELECT
    count(*) FILTER (WHERE status = 'pending') AS pending,
    count(*) FILTER (WHERE status = 'running') AS running,
    count(*) FILTER (WHERE status = 'dead') AS dead,
    count(*) FILTER (WHERE status = 'done') AS done,
    coalesce(sum(greatest(attempts - 1, 0)), 0) AS retries,
    min(created_at) FILTER (WHERE status = 'pending') AS oldest
FROM jobs
"""

_TIMINGS = """
SELECT avg(m1_ms), avg(m2_ms) FROM (SELECT m1_ms, m2_ms FROM jobs
WHERE status = 'done' AND mode IS NOT NULL ORDER BY finished_at DESC LIMIT 100) recent
"""


async def enqueue(
    conn: Connection,
    kind: str,
    user_id: str,
    payload: JSON,
    now: datetime,
    request_id: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO jobs (kind, user_id, payload, run_after, request_id, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $4, $4)",
        kind,
        user_id,
        payload,
        now,
        request_id,
    )


async def claim(
    conn: Connection, worker_id: str, limit: int, lease: timedelta, now: datetime
) -> list[Job]:
    """Take up to ``limit`` ready jobs (pending and due, or running with a lapsed lease)."""
    rows = await conn.fetch(_CLAIM, now, limit, worker_id, now + lease)
    jobs = [Job(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
    return sorted(jobs, key=lambda j: j.id)


async def renew(
    conn: Connection, worker_id: str, ids: Sequence[int], lease: timedelta, now: datetime
) -> None:
    if ids:
        await conn.execute(
            "UPDATE jobs SET locked_until = $1 WHERE locked_by = $2 AND status = 'running'"
            " AND id = ANY($3::bigint[])",
            now + lease,
            worker_id,
            list(ids),
        )


async def complete(
    conn: Connection, job_id: int, timings: LayerTimings | None, now: datetime
) -> None:
    await conn.execute(
        "UPDATE jobs SET status = 'done', locked_by = NULL, locked_until = NULL,"
        " last_error = NULL, mode = $1, m1_ms = $2, m2_ms = $3, finished_at = $4,"
        " updated_at = $4 WHERE id = $5",
        timings.mode if timings else None,
        timings.m1_ms if timings else None,
        timings.m2_ms if timings else None,
        now,
        job_id,
    )


async def fail(
    conn: Connection, job_id: int, error: str, retry_at: datetime | None, now: datetime
) -> None:
    """Record a failure: back to pending at ``retry_at``, or dead when it is None."""
    await conn.execute(
        "UPDATE jobs SET status = $1, run_after = $2, last_error = $3, locked_by = NULL,"
        " locked_until = NULL, updated_at = $4 WHERE id = $5",
        "pending" if retry_at else "dead",
        retry_at or now,
        error[:2000],
        now,
        job_id,
    )


async def retry_dead(conn: Connection, ids: Sequence[int] | None, now: datetime) -> int:
    """Put dead letters (all, or these) back in the queue with fresh attempts."""
    sql = "UPDATE jobs SET status = 'pending', attempts = 0, run_after = $1, updated_at = $1"
    if ids is None:
        status = await conn.execute(f"{sql} WHERE status = 'dead'", now)
    else:
        status = await conn.execute(
            f"{sql} WHERE status = 'dead' AND id = ANY($2::bigint[])", now, list(ids)
        )
    return int(status.split()[-1])


async def dead_letters(conn: Connection, limit: int) -> list[JSON]:
    rows = await conn.fetch(
        "SELECT id, kind, user_id, payload, attempts, last_error, updated_at FROM jobs"
        " WHERE status = 'dead' ORDER BY id LIMIT $1",
        limit,
    )
    return [
        {
            "id": r[0],
            "kind": r[1],
            "user_id": r[2],
            "payload": r[3],
            "attempts": r[4],
            "last_error": r[5],
            "failed_at": iso(r[6]),
        }
        for r in rows
    ]


async def purge_done(conn: Connection, before: datetime) -> int:
    status = await conn.execute(
        "DELETE FROM jobs WHERE status = 'done' AND finished_at < $1", before
    )
    return int(status.split()[-1])


async def stats(conn: Connection, now: datetime) -> QueueStats:
    counts = await conn.fetchrow(_STATS)
    assert counts is not None
    m1, m2 = await conn.fetchrow(_TIMINGS) or (None, None)
    last = await conn.fetchval(
        "SELECT mode FROM jobs WHERE status = 'done' AND mode IS NOT NULL"
        " ORDER BY finished_at DESC LIMIT 1"
    )
    oldest = counts["oldest"]
    return QueueStats(
        counts["pending"],
        counts["running"],
        counts["dead"],
        counts["done"],
        int(counts["retries"]),
        (now - oldest).total_seconds() if oldest else None,
        m1,
        m2,
        last,
    )


__all__ = [
    "PROCESS_EPISODE",
    "claim",
    "complete",
    "dead_letters",
    "enqueue",
    "fail",
    "purge_done",
    "renew",
    "retry_dead",
    "stats",
]
