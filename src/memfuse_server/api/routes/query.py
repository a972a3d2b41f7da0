"""Query a user's memory across layers."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from memfuse_server.api.auth import OwnUser
from memfuse_server.api.deps import Service
from memfuse_server.api.envelope import ok
from memfuse_server.api.schemas import QueryIn, result_json
from memfuse_server.retrieval.search import MemoryQuery

router = APIRouter(tags=["query"], dependencies=[OwnUser])


@router.post("/users/{user_id}/query", summary="The most relevant memories of a user")
async def query(user_id: str, body: QueryIn, service: Service) -> Response:
    q = MemoryQuery(user_id, body.query, body.top_k, body.session_id, body.agent_id, body.as_of)
    results = await service.query(q)
    data = [result_json(r, user_id) for r in results]
    return ok({"results": data, "total": len(data)})
