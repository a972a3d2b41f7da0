"""Users and agents: the same five routes over a named record.

They differ in two rules. Creating an agent whose name exists returns the
existing agent (200, idempotent: the SDK creates agents concurrently), while
creating a user whose name is taken is a conflict (409). And users are
private: a user's API key sees and changes only its own user, and only the
admin key creates users; agents are shared by every user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from memfuse_server.api.auth import Caller, Principal
from memfuse_server.api.deps import Service
from memfuse_server.api.envelope import ok
from memfuse_server.api.schemas import NamedCreate, NamedUpdate, user_json
from memfuse_server.errors import Conflict, NotFound
from memfuse_server.service import MemoryService

Record = Any


@dataclass(frozen=True)
class Spec:
    noun: str  # "user"
    plural: str  # "users"
    create: Callable[[MemoryService, str, str | None], Awaitable[tuple[Record, bool]]]
    get: Callable[[MemoryService, str], Awaitable[Record]]
    find: Callable[[MemoryService, str | None, str | None], Awaitable[list[Record]]]
    update: Callable[[MemoryService, str, str | None, str | None], Awaitable[Record]]
    delete: Callable[[MemoryService, str], Awaitable[None]]
    private: bool  # users: each key reaches only its own; agents: shared

    def may_read(self, caller: Principal, item_id: str) -> None:
        if self.private:
            caller.require_user(item_id)

    def may_change(self, caller: Principal, item_id: str) -> None:
        """A user may change its own user; shared agents only the admin changes."""
        if self.private:
            caller.require_user(item_id)
        else:
            caller.require_admin(f"change or delete {self.plural} (every user shares them)")

    def may_create(self, caller: Principal) -> None:
        if self.private:
            caller.require_admin(f"create {self.plural}")


def named_router(spec: Spec) -> APIRouter:
    router = APIRouter(prefix=f"/{spec.plural}", tags=[spec.plural])
    title = spec.noun.capitalize()

    @router.get("", summary=f"List {spec.plural}, or find one by name")
    async def find(service: Service, caller: Caller, name: str | None = None) -> Response:
        found = await spec.find(service, name, caller.owner if spec.private else None)
        if name is not None and not found:
            raise NotFound(f"{title} named {name!r} not found.")
        return ok({spec.plural: [user_json(r) for r in found]})

    @router.post("", status_code=201, summary=f"Create a {spec.noun}")
    async def create(body: NamedCreate, service: Service, caller: Caller) -> Response:
        spec.may_create(caller)
        record, created = await spec.create(service, body.name, body.description)
        if created:
            return ok({spec.noun: user_json(record)}, f"{title} created", 201)
        if not spec.private:
            return ok({spec.noun: user_json(record)}, f"{title} already exists", 200)
        raise Conflict(f"{title} name {body.name!r} is already taken; choose another name.")

    @router.get("/{item_id}", summary=f"Get a {spec.noun}")
    async def get(item_id: str, service: Service, caller: Caller) -> Response:
        spec.may_read(caller, item_id)
        return ok({spec.noun: user_json(await spec.get(service, item_id))})

    @router.put("/{item_id}", summary=f"Update a {spec.noun}")
    async def update(item_id: str, body: NamedUpdate, service: Service, caller: Caller) -> Response:
        spec.may_change(caller, item_id)
        record = await spec.update(service, item_id, body.name, body.description)
        return ok({spec.noun: user_json(record)}, f"{title} updated")

    @router.delete("/{item_id}", summary=f"Delete a {spec.noun} and everything it owns")
    async def delete(item_id: str, service: Service, caller: Caller) -> Response:
        spec.may_change(caller, item_id)
        await spec.delete(service, item_id)
        return ok({f"{spec.noun}_id": item_id}, f"{title} deleted")

    return router


users = named_router(
    Spec(
        noun="user",
        plural="users",
        create=lambda s, n, d: s.store.create_user(n, d),
        get=lambda s, i: s.store.get_user(i),
        find=lambda s, n, owner: s.store.find_users(n, owner),
        update=lambda s, i, n, d: s.store.update_user(i, n, d),
        delete=lambda s, i: s.store.delete_user(i),
        private=True,
    )
)
agents = named_router(
    Spec(
        noun="agent",
        plural="agents",
        create=lambda s, n, d: s.store.create_agent(n, d),
        get=lambda s, i: s.store.get_agent(i),
        find=lambda s, n, _owner: s.store.find_agents(n),
        update=lambda s, i, n, d: s.store.update_agent(i, n, d),
        delete=lambda s, i: s.store.delete_agent(i),
        private=False,
    )
)

__all__ = ["agents", "users"]
