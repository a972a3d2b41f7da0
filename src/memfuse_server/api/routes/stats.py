"""Operational statistics (ext): the background queue, the layers, caches and the embedder."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from starlette.responses import Response

from memfuse_server.api.deps import Service
from memfuse_server.api.envelope import ok
from memfuse_server.jobs.throttle import ThrottleState

router = APIRouter(tags=["stats"])


@router.get("/stats", summary="Queue depth, in-flight, retries, dead letters, lag, layer timings")
async def stats(request: Request, service: Service) -> Response:
    named = (await service.store.queue_stats()).named()
    background = request.app.state.background
    cache = service.queries.cache
    embedder = getattr(service.embedder, "stats", None)
    return ok(
        {
            "queue": named["queue"],
            "layers": {
                "mode": "parallel" if service.settings.memory.parallel_enabled else "sequential",
                **named["layers"],
            },
            "worker": {
                "in_process": background is not None,
                "in_flight": background.worker.in_flight if background else 0,
                "concurrency": service.settings.worker.concurrency,
                "throttle": _throttle(background.worker.throttle.state) if background else None,
            },
            "query_cache": {"hits": cache.hits, "misses": cache.misses},
            "embedder": asdict(embedder) if embedder is not None else None,
        }
    )


def _throttle(state: ThrottleState) -> dict[str, object]:
    return {**asdict(state), "throttled": state.throttled}
