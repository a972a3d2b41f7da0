"""M0 messages of a session: add (durable before the 201), list, read, update, delete."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from memfuse_server.api.auth import Caller
from memfuse_server.api.deps import Service
from memfuse_server.api.envelope import ok
from memfuse_server.api.schemas import MessageIds, MessagesAdd, MessagesUpdate, message_json
from memfuse_server.errors import PayloadTooLarge
from memfuse_server.storage import MessageQuery

router = APIRouter(prefix="/sessions/{session_id}/messages", tags=["messages"])


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="The same key again (for this session) returns the first answer and adds nothing.",
    ),
]


@router.post("", status_code=201, summary="Add messages; answers after they are committed")
async def add_messages(
    session_id: str,
    body: MessagesAdd,
    service: Service,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    limit = service.settings.server.max_messages_per_request
    if len(body.messages) > limit:
        raise PayloadTooLarge(
            f"The request has {len(body.messages)} messages; at most {limit} are accepted per"
            " request. Split it into smaller batches."
        )
    digest = hashlib.sha256(orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS))
    messages = [m.to_domain() for m in body.messages]
    ids = await service.add_messages(
        session_id, messages, idempotency_key, digest.hexdigest(), caller.owner
    )
    return ok({"message_ids": ids}, f"{len(ids)} message(s) added", 201)


@router.get("", summary="List messages (buffer_only: true = open window, false = handed on)")
async def list_messages(
    session_id: str,
    service: Service,
    caller: Caller,
    limit: int = Query(default=20, ge=1, le=1000),
    sort_by: Literal["timestamp", "created_at"] = "timestamp",
    order: Literal["asc", "desc"] = "desc",
    buffer_only: bool | None = None,
) -> Response:
    query = MessageQuery(limit=limit, descending=order == "desc", in_buffer=buffer_only)
    messages = await service.list_messages(session_id, query, caller.owner)
    return ok({"messages": [message_json(m) for m in messages]})


@router.post("/read", summary="Read messages by id (any unknown id: 404)")
async def read_messages(
    session_id: str, body: MessageIds, service: Service, caller: Caller
) -> Response:
    messages = await service.store.read_messages(session_id, body.message_ids, caller.owner)
    return ok({"messages": [message_json(m) for m in messages]})


@router.put("", summary="Replace messages; what was derived from them is re-derived")
async def update_messages(
    session_id: str, body: MessagesUpdate, service: Service, caller: Caller
) -> Response:
    new = [m.to_domain() for m in body.new_messages]
    await service.update_messages(session_id, body.message_ids, new, caller.owner)
    return ok({"message_ids": body.message_ids}, "Messages updated")


@router.delete("", summary="Delete messages and what was derived from them")
async def delete_messages(
    session_id: str, body: MessageIds, service: Service, caller: Caller
) -> Response:
    await service.delete_messages(session_id, body.message_ids, caller.owner)
    return ok({"message_ids": body.message_ids}, "Messages deleted")
