"""The memory tools an agent calls over MCP, each a short call into ``MemoryService``.

Every tool acts for one user: a user's API key acts for its own user only (naming
another is refused); the admin key, or a server without keys, names any user (by
name or id), or the one called ``default``. Results are short previews with ids and
provenance (session, time, the messages a fact came from), never whole histories:
``get_memory`` gives one item in full.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from memfuse_server.api.auth import Principal
from memfuse_server.errors import Forbidden, InvalidInput, NotFound
from memfuse_server.models import ItemKind, MemoryItem, Message, NewMessage, Role, User
from memfuse_server.retrieval.search import MemoryQuery
from memfuse_server.service import MemoryService
from memfuse_server.storage.base import MessageQuery

PREVIEW_CHARS = 240
FULL_CHARS = 20_000
AGENT = "mcp"  # the agent of sessions made through these tools
DEFAULT_SESSION = "mcp"
DEFAULT_USER = "default"


@dataclass(frozen=True)
class Caller:
    """Who calls (from the API key) and the service the call runs on."""

    service: MemoryService
    principal: Principal


UserArg = Annotated[
    str | None,
    Field(
        description="Whose memory: a user name or id. With a user's API key it is that user"
        " (leave it out); otherwise left out means the user named 'default'."
    ),
]
SessionArg = Annotated[
    str | None,
    Field(description="A session (conversation thread) name or id; left out: all sessions."),
]
Limit = Annotated[int, Field(ge=1, le=100, description="At most this many results.")]
Offset = Annotated[int, Field(ge=0, description="Skip this many (for the next page).")]
QueryArg = Annotated[
    str, Field(min_length=1, max_length=10_000, description="What to recall, in words.")
]
EntityArg = Annotated[
    str, Field(min_length=1, max_length=255, description="An entity's name or id.")
]
MemoryId = Annotated[str, Field(min_length=1, max_length=64, description="A memory's id.")]


class MessageArg(BaseModel):
    role: Literal["user", "assistant", "system", "tool"] = Field(
        description="Who said it: user, assistant, system or tool."
    )
    content: str = Field(min_length=1, max_length=100_000, description="What was said.")
    name: str | None = Field(default=None, max_length=255, description="The speaker's name.")


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def item_view(item: MemoryItem, *, full: bool = False) -> dict[str, Any]:
    """A memory with its provenance; its text cut to a preview unless ``full``."""
    view: dict[str, Any] = {
        "id": item.id,
        "type": item.kind.value,
        "text": preview(item.content, FULL_CHARS if full else PREVIEW_CHARS),
        "created_at": item.created_at.isoformat(),
    }
    if item.role:
        view["role"] = item.role
    if item.session_id:
        view["session"] = {"id": item.session_id, "name": item.session_name}
    if item.source_message_ids:
        view["source_message_ids"] = list(item.source_message_ids[:10])
    return view


def message_view(message: Message, session: str) -> dict[str, Any]:
    return {
        "id": message.id,
        "type": ItemKind.MESSAGE.value,
        "role": message.role.value,
        "text": preview(message.content),
        "created_at": message.created_at.isoformat(),
        "session": {"id": message.session_id, "name": session},
    }


class MemoryTools:
    """The tools, bound to a way of finding the caller of each call."""

    def __init__(self, caller_of: Callable[[Context], Caller]) -> None:
        self._caller_of = caller_of

    async def _user(
        self, ctx: Context, user: str | None, *, create: bool = False
    ) -> tuple[Caller, User]:
        caller = self._caller_of(ctx)
        own = caller.principal.user_id
        if own is not None:
            found = await caller.service.user_named(own, create=False)
            if user is not None and user not in (found.id, found.name):
                raise Forbidden("This API key belongs to another user; leave out 'user'.")
            return caller, found
        return caller, await caller.service.user_named(user or DEFAULT_USER, create=create)

    async def add_memory(
        self,
        ctx: Context,
        text: Annotated[
            str | None,
            Field(max_length=100_000, description="One thing to remember, said by the user."),
        ] = None,
        messages: Annotated[
            list[MessageArg] | None,
            Field(max_length=1000, description="Or: conversation turns to remember, in order."),
        ] = None,
        user: UserArg = None,
        session: Annotated[
            str | None,
            Field(
                max_length=255,
                description="The session (conversation thread) name; made when new. Default: 'mcp'.",
            ),
        ] = None,
        created_at: Annotated[
            datetime | None, Field(description="When it was said (ISO 8601); default: now.")
        ] = None,
    ) -> dict[str, Any]:
        """Remember text or conversation turns for a user.

        The memory is searchable at once; facts and a knowledge graph are derived from it in
        the background (see get_facts and get_entity).
        """
        turns = _turns(text, messages, created_at)
        caller, owner = await self._user(ctx, user, create=True)
        found = await caller.service.session_named(owner.id, AGENT, session or DEFAULT_SESSION)
        ids = await caller.service.add_messages(found.id, turns, owner=owner.id)
        return {"user": owner.name, "session": {"id": found.id, "name": found.name}, "ids": ids}

    async def search_memory(
        self,
        ctx: Context,
        query: QueryArg,
        user: UserArg = None,
        session: SessionArg = None,
        top_k: Annotated[int, Field(ge=1, le=50, description="How many results.")] = 5,
    ) -> dict[str, Any]:
        """Find a user's memories most relevant to a query.

        Searches every layer at once: messages, conversation chunks, facts, entities and
        relations. Each result has a score (0..1), its type, a preview and where it came from.
        """
        caller, owner = await self._user(ctx, user)
        session_id = (await self._session(caller, owner, session)) if session else None
        results = await caller.service.query(MemoryQuery(owner.id, query, top_k, session_id))
        return {
            "user": owner.name,
            "results": [{**item_view(r.item), "score": round(r.score, 4)} for r in results],
        }

    async def list_memories(
        self, ctx: Context, user: UserArg = None, session: SessionArg = None, limit: Limit = 20
    ) -> dict[str, Any]:
        """List a user's most recent messages (of one session, or of all), newest first."""
        caller, owner = await self._user(ctx, user)
        sessions = await caller.service.sessions_of(owner.id)
        if session:
            wanted = await self._session(caller, owner, session)
            sessions = [s for s in sessions if s.id == wanted]
        newest: list[dict[str, Any]] = []
        for found in sessions[:50]:
            page = await caller.service.list_messages(found.id, MessageQuery(limit), owner.id)
            newest += [message_view(m, found.name) for m in page]
        newest.sort(key=lambda view: view["created_at"], reverse=True)
        return {"user": owner.name, "memories": newest[:limit]}

    async def get_memory(self, ctx: Context, id: MemoryId, user: UserArg = None) -> dict[str, Any]:
        """One memory in full (a message, fact, entity, relation or knowledge item) by its id."""
        caller, owner = await self._user(ctx, user)
        return {"user": owner.name, "memory": item_view(await _one(caller, owner, id), full=True)}

    async def update_memory(
        self,
        ctx: Context,
        id: MemoryId,
        text: Annotated[str, Field(min_length=1, max_length=100_000, description="The new text.")],
        user: UserArg = None,
    ) -> dict[str, Any]:
        """Replace the text of a message (what was derived from it is derived again)."""
        caller, owner = await self._user(ctx, user)
        item = await _changeable(caller, owner, id)
        if item.kind is ItemKind.KNOWLEDGE:
            await caller.service.update_knowledge(owner.id, [id], [text])
        else:
            new = NewMessage(role=Role(item.role or "user"), content=text)
            await caller.service.update_messages(str(item.session_id), [id], [new], owner.id)
        return {"updated": id}

    async def delete_memory(
        self, ctx: Context, id: MemoryId, user: UserArg = None
    ) -> dict[str, Any]:
        """Delete a message (with what was derived from it) or a knowledge item."""
        caller, owner = await self._user(ctx, user)
        item = await _changeable(caller, owner, id)
        if item.kind is ItemKind.KNOWLEDGE:
            await caller.service.delete_knowledge(owner.id, [id])
        else:
            await caller.service.delete_messages(str(item.session_id), [id], owner.id)
        return {"deleted": id}

    async def delete_all_memories(
        self,
        ctx: Context,
        confirm: Annotated[bool, Field(description="Must be true: this cannot be undone.")],
        user: UserArg = None,
    ) -> dict[str, Any]:
        """Delete everything remembered about a user: every session, fact, entity and relation."""
        if not confirm:
            raise InvalidInput("Nothing deleted: set confirm to true to delete all of it.")
        caller, owner = await self._user(ctx, user)
        return {"user": owner.name, "sessions_deleted": await caller.service.forget_user(owner.id)}

    async def get_facts(
        self, ctx: Context, user: UserArg = None, limit: Limit = 20, offset: Offset = 0
    ) -> dict[str, Any]:
        """The facts derived from a user's conversations (newest first), with their source messages."""
        caller, owner = await self._user(ctx, user)
        facts = await caller.service.list_items(owner.id, ItemKind.FACT, limit, offset)
        return {"user": owner.name, "facts": [item_view(f) for f in facts]}

    async def get_entity(
        self,
        ctx: Context,
        entity: EntityArg,
        user: UserArg = None,
        limit: Limit = 20,
    ) -> dict[str, Any]:
        """An entity of the user's knowledge graph with its relations and the facts about it."""
        caller, owner = await self._user(ctx, user)
        entity_id = await _entity_id(caller, owner, entity)
        found = await caller.service.neighbourhood(owner.id, entity_id, limit)
        return {
            "user": owner.name,
            "entity": item_view(found["entity"]),
            "relations": [item_view(r) for r in found["relations"]],
            "facts": [item_view(f) for f in found["facts"]],
        }

    async def _session(self, caller: Caller, owner: User, session: str) -> str:
        for found in await caller.service.sessions_of(owner.id):
            if session in (found.id, found.name):
                return found.id
        raise NotFound(f"User {owner.name!r} has no session {session!r}.")


def _turns(
    text: str | None, messages: list[MessageArg] | None, created_at: datetime | None
) -> list[NewMessage]:
    if (text is None) == (messages is None):
        raise InvalidInput("Give either 'text' or 'messages' (one of them).")
    given = messages if messages is not None else [MessageArg(role="user", content=text or "")]
    if not given or not all(m.content.strip() for m in given):
        raise InvalidInput("Every message needs some text.")
    return [
        NewMessage(role=Role(m.role), content=m.content, name=m.name, created_at=created_at)
        for m in given
    ]


async def _one(caller: Caller, owner: User, memory_id: str) -> MemoryItem:
    found = await caller.service.items(owner.id, [memory_id])
    if not found:
        raise NotFound(f"User {owner.name!r} has no memory with id {memory_id!r}.")
    return found[0]


async def _changeable(caller: Caller, owner: User, memory_id: str) -> MemoryItem:
    """A message (of a session) or a knowledge item: what derived items are made from."""
    item = await _one(caller, owner, memory_id)
    if item.kind is ItemKind.KNOWLEDGE or (item.kind is ItemKind.MESSAGE and item.session_id):
        return item
    raise InvalidInput(
        f"A {item.kind.value} is derived from messages; change or delete the message it came"
        f" from ({', '.join(item.source_message_ids[:5]) or 'none recorded'})."
    )


async def _entity_id(caller: Caller, owner: User, entity: str) -> str:
    found = await caller.service.items(owner.id, [entity])
    if found and found[0].kind is ItemKind.ENTITY:
        return entity
    results = await caller.service.query(MemoryQuery(owner.id, entity, 20))
    for result in results:
        if result.item.kind is ItemKind.ENTITY and entity.casefold() in _names(result.item):
            return result.item.id
    raise NotFound(
        f"User {owner.name!r} has no entity named {entity!r} (yet: the graph is derived from"
        " conversations in the background)."
    )


def _names(entity: MemoryItem) -> set[str]:
    names = [entity.extra.get("name", entity.content), *entity.extra.get("aliases", [])]
    return {str(name).casefold() for name in names}


__all__ = ["Caller", "MemoryTools", "item_view", "preview"]
