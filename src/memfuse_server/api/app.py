"""The ASGI application: routes, error mapping, middleware, and the lifespan
that builds the store, the embedder and the service from the settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import Depends, FastAPI
from starlette.middleware.cors import CORSMiddleware

from memfuse_server import __version__
from memfuse_server.api import errors
from memfuse_server.api.auth import Authenticator, authenticate
from memfuse_server.api.docs import install_docs
from memfuse_server.api.envelope import EnvelopeResponse
from memfuse_server.api.middleware import BodyGuard, InFlightLimit, RequestLog, TrailingSlash
from memfuse_server.api.routes import (
    api_keys,
    export,
    forget,
    health,
    knowledge,
    layers,
    messages,
    named,
    query,
    sessions,
    stats,
)
from memfuse_server.api.routes import metrics as metrics_route
from memfuse_server.background import Background, build_background
from memfuse_server.config import Settings
from memfuse_server.embeddings import MicroBatcher, build_embedder, build_token_counter
from memfuse_server.metrics import Metrics
from memfuse_server.service import MemoryService
from memfuse_server.storage import Store, open_store
from memfuse_server.ui import mount_ui

PREFIX = "/api/v1"
log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[MemoryService]:
    """Open everything the service needs; close it all in reverse order."""
    store = open_store(settings)
    await store.open()
    embedder = build_embedder(settings.embedding)
    try:
        service = MemoryService(settings, store, embedder, build_token_counter(settings.embedding))
        yield service
    finally:
        await embedder.aclose()
        await store.close()


def _instrument(service: MemoryService, metrics: Metrics) -> None:
    service.on_ingest = metrics.messages.inc
    if isinstance(service.embedder, MicroBatcher):
        service.embedder.observer = metrics.observe_batch
        service.embedder.wait_observer = metrics.observe_embed_wait


def _instrument_background(background: Background, metrics: Metrics) -> None:
    background.on_timings = metrics.observe_layers
    background.worker.on_outcome = lambda outcome: metrics.jobs.labels(outcome).inc()


async def _warm_up(store: Store) -> None:
    """The store's warm-up, beside the requests; a failure only costs the first searches."""
    try:
        await store.warm_up()
    except Exception:
        log.warning("store warm-up failed; searches load what they need", exc_info=True)


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings, opened: MemoryService | None = None) -> FastAPI:
    """The application; ``opened`` is a running service to use (else it opens its own)."""
    metrics = Metrics()
    service_context = (
        running_service if opened is None else lambda _: contextlib.nullcontext(opened)
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_context(settings) as service, contextlib.AsyncExitStack() as stack:
            app.state.service = service
            app.state.auth = Authenticator(settings.server, service.store)
            app.state.background = None
            _instrument(service, metrics)
            stack.push_async_callback(_stopped, asyncio.create_task(_warm_up(service.store)))
            await stack.enter_async_context(mcp.session_manager.run())
            if settings.worker.enabled:
                background = build_background(settings, service.store, service.embedder)
                _instrument_background(background, metrics)
                await stack.enter_async_context(background.running())
                service.on_write = background.worker.wake
                service.on_latency = background.worker.throttle.observe
                app.state.background = background
            yield

    app = FastAPI(
        title="memfuse-server",
        version=__version__,
        description="A long-term memory server for LLM agents that speaks the MemFuse API.",
        lifespan=lifespan,
        default_response_class=EnvelopeResponse,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,  # served from packaged files below, never a CDN
        redoc_url=None,
    )
    app.state.metrics = metrics
    app.include_router(health.router, prefix=PREFIX)
    app.include_router(metrics_route.router, dependencies=[Depends(authenticate)])
    for router in (
        named.users,
        named.agents,
        sessions.router,
        messages.router,
        knowledge.router,
        query.router,
        layers.router,
        forget.router,
        export.router,
        api_keys.router,
        stats.router,
    ):
        app.include_router(router, prefix=PREFIX, dependencies=[Depends(authenticate)])
    install_docs(app, PREFIX)
    from memfuse_server.mcp_server.server import mount_mcp  # it imports api.auth: not at the top

    mcp = mount_mcp(app, settings)  # MCP (streamable HTTP) at /mcp, behind the same keys
    mount_ui(app)  # the memory browser at /ui (static files; its API calls carry the key)
    errors.install(app)
    if settings.server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(BodyGuard, limit=settings.server.max_body_bytes)
    app.add_middleware(TrailingSlash)
    app.add_middleware(InFlightLimit, limit=settings.server.max_in_flight)
    app.add_middleware(RequestLog, metrics=metrics)
    return app


__all__ = ["create_app", "running_service"]
