"""The export format (docs/export.md): one JSON object a line, made as the store is paged.

The lines come in this order, each with its ``type``:

``header`` (format, version, user, counts), ``user``, each ``agent`` the user's sessions are
with, each ``session`` followed by its ``message`` lines, each ``knowledge`` item, then with
``with_derived`` each ``fact``, ``entity`` and ``relation`` (their ``sources`` name messages by
session and place), and ``end`` (the counts written: a file without it was cut short).

Nothing here holds more than a page of rows (``PAGE``): sessions, messages, knowledge and
derived items are read a page at a time, so a user of any size is exported in the same memory.
No line holds what a server makes up itself, its ids or the times it stored a user, session or
knowledge item (sessions and messages are named by session name and place): an export, an
import into an empty server and an export from there give the same file, derived lines apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson

from memfuse_server import __version__
from memfuse_server.exporter.format import FORMAT, VERSION
from memfuse_server.models import JSON, Agent, ItemKind, Knowledge, MemoryItem, Message, Session
from memfuse_server.models import User as UserRecord
from memfuse_server.storage.base import Cursor, ExportStore

PAGE = 500
DERIVED = (ItemKind.FACT, ItemKind.ENTITY, ItemKind.RELATION)
DERIVED_COUNTS = ("facts", "entities", "relations")

# the fields of a derived item's line, beside type, content, created_at and sources
FIELDS: dict[ItemKind, tuple[str, ...]] = {
    ItemKind.FACT: (
        "subject",
        "occurred_at",
        "time_expression",
        "confidence",
        "valid_from",
        "valid_until",
        "attribute",
        "value",
        "ends",
    ),
    ItemKind.ENTITY: ("name", "entity_type", "aliases"),
    ItemKind.RELATION: (
        "subject",
        "predicate",
        "object",
        "valid_at",
        "fact",
        "confidence",
        "valid_from",
        "valid_until",
        "attribute",
        "ends",
    ),
}

T = TypeVar("T")
Fetch = Callable[[Cursor | None], Awaitable[tuple[list[T], Cursor | None]]]


def dumps(line: JSON) -> bytes:
    """One line of the file (keys of metadata sorted: the same bytes from either engine)."""
    return orjson.dumps(line) + b"\n"


def _sorted(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def header(user: UserRecord, counts: dict[str, int], with_derived: bool) -> JSON:
    return {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "user": user.name,
        "with_derived": with_derived,
        "server_version": __version__,
        "counts": counts,
    }


def user_line(user: UserRecord) -> JSON:
    return {"type": "user", "name": user.name, "description": user.description}


def agent_line(agent: Agent) -> JSON:
    return {"type": "agent", "name": agent.name, "description": agent.description}


def session_line(session: Session, agent: str) -> JSON:
    return {"type": "session", "name": session.name, "agent": agent}


def message_line(message: Message, session: str, n: int) -> JSON:
    return {
        "type": "message",
        "session": session,
        "n": n,
        "role": message.role.value,
        "name": message.name,
        "content": message.content,
        "metadata": _sorted(message.metadata),
        "created_at": message.created_at,
    }


def knowledge_line(item: Knowledge) -> JSON:
    return {"type": "knowledge", "content": item.content}


def _named(value: Any) -> Any:
    """A relation's end (``{id, name}``) by its name: ids stay on the server."""
    return value.get("name") if isinstance(value, dict) else value


def derived_line(item: MemoryItem, places: dict[str, tuple[str, int]]) -> JSON:
    line: JSON = {"type": item.kind.value, "content": item.content}
    line.update({f: _named(item.extra.get(f)) for f in FIELDS[item.kind]})
    line["created_at"] = item.created_at
    line["sources"] = [
        {"session": places[m][0], "n": places[m][1]} for m in item.source_message_ids if m in places
    ]
    return line


async def pages(fetch: Fetch[T]) -> AsyncIterator[list[T]]:
    """Every page of a paged read, one at a time."""
    after: Cursor | None = None
    while True:
        rows, after = await fetch(after)
        if rows:
            yield rows
        if after is None:
            return


class Export:
    """The lines of one user's export, read from ``store`` a page at a time."""

    def __init__(self, store: ExportStore, user: UserRecord, page: int = PAGE) -> None:
        self.store = store
        self.user = user
        self.page = page
        self.written: Counter[str] = Counter()

    async def lines(self, with_derived: bool) -> AsyncIterator[JSON]:
        counts = await self.store.export_counts(self.user.id)
        kept = ("sessions", "messages", "knowledge") + (DERIVED_COUNTS if with_derived else ())
        yield header(self.user, {k: counts[k] for k in kept}, with_derived)
        yield user_line(self.user)
        agents = await self.store.export_agents(self.user.id)
        for agent in agents:
            yield self._count(agent_line(agent))
        names = {a.id: a.name for a in agents}
        async for line in self._sessions(names):
            yield line
        async for items in pages(lambda a: self.store.knowledge_page(self.user.id, a, self.page)):
            for item in items:
                yield self._count(knowledge_line(item))
        for kind in DERIVED if with_derived else ():
            async for line in self._derived(kind):
                yield line
        yield {"type": "end", "counts": dict(sorted(self.written.items()))}

    def _count(self, line: JSON) -> JSON:
        self.written[str(line["type"])] += 1
        return line

    async def _sessions(self, agents: dict[str, str]) -> AsyncIterator[JSON]:
        async for sessions in pages(lambda a: self.store.sessions_page(self.user.id, a, self.page)):
            for session in sessions:
                yield self._count(session_line(session, agents.get(session.agent_id, "")))
                async for line in self._messages(session):
                    yield line

    async def _messages(self, session: Session) -> AsyncIterator[JSON]:
        n = 0
        async for messages in pages(lambda a: self.store.messages_page(session.id, a, self.page)):
            for message in messages:
                yield self._count(message_line(message, session.name, n))
                n += 1

    async def _derived(self, kind: ItemKind) -> AsyncIterator[JSON]:
        fetch: Fetch[MemoryItem] = lambda a: self.store.items_page(self.user.id, kind, a, self.page)  # noqa: E731
        async for items in pages(fetch):
            places = await self.store.message_places(self.user.id, _sources(items))
            for item in items:
                yield self._count(derived_line(item, places))


def _sources(items: Sequence[MemoryItem]) -> list[str]:
    return sorted({m for i in items for m in i.source_message_ids})


__all__ = ["DERIVED", "FORMAT", "PAGE", "VERSION", "Export", "dumps", "pages"]
