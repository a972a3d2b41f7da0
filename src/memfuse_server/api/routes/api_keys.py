"""A user's API keys: created (the key shown once), listed (masked), deleted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field, StringConstraints, field_validator
from starlette.responses import Response

from memfuse_server.api.auth import OwnUser, hash_key, new_key
from memfuse_server.api.deps import Service
from memfuse_server.api.envelope import ok
from memfuse_server.api.schemas import Body
from memfuse_server.models import JSON, ApiKey

router = APIRouter(prefix="/users/{user_id}/api-keys", tags=["api keys"], dependencies=[OwnUser])


class ApiKeyCreate(Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = None
    key: Annotated[str, StringConstraints(min_length=16, max_length=256)] | None = Field(
        default=None, description="your own key (at least 16 characters); generated when absent"
    )
    permissions: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=32
    )
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def key_json(key: ApiKey, secret: str = "********") -> JSON:
    return {
        "id": key.id,
        "user_id": key.user_id,
        "name": key.name,
        "key": secret,
        "permissions": list(key.permissions),
        "created_at": key.created_at,
        "expires_at": key.expires_at,
    }


@router.get("", summary="List a user's API keys (the keys themselves are never shown again)")
async def list_keys(user_id: str, service: Service) -> Response:
    await service.store.get_user(user_id)
    keys = await service.store.list_api_keys(user_id)
    return ok({"api_keys": [key_json(k) for k in keys]})


@router.post("", status_code=201, summary="Create an API key bound to this user (shown once)")
async def create_key(user_id: str, body: ApiKeyCreate, service: Service) -> Response:
    secret = body.key or new_key()
    created = await service.store.create_api_key(
        user_id, body.name, hash_key(secret), body.permissions, body.expires_at
    )
    return ok({"api_key": key_json(created, secret)}, "API key created: store it now", 201)


@router.delete("/{key_id}", summary="Delete an API key")
async def delete_key(user_id: str, key_id: str, service: Service) -> Response:
    await service.store.delete_api_key(user_id, key_id)
    return ok({"key_id": key_id}, "API key deleted")
