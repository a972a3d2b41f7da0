"""Forgetting: what goes when messages, sessions, agents or users go.

Facts, relations and entities keep the ids of the messages they came from.
When messages go (or change), their provenance rows go; an item left with no
source at all is deleted with its search rows, and relations of a deleted
entity go with it. Rows that reference a session cascade with it (messages,
episodes); search rows name their item without a foreign key, so they are
removed explicitly first.
"""

from __future__ import annotations

from collections.abc import Sequence

from memfuse_server.models import ItemKind
from memfuse_server.storage.ops.entities import AGENTS, USERS, delete_named, get_named, get_session
from memfuse_server.storage.ops.locks import lock_memory, lock_sessions
from memfuse_server.storage.ops.validity import FACTS, RELATIONS, keys_of, settle
from memfuse_server.storage.ops.version import bump_memory_versions
from memfuse_server.storage.tx import Tx

# (kind, item table, provenance table, provenance column)
_DERIVED = (
    (ItemKind.FACT, "facts", "fact_sources", "fact_id"),
    (ItemKind.RELATION, "relations", "relation_sources", "relation_id"),
    (ItemKind.ENTITY, "entities", "entity_sources", "entity_id"),
)

_TIMELINES = {ItemKind.FACT: FACTS, ItemKind.RELATION: RELATIONS}


async def _orphans(tx: Tx, sources: str, column: str, message_ids: Sequence[str]) -> list[str]:
    """Drop the provenance rows of these messages; the items left without any source."""
    rows = await tx.fetch(
        f"DELETE FROM {sources} WHERE message_id = ANY($1::text[]) RETURNING {column}",
        list(message_ids),
    )
    touched = sorted({r[0] for r in rows})
    if not touched:
        return []
    left = {
        r[0]
        for r in await tx.fetch(
            f"SELECT DISTINCT {column} FROM {sources} WHERE {column} = ANY($1::text[])", touched
        )
    }
    return [item for item in touched if item not in left]


async def delete_items(
    tx: Tx, user_id: str, kind: ItemKind, table: str, ids: Sequence[str]
) -> None:
    """Delete derived items and their search rows (an entity takes its relations along)."""
    if not ids:
        return
    if kind is ItemKind.ENTITY:
        linked = [
            r[0]
            for r in await tx.fetch(
                "SELECT id FROM relations WHERE subject_id = ANY($1::text[])"
                " OR object_id = ANY($1::text[])",
                list(ids),
            )
        ]
        await delete_items(tx, user_id, ItemKind.RELATION, "relations", linked)
    timelines = _TIMELINES.get(kind)
    keys = await keys_of(tx, timelines, ids) if timelines else []
    await tx.dialect.remove_documents(tx, user_id, kind, ids)
    await tx.execute(f"DELETE FROM {table} WHERE id = ANY($1::text[])", list(ids))
    if timelines and keys:  # what these statements closed opens again
        await settle(tx, timelines, user_id, keys)


async def forget_messages(tx: Tx, user_id: str, message_ids: Sequence[str]) -> None:
    """Drop these messages' provenance and every derived item left without a source (the
    messages are held already; the user's memory lock is taken here: ``ops/locks.py``)."""
    if not message_ids:
        return
    await lock_memory(tx, [user_id])
    for kind, table, sources, column in _DERIVED:
        orphans = await _orphans(tx, sources, column, message_ids)
        await delete_items(tx, user_id, kind, table, orphans)


def _by_user(rows: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for user_id, item_id in rows:
        out.setdefault(user_id, []).append(item_id)
    return out


async def _owned(
    tx: Tx, table: str, session_ids: Sequence[str], lock: str = ""
) -> dict[str, list[str]]:
    rows = await tx.fetch(
        f"SELECT user_id, id FROM {table} WHERE session_id = ANY($1::text[]) ORDER BY id{lock}",
        list(session_ids),
    )
    return _by_user([(r[0], r[1]) for r in rows])


async def _drop_sessions(tx: Tx, session_ids: Sequence[str]) -> None:
    """Before whole sessions cascade away: remove their search rows and what was derived."""
    if not session_ids:
        return
    messages = await _owned(tx, "messages", session_ids, tx.dialect.lock_rows)  # as edits do
    for user_id, ids in messages.items():
        await tx.dialect.remove_documents(tx, user_id, ItemKind.MESSAGE, ids)
    for user_id, ids in (await _owned(tx, "episodes", session_ids)).items():
        await tx.dialect.remove_documents(tx, user_id, ItemKind.CHUNK, ids)
    for user_id in sorted(messages):  # memory locks in user order
        await forget_messages(tx, user_id, messages[user_id])
    owners = await tx.fetch(
        "SELECT DISTINCT user_id FROM sessions WHERE id = ANY($1::text[])", list(session_ids)
    )
    await bump_memory_versions(tx, (str(r[0]) for r in owners))


async def delete_user(tx: Tx, user_id: str) -> None:
    # sessions, messages, documents, derived items and jobs all reference the user: they cascade
    await get_named(tx, USERS, user_id)
    await lock_sessions(tx, "user_id = $1", user_id)  # the lock order: ops/locks.py
    await lock_memory(tx, [user_id])
    await tx.dialect.forget_user(tx, user_id)
    await delete_named(tx, USERS, user_id)


async def delete_agent(tx: Tx, agent_id: str) -> None:
    await get_named(tx, AGENTS, agent_id)
    await _drop_sessions(tx, await lock_sessions(tx, "agent_id = $1", agent_id))
    await delete_named(tx, AGENTS, agent_id)


async def delete_session(tx: Tx, session_id: str, owner: str | None = None) -> None:
    await get_session(tx, session_id, owner)
    await _drop_sessions(tx, await lock_sessions(tx, "id = $1", session_id))
    await tx.execute("DELETE FROM sessions WHERE id = $1", session_id)


__all__ = ["delete_agent", "delete_items", "delete_session", "delete_user", "forget_messages"]
