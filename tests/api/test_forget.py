"""Deleting a fact, an entity or a relation over the API: it goes from the lists and the
answers, and processing its episode again (after an edit of another of its turns) does not
bring it back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.helpers import err, ok, query
from tests.api.hierarchy_helpers import Posted, post_conversation, wait_drained
from tests.serverproc import ServerProcess

SETTINGS = {
    "buffer": {"max_rounds": 2, "idle_seconds": 0.5, "sweep_interval_seconds": 0.2},
    "worker": {"poll_interval_seconds": 0.1, "backoff_base_seconds": 0.05},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("forget"), settings=SETTINGS).start()
    yield proc
    proc.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.api, timeout=60) as client:
        yield client


def derived(api: httpx.Client) -> Posted:
    posted = post_conversation(api)
    time.sleep(1.0)  # the last window closes when idle
    wait_drained(api)
    return posted


def listed(api: httpx.Client, user_id: str, kind: str) -> list[dict[str, Any]]:
    return list(ok(api.get(f"/users/{user_id}/{kind}", params={"limit": 1000}))[kind])


def one(items: list[dict[str, Any]], text: str) -> dict[str, Any]:
    [found] = [i for i in items if text in i["content"]]
    return found


def reprocess(api: httpx.Client, posted: Posted, index: int, text: str) -> None:
    """Edit one turn: its episode is processed again, every turn of it extracted anew."""
    message = {"role": "user", "name": "Priya", "content": text}
    body = {"message_ids": [posted.message_ids[index]], "new_messages": [message]}
    ok(api.put(f"/sessions/{posted.session_id}/messages", json=body))
    wait_drained(api)


def test_a_deleted_fact_stays_deleted_when_its_episode_is_processed_again(
    api: httpx.Client,
) -> None:
    posted = derived(api)
    uid = posted.user_id
    leo = one(listed(api, uid, "facts"), "Leo")
    assert posted.message_ids[0] in leo["source_message_ids"]
    answer = ok(api.delete(f"/users/{uid}/facts/{leo['id']}"))
    assert answer == {"fact_id": leo["id"]}
    assert leo["id"] not in {f["id"] for f in listed(api, uid, "facts")}
    hits = query(api, uid, "How old is Leo?", top_k=20)
    assert leo["id"] not in {h["id"] for h in hits}

    # the Leo turn's episode again: its other turn edited
    reprocess(api, posted, 1, "I teach year four at Hillcrest Primary.")
    facts = [f["content"] for f in listed(api, uid, "facts")]
    assert any("year four" in f for f in facts), facts  # the episode was processed again
    assert not any("Leo turned five" in f for f in facts), facts
    err(api.delete(f"/users/{uid}/facts/{leo['id']}"), 404)  # gone is gone


def test_a_deleted_entity_takes_its_relations_and_stays_deleted(api: httpx.Client) -> None:
    posted = derived(api)
    uid = posted.user_id
    leo = next(e for e in listed(api, uid, "entities") if e["name"] == "Leo")
    assert ok(api.delete(f"/users/{uid}/entities/{leo['id']}")) == {"entity_id": leo["id"]}
    err(api.get(f"/users/{uid}/entities/{leo['id']}"), 404)
    reprocess(api, posted, 1, "I teach year four at Hillcrest Primary.")
    assert "Leo" not in {e["name"] for e in listed(api, uid, "entities")}
    relations = listed(api, uid, "relations")
    assert not any("Leo" in r["content"] for r in relations), relations
    assert any("Leo" in f["content"] for f in listed(api, uid, "facts"))  # facts are their own


def test_a_deleted_relation_stays_deleted(api: httpx.Client) -> None:
    posted = derived(api)
    uid = posted.user_id
    relation = one(listed(api, uid, "relations"), "grandson")
    answer = ok(api.delete(f"/users/{uid}/relations/{relation['id']}"))
    assert answer == {"relation_id": relation["id"]}
    reprocess(api, posted, 1, "I teach year four at Hillcrest Primary.")
    assert not any("grandson" in r["content"] for r in listed(api, uid, "relations"))
    names = {e["name"] for e in listed(api, uid, "entities")}
    assert {"Tom", "Leo"} <= names  # its entities stay


def test_deleting_what_is_not_the_users_is_a_404_that_changes_nothing(
    api: httpx.Client,
) -> None:
    mine, theirs = derived(api), derived(api)
    their_fact = listed(api, theirs.user_id, "facts")[0]
    before = listed(api, theirs.user_id, "facts")
    for kind in ("facts", "entities", "relations"):
        body = err(api.delete(f"/users/{mine.user_id}/{kind}/{their_fact['id']}"), 404)
        assert their_fact["id"] in body["message"]
        err(api.delete(f"/users/{mine.user_id}/{kind}/no-such-item"), 404)
    err(api.delete(f"/users/no-such-user/facts/{their_fact['id']}"), 404)
    assert listed(api, theirs.user_id, "facts") == before
