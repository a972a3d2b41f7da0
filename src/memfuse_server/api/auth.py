"""Who is calling: API keys bound to users, and the admin key.

With ``server.api_key_validation`` off every caller may act for every user
(a local, single-person server). With it on, every route but ``/health``
needs ``Authorization: Bearer <key>``: the admin key from the settings may do
everything; a user's key reaches only that user's data, and the user's id is
passed down as ``owner`` so it becomes a predicate of every storage query.
Keys are random 256-bit tokens, so a SHA-256 of the key is what is stored and
looked up (a slow password hash buys nothing for keys nobody can guess).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from memfuse_server.config import ServerSettings
from memfuse_server.errors import Forbidden, Unauthorized
from memfuse_server.models import utcnow
from memfuse_server.storage.base import ApiKeyStore

KEY_PREFIX = "mf_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The caller: the admin (``user_id`` None) or one user."""

    user_id: str | None

    @property
    def admin(self) -> bool:
        return self.user_id is None

    @property
    def owner(self) -> str | None:
        """The user every storage query of this request is scoped to (None: no scope)."""
        return self.user_id

    def require_user(self, user_id: str) -> None:
        if not self.admin and user_id != self.user_id:
            raise Forbidden(
                "This API key belongs to another user; it cannot reach this user's data."
            )

    def require_admin(self, action: str) -> None:
        if not self.admin:
            raise Forbidden(f"Only the admin key may {action}.")


ANYONE = Principal(None)


class Authenticator:
    def __init__(self, settings: ServerSettings, keys: ApiKeyStore) -> None:
        self._enabled = settings.api_key_validation
        self._admin = settings.admin_api_key.get_secret_value()
        self._keys = keys

    async def principal(self, authorization: str | None) -> Principal:
        if not self._enabled:
            return ANYONE
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("This server needs an API key: send 'Authorization: Bearer <key>'.")
        key = key.strip()
        if self._admin and hmac.compare_digest(key.encode(), self._admin.encode()):
            return ANYONE
        found = await self._keys.find_api_key(hash_key(key))
        if found is None:
            raise Unauthorized("The API key is not valid; check it or create a new one.")
        if found.expires_at is not None and found.expires_at <= utcnow():
            raise Unauthorized("The API key has expired; create a new one.")
        return Principal(found.user_id)


async def authenticate(request: Request) -> Principal:
    authenticator: Authenticator = request.app.state.auth
    return await authenticator.principal(request.headers.get("authorization"))


Caller = Annotated[Principal, Depends(authenticate)]


async def own_user(user_id: str, caller: Caller) -> None:
    """For routes under ``/users/{user_id}``: the key must be that user's (or the admin's)."""
    caller.require_user(user_id)


OwnUser = Depends(own_user)

__all__ = [
    "ANYONE",
    "Authenticator",
    "Caller",
    "OwnUser",
    "Principal",
    "authenticate",
    "hash_key",
    "new_key",
    "own_user",
]
