"""Users and agents (the same five routes over a named record), and get-or-create by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from memfuse_server.client.errors import ConflictError, NotFoundError
from memfuse_server.client.models import Agent, User

T = TypeVar("T")
R = TypeVar("R", User, Agent)


class Named(ABC):
    """The user and agent methods of ``AsyncClient``; subclasses provide ``_call``."""

    @abstractmethod
    async def _call(self, method: str, path: str, **kwargs: Any) -> Any: ...

    async def _get_or_create(
        self, find: Callable[[], Awaitable[T | None]], create: Callable[[], Awaitable[T]]
    ) -> T:
        """``find()``, else ``create()``; a create that lost a race (409) finds the winner."""
        found = await find()
        if found is not None:
            return found
        try:
            return await create()
        except ConflictError:
            found = await find()
            if found is None:
                raise
            return found

    async def _list(self, model: type[R], plural: str, name: str | None) -> list[R]:
        params = {"name": name}
        data = await self._call("GET", f"/{plural}", params=params, idempotent=True)
        return [model.model_validate(r) for r in data[plural]]

    async def _find(self, model: type[R], plural: str, name: str) -> R | None:
        try:
            found = await self._list(model, plural, name)
        except NotFoundError:
            return None
        return found[0] if found else None

    async def _create(self, model: type[R], plural: str, name: str, description: str | None) -> R:
        body = {"name": name, "description": description}
        # Creating an agent is idempotent on the server (same name: the same agent).
        data = await self._call("POST", f"/{plural}", body=body, idempotent=plural == "agents")
        return model.model_validate(data[plural[:-1]])

    async def _get(self, model: type[R], plural: str, item_id: str) -> R:
        data = await self._call("GET", f"/{plural}/{item_id}", idempotent=True)
        return model.model_validate(data[plural[:-1]])

    async def _update(
        self,
        model: type[R],
        plural: str,
        item_id: str,
        name: str | None,
        description: str | None,
    ) -> R:
        body = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
        data = await self._call("PUT", f"/{plural}/{item_id}", body=body, idempotent=True)
        return model.model_validate(data[plural[:-1]])

    async def _delete(self, plural: str, item_id: str) -> str:
        data = await self._call("DELETE", f"/{plural}/{item_id}", idempotent=True)
        return str(data[f"{plural[:-1]}_id"])

    # users
    async def list_users(self, name: str | None = None) -> list[User]:
        """All users, or the one named (none: ``NotFoundError``)."""
        return await self._list(User, "users", name)

    async def find_user(self, name: str) -> User | None:
        return await self._find(User, "users", name)

    async def create_user(self, name: str, description: str | None = None) -> User:
        """A new user (a taken name: ``ConflictError``)."""
        return await self._create(User, "users", name, description)

    async def get_or_create_user(self, name: str, description: str | None = None) -> User:
        return await self._get_or_create(
            lambda: self.find_user(name), lambda: self.create_user(name, description)
        )

    async def get_user(self, user_id: str) -> User:
        return await self._get(User, "users", user_id)

    async def update_user(
        self, user_id: str, name: str | None = None, description: str | None = None
    ) -> User:
        return await self._update(User, "users", user_id, name, description)

    async def delete_user(self, user_id: str) -> str:
        """Delete a user and everything of theirs."""
        return await self._delete("users", user_id)

    # agents
    async def list_agents(self, name: str | None = None) -> list[Agent]:
        """All agents, or the one named (none: ``NotFoundError``)."""
        return await self._list(Agent, "agents", name)

    async def find_agent(self, name: str) -> Agent | None:
        return await self._find(Agent, "agents", name)

    async def create_agent(self, name: str, description: str | None = None) -> Agent:
        """The agent of this name, created if new (the server answers the existing one)."""
        return await self._create(Agent, "agents", name, description)

    async def get_or_create_agent(self, name: str, description: str | None = None) -> Agent:
        return await self._get_or_create(
            lambda: self.find_agent(name), lambda: self.create_agent(name, description)
        )

    async def get_agent(self, agent_id: str) -> Agent:
        return await self._get(Agent, "agents", agent_id)

    async def update_agent(
        self, agent_id: str, name: str | None = None, description: str | None = None
    ) -> Agent:
        return await self._update(Agent, "agents", agent_id, name, description)

    async def delete_agent(self, agent_id: str) -> str:
        return await self._delete("agents", agent_id)


__all__ = ["Named"]
