"""FastAPI dependencies: the service comes from the app's lifespan state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from memfuse_server.service import MemoryService


def get_service(request: Request) -> MemoryService:
    service: MemoryService = request.app.state.service
    return service


Service = Annotated[MemoryService, Depends(get_service)]

__all__ = ["Service", "get_service"]
