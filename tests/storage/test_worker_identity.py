"""A worker's identity and its earlier run's leases, on either engine.

A worker takes ``host/kind/N``, the first N no live process holds (a lock the operating
system or the database lets go when the process ends), so after a SIGKILL the restarted
worker has the same identity and requeues the jobs its dead run held at once, instead of
waiting ``worker.lease_seconds`` for their leases to lapse. Stats tell jobs running under
a live lease from jobs whose lease lapsed ("stalled", waiting for a worker).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from memfuse_server.embeddings.base import Vectors
from memfuse_server.storage import Store
from tests.storage.test_jobs_contract import closed_episode
from tests.storage.test_store_contract import add, new_session

VecFn = Callable[[int], Vectors]


async def test_an_identity_is_held_until_its_store_closes(
    store: Store, reopen: Callable[[], Store]
) -> None:
    host = socket.gethostname()
    assert await store.hold_worker_identity("worker") == f"{host}/worker/0"
    assert await store.hold_worker_identity("serve") == f"{host}/serve/0"  # kinds apart
    other = reopen()  # as another process would
    await other.open()
    assert await other.hold_worker_identity("worker") == f"{host}/worker/1"  # 0 is alive
    await other.close()
    again = reopen()
    await again.open()
    try:
        assert await again.hold_worker_identity("worker") == f"{host}/worker/1"  # free again
    finally:
        await again.close()


async def test_a_restarted_worker_requeues_what_its_dead_run_held(
    store: Store, reopen: Callable[[], Store], vectors: VecFn
) -> None:
    await closed_episode(store, vectors)
    dead = reopen()
    await dead.open()
    identity = await dead.hold_worker_identity("worker")
    (job,) = await dead.claim_jobs(identity, 1, 600)  # a long lease
    await dead.close()  # the process is gone (a SIGKILL ends its locks the same way)
    assert await store.claim_jobs("someone-else", 1, 60) == []  # the lease still holds
    assert await store.hold_worker_identity("worker") == identity  # the same identity
    assert await store.release_jobs(identity) == 1
    (again,) = await store.claim_jobs(identity, 1, 60)
    assert again.id == job.id and again.attempts == 2  # a run that kills the worker counts


async def test_stats_tell_running_from_stalled(store: Store, vectors: VecFn) -> None:
    session = await new_session(store)
    await add(store, session, ["a", "b", "c"], vectors, max_rounds=1)  # two episodes closed
    await store.claim_jobs("alive", 1, 600)
    await store.claim_jobs("dead", 1, 0.05)
    await asyncio.sleep(0.1)
    stats = await store.queue_stats()
    assert (stats.running, stats.stalled, stats.pending) == (1, 1, 0)
    assert stats.named()["queue"]["stalled"] == 1
