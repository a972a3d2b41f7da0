"""Deleting derived memory (ext): a fact, an entity (with its relations) or a relation.

The deletion is recorded (``storage/ops/forgetting.py``), so processing the episode it came
from again (an edit of one of its turns, a retried job) does not bring it back.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from memfuse_server.api.auth import OwnUser
from memfuse_server.api.deps import Service
from memfuse_server.api.envelope import ok
from memfuse_server.models import ItemKind

router = APIRouter(prefix="/users/{user_id}", tags=["memory layers"], dependencies=[OwnUser])


def _deletion(kind: ItemKind, plural: str, also: str = "") -> None:
    noun = kind.value

    async def delete(user_id: str, item_id: str, service: Service) -> Response:
        await service.forget_items(user_id, kind, [item_id])
        return ok({f"{noun}_id": item_id}, f"{noun.capitalize()} deleted")

    router.add_api_route(
        f"/{plural}/{{item_id}}",
        delete,
        methods=["DELETE"],
        name=f"delete_{noun}",
        summary=f"Delete a {noun}{also}; it is not derived again",
    )


_deletion(ItemKind.FACT, "facts")
_deletion(ItemKind.ENTITY, "entities", " and its relations")
_deletion(ItemKind.RELATION, "relations")

__all__ = ["router"]
