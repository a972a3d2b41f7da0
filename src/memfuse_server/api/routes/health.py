"""Liveness: never includes secrets or configuration values."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from memfuse_server import __version__
from memfuse_server.api.deps import Service
from memfuse_server.api.envelope import ok

router = APIRouter(tags=["health"])


@router.get("/health", summary="Is the server up")
async def health(service: Service) -> Response:
    return ok({"status": "ok", "version": __version__}, "MemFuse server is running")
