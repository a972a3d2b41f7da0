"""A user's knowledge: statements embedded and searched like M1 facts."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from memfuse_server.api.auth import OwnUser
from memfuse_server.api.deps import Service
from memfuse_server.api.envelope import ok
from memfuse_server.api.schemas import KnowledgeAdd, KnowledgeIds, KnowledgeUpdate, knowledge_json

router = APIRouter(prefix="/users/{user_id}/knowledge", tags=["knowledge"], dependencies=[OwnUser])


@router.get("", summary="List a user's knowledge")
async def list_knowledge(user_id: str, service: Service) -> Response:
    items = await service.list_knowledge(user_id)
    return ok({"knowledge": [knowledge_json(k) for k in items]})


@router.post("", status_code=201, summary="Add knowledge (embedded, searchable by query)")
async def add_knowledge(user_id: str, body: KnowledgeAdd, service: Service) -> Response:
    ids = await service.add_knowledge(user_id, body.knowledge)
    return ok({"knowledge_ids": ids}, f"{len(ids)} knowledge item(s) added", 201)


@router.post("/read", summary="Read knowledge by id")
async def read_knowledge(user_id: str, body: KnowledgeIds, service: Service) -> Response:
    items = await service.store.read_knowledge(user_id, body.knowledge_ids)
    return ok({"knowledge": [knowledge_json(k) for k in items]})


@router.put("", summary="Replace knowledge items")
async def update_knowledge(user_id: str, body: KnowledgeUpdate, service: Service) -> Response:
    await service.update_knowledge(user_id, body.knowledge_ids, body.new_knowledge)
    return ok({"knowledge_ids": body.knowledge_ids}, "Knowledge updated")


@router.delete("", summary="Delete knowledge items")
async def delete_knowledge(user_id: str, body: KnowledgeIds, service: Service) -> Response:
    await service.delete_knowledge(user_id, body.knowledge_ids)
    return ok({"knowledge_ids": body.knowledge_ids}, "Knowledge deleted")
