"""``GET /metrics``: Prometheus text format (the one route outside the JSON envelope)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from memfuse_server.api.auth import Caller
from memfuse_server.api.deps import Service
from memfuse_server.metrics import Metrics, Snapshot
from memfuse_server.storage.base import PoolStatsSource

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, service: Service, caller: Caller) -> Response:
    caller.require_admin("read the metrics")
    store = service.store
    background = request.app.state.background
    snapshot = Snapshot(
        queue=await store.queue_stats(),
        pool=store.pool_stats() if isinstance(store, PoolStatsSource) else None,
        cache_hits=service.queries.cache.hits,
        cache_misses=service.queries.cache.misses,
        parallel=service.settings.memory.parallel_enabled,
        throttle=background.worker.throttle.state if background else None,
    )
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(snapshot), media_type=CONTENT_TYPE_LATEST)
