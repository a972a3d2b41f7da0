"""What a job extracted from text that changed before it saved is not kept.

The worker reads an episode, extracts (slowly, with an LLM), then saves. These tests put an
edit or a deletion of a source message between the read and the save, on either engine,
with the rules extractor: the save is told what was read and keeps nothing that came only
from text that has since changed, while what came from unchanged messages is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from memfuse_server.embeddings.base import Vectors
from memfuse_server.extraction.rules import RuleExtractor
from memfuse_server.models import EpisodeInput, ItemKind, utcnow
from memfuse_server.storage import Store
from tests.storage.test_store_contract import add, new_session, prepared

VecFn = Callable[[int], Vectors]
OLD = "Yesterday I visited Zanzibar with my cousin Quentin."
KEPT = "My sister Beatrice adopted a cat named Biscuit in Lisbon."
OLD_WORDS = ("zanzibar", "quentin")


async def _episode(store: Store, vectors: VecFn) -> tuple[str, list[str], EpisodeInput]:
    """A closed episode of two user turns, read as the worker reads it; its session, its
    message ids and what was read."""
    session = await new_session(store)
    ids = await add(store, session, [OLD, KEPT], vectors)
    await store.close_idle_windows(utcnow() + timedelta(seconds=1))
    (job,) = await store.claim_jobs("w", 1, 60)
    episode = await store.episode_input(str(job.payload["episode_id"]))
    assert episode is not None and len(episode.messages) == 2
    return session.id, ids, episode


async def _save_what_was_extracted(store: Store, episode: EpisodeInput, vectors: VecFn) -> None:
    extractor = RuleExtractor()
    facts = await extractor.facts(episode)
    graph = await extractor.graph(episode, facts)
    assert any("Zanzibar" in f.text for f in facts), facts
    assert any(e.name == "Quentin" for e in graph.entities), graph
    user, read = episode.user_id, episode.messages
    await store.save_facts(user, facts, vectors(len(facts)), read=read)
    await store.save_entities(user, graph.entities, vectors(len(graph.entities)), read=read)
    await store.save_relations(user, graph.relations, vectors(len(graph.relations)), read=read)


async def _derived(store: Store, user_id: str) -> list[str]:
    kinds = (ItemKind.FACT, ItemKind.ENTITY, ItemKind.RELATION)
    return [i.content for kind in kinds for i in await store.list_items(user_id, kind, 500, 0)]


def _old(texts: list[str]) -> list[str]:
    return [t for t in texts if any(w in t.lower() for w in OLD_WORDS)]


async def test_what_was_extracted_from_edited_text_is_not_saved(
    store: Store, vectors: VecFn
) -> None:
    session_id, ids, episode = await _episode(store, vectors)
    new = prepared("Yesterday I stayed at home.")
    await store.update_messages(session_id, [ids[0]], [new], vectors(1))
    await _save_what_was_extracted(store, episode, vectors)
    derived = await _derived(store, episode.user_id)
    assert _old(derived) == []
    assert any("Biscuit" in t for t in derived), derived  # the unchanged message's facts stay
    assert await store.search_text(episode.user_id, "Zanzibar Quentin", 20) == []


async def test_what_was_extracted_from_a_deleted_message_is_not_saved(
    store: Store, vectors: VecFn
) -> None:
    session_id, ids, episode = await _episode(store, vectors)
    await store.delete_messages(session_id, [ids[0]])
    await _save_what_was_extracted(store, episode, vectors)
    derived = await _derived(store, episode.user_id)
    assert _old(derived) == [] and any("Biscuit" in t for t in derived), derived


async def test_text_edited_back_to_what_was_read_is_saved(store: Store, vectors: VecFn) -> None:
    session_id, ids, episode = await _episode(store, vectors)
    for text in ("Yesterday I stayed at home.", OLD):
        await store.update_messages(session_id, [ids[0]], [prepared(text)], vectors(1))
    await _save_what_was_extracted(store, episode, vectors)
    assert _old(await _derived(store, episode.user_id))  # the text is what was read again


async def test_an_edit_and_a_save_at_once_leave_nothing_of_the_old_text(
    store: Store, vectors: VecFn
) -> None:
    """Whichever commits first, the other sees it (PostgreSQL: separate connections)."""
    for _ in range(5):
        session_id, ids, episode = await _episode(store, vectors)
        new = prepared("Yesterday I stayed at home.")
        await asyncio.gather(
            store.update_messages(session_id, [ids[0]], [new], vectors(1)),
            _save_what_was_extracted(store, episode, vectors),
        )
        assert _old(await _derived(store, episode.user_id)) == []
        await store.delete_user(episode.user_id)
