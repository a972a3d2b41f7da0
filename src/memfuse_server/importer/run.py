"""Insert parsed conversations through the bulk client, so that a re-run adds nothing.

Users, agents and sessions are found by name (a session of an export also by the conversation
id its name ends with) or created; one list of sessions per user, not a lookup per session.
Every message is one bulk item whose ``Idempotency-Key`` is derived from the file's name, the
conversation, the session and the message's position (for an export: from the conversation's and
the message's ids): run the same file again (after Ctrl-C, a crash, or to be sure) and the server
answers the messages it already has with their first answer and adds only the missing ones.
A session's messages go one after another, in file order (sessions run in parallel), so the
server builds its round windows from turns in the order they were said. At the end every
session's open window is closed (``POST /sessions/{id}/flush``), so the last episode of each is
derived at once instead of after the server's idle time (``buffer.idle_seconds``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

from memfuse_server.client import AsyncClient, BulkItem, ItemResult
from memfuse_server.client.errors import ConflictError, NotSent
from memfuse_server.client.models import Session
from memfuse_server.importer.conversation import Conversation, ImportSession, message_key

_REF = re.compile(r"\(([^()]+)\)$")  # "<title> (<id>)": an export's conversation id
COUNT_LIMIT = 1000  # the most messages one list call returns: above it "new" is not known
KNOWLEDGE_BATCH = 100  # knowledge items per request (each is embedded)

T = TypeVar("T")


class Progress(Protocol):
    """Where the import reports as it goes (a progress bar, or nothing)."""

    def start(self, total: int) -> None: ...

    def advance(self, ok: bool) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class ImportOptions:
    path: Path
    concurrency: int = 10
    adaptive: bool = False


@dataclass
class Target:
    """One session of the file and where it lives on the server."""

    conversation: Conversation
    session: ImportSession
    session_id: str = ""
    created: bool = False
    before: int = 0  # messages it had before this run


@dataclass
class ImportReport:
    """What an import did; filled in as it goes, so an interrupted one can be reported too."""

    conversations: int
    sessions: int
    messages: int
    created_sessions: int = 0
    accepted: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (which message, error)
    new_messages: int | None = None  # None: not known (a session over COUNT_LIMIT)
    elapsed_seconds: float = 0.0
    concurrency: int = 0
    final_concurrency: int = 0
    adaptive: bool = False
    interrupted: bool = False
    cut_off: int = 0  # in flight at Ctrl-C: the server may have stored them
    held_back: int = 0  # not sent: an earlier message of their session failed
    flushed: int = 0  # sessions whose open window the import closed at its end
    knowledge: int = 0  # knowledge items in the file (an export of this server)
    new_knowledge: int = 0  # of which the user did not have yet

    @classmethod
    def of(cls, conversations: Sequence[Conversation], options: ImportOptions) -> ImportReport:
        return cls(
            conversations=len(conversations),
            sessions=sum(len(c.sessions) for c in conversations),
            messages=sum(c.message_count for c in conversations),
            knowledge=sum(len(c.knowledge) for c in conversations),
            concurrency=options.concurrency,
            final_concurrency=options.concurrency,
            adaptive=options.adaptive,
        )

    @property
    def ok(self) -> bool:
        return (
            not self.failures
            and not self.held_back
            and not self.interrupted
            and self.accepted == self.messages
        )


async def _bounded(limit: int, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def _count(client: AsyncClient, session_id: str) -> int:
    return len(await client.list_messages(session_id, limit=COUNT_LIMIT))


class _Existing:
    """The sessions the file's users already have, by name and by the ``(ref)`` ending a name:
    one list per user instead of a lookup per session (an export has thousands)."""

    def __init__(self, sessions: dict[str, list[Session]]) -> None:
        self.by_name: dict[tuple[str, str | None], Session] = {}
        self.by_ref: dict[tuple[str, str], Session] = {}
        for user_id, owned in sessions.items():
            for session in owned:
                self.by_name[(user_id, session.name)] = session
                if session.name and (ref := _REF.search(session.name)):
                    self.by_ref.setdefault((user_id, ref.group(1)), session)

    def find(self, user_id: str, session: ImportSession) -> Session | None:
        found = self.by_name.get((user_id, session.name))
        if found is None and session.ref is not None:
            found = self.by_ref.get((user_id, session.ref))
        return found


async def _resolve(
    client: AsyncClient,
    target: Target,
    users: dict[str, str],
    agents: dict[str, str],
    existing: _Existing,
) -> None:
    user_id = users[target.conversation.user]
    found = existing.find(user_id, target.session)
    if found is None:
        agent_id = agents[target.conversation.agent]
        try:
            found = await client.create_session(user_id, agent_id, target.session.name)
            target.created = True
        except ConflictError:  # created by someone else meanwhile
            found = await client.find_session(user_id, target.session.name)
            if found is None:
                raise
    target.session_id = found.id
    if not target.created:
        target.before = await _count(client, found.id)


async def resolve(
    client: AsyncClient, conversations: Sequence[Conversation], concurrency: int
) -> list[Target]:
    """Every session of the file with its server id (users, agents, sessions made if needed)."""
    user_names = {c.user: c.user_description for c in conversations}
    agent_names = {c.agent: c.agent_description for c in conversations if c.sessions}
    users = await _bounded(
        concurrency,
        [partial(client.get_or_create_user, n, d) for n, d in sorted(user_names.items())],
    )
    agents = await _bounded(
        concurrency,
        [partial(client.get_or_create_agent, n, d) for n, d in sorted(agent_names.items())],
    )
    user_ids = {u.name: u.id for u in users}
    agent_ids = {a.name: a.id for a in agents}
    owned = await _bounded(
        concurrency, [partial(client.list_sessions, user_id=u.id) for u in users]
    )
    existing = _Existing({u.id: sessions for u, sessions in zip(users, owned, strict=True)})
    targets = [Target(c, s) for c in conversations for s in c.sessions]
    await _bounded(
        concurrency,
        [partial(_resolve, client, t, user_ids, agent_ids, existing) for t in targets],
    )
    return targets


def items(targets: Sequence[Target], file_name: str) -> tuple[list[BulkItem], list[str]]:
    """One bulk item per message, in file order, with its key; and a label for each."""
    out: list[BulkItem] = []
    labels: list[str] = []
    for t in targets:
        for i, message in enumerate(t.session.messages):
            key = (
                t.session.keys[i]
                if t.session.keys is not None
                else message_key(file_name, t.conversation.key, t.session.name, i)
            )
            out.append(BulkItem(t.session_id, [message], key))
            labels.append(f"{t.session.name}[{i}]")
    return out, labels


async def _count_new(
    client: AsyncClient, targets: Sequence[Target], concurrency: int
) -> int | None:
    """Messages the server gained in the file's sessions (None: a session is too large to say)."""
    before: dict[str, int] = {}
    for t in targets:  # two conversations of the file may share one session
        before[t.session_id] = min(before.get(t.session_id, t.before), t.before)
    ids = list(before)
    after = await _bounded(concurrency, [partial(_count, client, sid) for sid in ids])
    if COUNT_LIMIT in (*before.values(), *after):
        return None
    return sum(a - before[sid] for sid, a in zip(ids, after, strict=True))


async def run_import(
    client: AsyncClient,
    conversations: Sequence[Conversation],
    options: ImportOptions,
    progress: Progress,
    report: ImportReport,
) -> ImportReport:
    """Insert ``conversations``; ``report`` is filled in as items end (and kept on Ctrl-C)."""
    await client.health()  # an unreachable server fails here, before anything is made
    targets = await resolve(client, conversations, options.concurrency)
    report.created_sessions = sum(t.created for t in targets)
    bulk, labels = items(targets, options.path.name)

    def on_result(result: ItemResult) -> None:
        if result.ok:
            report.accepted += 1
        elif isinstance(result.error, NotSent):
            report.held_back += 1
        else:
            report.failures.append((labels[result.index], str(result.error)))
        progress.advance(result.ok)

    progress.start(len(bulk))
    start = time.perf_counter()
    try:
        result = await client.bulk_add(
            bulk,
            max_concurrency=options.concurrency,
            adaptive=options.adaptive,
            in_session_order=True,
            on_result=on_result,
        )
    except asyncio.CancelledError:
        report.interrupted = True
        report.cut_off = client.get_insertion_metrics().cut_off_items
        raise
    finally:
        report.elapsed_seconds = time.perf_counter() - start
        progress.stop()
    report.final_concurrency = result.final_concurrency
    report.flushed = await _flush(client, targets, options.concurrency)
    report.new_messages = await _count_new(client, targets, options.concurrency)
    report.new_knowledge = await add_knowledge(client, conversations)
    return report


def _missing(have: Counter[str], wanted: Sequence[str]) -> list[str]:
    """Those of ``wanted`` (in order, each as often as it is there) not in ``have``."""
    left = Counter(have)
    out = []
    for text in wanted:
        if left[text]:
            left[text] -= 1
        else:
            out.append(text)
    return out


async def add_knowledge(client: AsyncClient, conversations: Sequence[Conversation]) -> int:
    """Add each user's knowledge that the user does not have yet (knowledge carries no
    idempotency key: what the user has is compared by text); how many were added."""
    wanted: dict[str, list[str]] = {}
    for c in conversations:
        wanted.setdefault(c.user, []).extend(c.knowledge)
    added = 0
    for name, texts in wanted.items():
        if not texts:
            continue
        user = await client.get_or_create_user(name)
        have = Counter(k.content for k in await client.list_knowledge(user.id))
        new = _missing(have, texts)
        for start in range(0, len(new), KNOWLEDGE_BATCH):
            await client.add_knowledge(user.id, new[start : start + KNOWLEDGE_BATCH])
        added += len(new)
    return added


async def _flush(client: AsyncClient, targets: Sequence[Target], concurrency: int) -> int:
    """Close every imported session's open window, so that its last episode is derived now
    rather than after the server's idle time; the episodes this closed."""
    ids = list(dict.fromkeys(t.session_id for t in targets))
    closed = await _bounded(concurrency, [partial(client.flush_session, sid) for sid in ids])
    return sum(episode is not None for episode in closed)


__all__ = [
    "COUNT_LIMIT",
    "ImportOptions",
    "ImportReport",
    "Progress",
    "Target",
    "items",
    "message_key",
    "resolve",
    "run_import",
]
