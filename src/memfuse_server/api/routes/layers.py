"""Inspection of M1 and M2 (ext): a user's facts, entities, relations, and an entity's neighbourhood."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from memfuse_server.api.auth import OwnUser
from memfuse_server.api.deps import Service
from memfuse_server.api.envelope import ok
from memfuse_server.api.schemas import aware, item_json
from memfuse_server.errors import InvalidInput
from memfuse_server.models import ItemKind, utcnow

router = APIRouter(prefix="/users/{user_id}", tags=["memory layers"], dependencies=[OwnUser])

Limit = Query(default=50, ge=1, le=1000)
Offset = Query(default=0, ge=0)
Current = Query(default=False, description="Only what holds now (not ended or superseded)")
AsOf = Query(default=None, description="Only what held at this time (ISO-8601)")


def _moment(current: bool = Current, as_of: datetime | None = AsOf) -> datetime | None:
    """The time a listing is as of: now (``current=true``), ``as_of``, or none (everything)."""
    if current and as_of is not None:
        raise InvalidInput("Give either current=true or as_of, not both.")
    return utcnow() if current else (aware(as_of) if as_of else None)


Moment = Annotated[datetime | None, Depends(_moment)]


async def _page(
    service: Service,
    user_id: str,
    kind: ItemKind,
    limit: int,
    offset: int,
    moment: datetime | None = None,
) -> Any:
    items = await service.list_items(user_id, kind, limit, offset, moment)
    return [item_json(i) for i in items]


@router.get("/facts", summary="The user's M1 facts, newest first, with their source messages")
async def list_facts(
    user_id: str, service: Service, moment: Moment, limit: int = Limit, offset: int = Offset
) -> Response:
    return ok({"facts": await _page(service, user_id, ItemKind.FACT, limit, offset, moment)})


@router.get("/entities", summary="The user's M2 entities, newest first")
async def list_entities(
    user_id: str, service: Service, limit: int = Limit, offset: int = Offset
) -> Response:
    return ok({"entities": await _page(service, user_id, ItemKind.ENTITY, limit, offset)})


@router.get("/relations", summary="The user's M2 relations, newest first")
async def list_relations(
    user_id: str, service: Service, moment: Moment, limit: int = Limit, offset: int = Offset
) -> Response:
    page = await _page(service, user_id, ItemKind.RELATION, limit, offset, moment)
    return ok({"relations": page})


@router.get("/entities/{entity_id}", summary="An entity with its relations, neighbours and facts")
async def get_entity(
    user_id: str, entity_id: str, service: Service, limit: int = Limit
) -> Response:
    found = await service.neighbourhood(user_id, entity_id, limit)
    return ok(
        {
            "entity": item_json(found["entity"]),
            "relations": [item_json(r) for r in found["relations"]],
            "facts": [item_json(f) for f in found["facts"]],
        }
    )
