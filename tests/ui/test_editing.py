"""Editing memory in the browser: every change asks first, goes through the REST API, and
is read back from the API afterwards.

The module has a seeded server of its own (``live`` is module-scoped), so its changes do
not touch the other browser tests; each test changes different memories.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.api.helpers import err, ok
from tests.api.hierarchy_helpers import wait_drained
from tests.ui.conftest import Console, Live, screenshot
from tests.ui.test_browser import LEO_TURN, user_items

HILLCREST_TURN = "I teach year three at Hillcrest Primary."


def dialog(page: Page, name: str | re.Pattern[str]) -> Locator:
    box = page.get_by_role("dialog", name=name)
    expect(box).to_be_visible()
    return box


def contents(live: Live, kind: str) -> list[str]:
    return [str(i["content"]) for i in user_items(live, kind)]


def session_messages(live: Live, name: str) -> list[dict[str, Any]]:
    sid = live.seeded.sessions[name]
    return list(ok(live.api.get(f"/sessions/{sid}/messages", params={"limit": 1000}))["messages"])


def new_session(live: Live, name: str, texts: list[str]) -> str:
    agent = ok(live.api.post("/agents", json={"name": "assistant"}))["agent"]["id"]
    body = {"user_id": live.seeded.user_id, "agent_id": agent, "name": name}
    sid = str(ok(live.api.post("/sessions", json=body), 201)["session"]["id"])
    messages = [{"role": "user", "content": t} for t in texts]
    ok(live.api.post(f"/sessions/{sid}/messages", json={"messages": messages}), 201)
    return sid


def test_editing_a_message_derives_its_episode_again(page: Page, live: Live) -> None:
    uid = live.seeded.user_id
    message_id = live.seeded.messages[LEO_TURN]
    sid = live.seeded.sessions["garden-chat"]
    page.goto(live.url(f"#/u/{uid}/sessions/{sid}"))
    turn = page.locator(f'.turn[data-message-id="{message_id}"]')
    turn.get_by_role("button", name=re.compile("^Edit message of Tom")).click()
    box = dialog(page, "Edit message")
    expect(box).to_contain_text("derived again")
    expect(box.get_by_label("Text")).to_have_value(LEO_TURN)
    expect(box.get_by_label("Text")).to_be_focused()
    box.get_by_label("Text").fill("My grandson Leo turned six on Thursday.")
    screenshot(page, "editing")
    box.get_by_role("button", name="Save message").click()
    expect(box).to_have_count(0)
    expect(turn.locator(".content")).to_have_text("My grandson Leo turned six on Thursday.")
    expect(turn).to_have_class(re.compile("highlight"))

    [saved] = ok(
        live.api.post(f"/sessions/{sid}/messages/read", json={"message_ids": [message_id]})
    )["messages"]
    assert saved["content"] == "My grandson Leo turned six on Thursday."
    assert (saved["role"], saved["name"]) == ("user", "Tom")  # the rest as it was
    assert saved["created_at"].startswith("2024-02-05T10:00:00")
    wait_drained(live.api)
    facts = contents(live, "facts")
    assert any("Leo turned six" in f for f in facts), facts
    assert not any("Leo turned five" in f for f in facts), facts


def test_a_failed_change_is_shown_in_the_dialog_and_cancel_changes_nothing(
    page: Page, live: Live, console: Console
) -> None:
    console.allowed.append(re.compile(r"status of 422"))  # the refusal the dialog shows
    sid = live.seeded.sessions["garden-chat"]
    message_id = live.seeded.messages[HILLCREST_TURN]
    page.goto(live.url(f"#/u/{live.seeded.user_id}/sessions/{sid}"))
    turn = page.locator(f'.turn[data-message-id="{message_id}"]')
    edit = turn.get_by_role("button", name=re.compile("^Edit message"))
    edit.click()
    box = dialog(page, "Edit message")
    box.get_by_label("Text").fill("   ")  # a user turn needs text: the server says so
    box.get_by_role("button", name="Save message").click()
    expect(box.get_by_role("alert")).to_contain_text("content")
    expect(box).to_be_visible()
    box.get_by_role("button", name="Cancel").click()
    expect(box).to_have_count(0)
    expect(edit).to_be_focused()

    turn.get_by_role("button", name=re.compile("^Delete message")).click()
    box = dialog(page, "Delete this message?")
    expect(box.get_by_role("button", name="Cancel")).to_be_focused()  # Enter alone deletes nothing
    page.keyboard.press("Escape")
    expect(box).to_have_count(0)
    assert HILLCREST_TURN in [m["content"] for m in session_messages(live, "garden-chat")]


def test_deleting_a_message(page: Page, live: Live) -> None:
    text = "Remind me to call Leo on Sunday."
    sid = live.seeded.sessions["weekend-plans"]
    page.goto(live.url(f"#/u/{live.seeded.user_id}/sessions/{sid}"))
    turn = page.locator(f'.turn[data-message-id="{live.seeded.messages[text]}"]')
    turn.get_by_role("button", name=re.compile("^Delete message")).click()
    box = dialog(page, "Delete this message?")
    expect(box).to_contain_text(text)
    box.get_by_role("button", name="Delete message").click()
    expect(turn).to_have_count(0)
    expect(page.locator(".pane .count")).to_have_text(
        "3 messages: 3 in 1 episode, 0 in the open window."
    )
    assert text not in [m["content"] for m in session_messages(live, "weekend-plans")]


def test_deleting_a_fact(page: Page, live: Live) -> None:
    uid = live.seeded.user_id
    page.goto(live.url(f"#/u/{uid}/facts"))
    [fact] = [f for f in user_items(live, "facts") if "Hillcrest" in f["content"]]
    row = page.locator(f'li[data-fact-id="{fact["id"]}"]')
    row.get_by_role("button", name=f"Delete fact: {fact['content']}").click()
    box = dialog(page, "Delete this fact?")
    expect(box).to_contain_text("not extracted again")
    box.get_by_role("button", name="Delete fact").click()
    expect(row).to_have_count(0)
    expect(page.locator("details.fact")).to_have_count(len(user_items(live, "facts")))
    assert fact["id"] not in {f["id"] for f in user_items(live, "facts")}

    # its episode processed again (another of its turns edited): the fact stays deleted
    sid = live.seeded.sessions["garden-chat"]
    edited = {"role": "user", "name": "Tom", "content": "My grandson Leo turned seven."}
    body = {"message_ids": [live.seeded.messages[LEO_TURN]], "new_messages": [edited]}
    ok(live.api.put(f"/sessions/{sid}/messages", json=body))
    wait_drained(live.api)
    facts = contents(live, "facts")
    assert any("Leo turned seven" in f for f in facts), facts
    assert not any("Hillcrest" in f for f in facts), facts


def test_deleting_a_relation_and_an_entity(page: Page, live: Live) -> None:
    uid = live.seeded.user_id
    entities = {e["name"]: e for e in user_items(live, "entities")}
    claire = entities["Claire"]
    page.goto(live.url(f"#/u/{uid}/graph/{claire['id']}"))
    panel = page.locator("aside.panel")
    relations = panel.locator("details.relation")
    expect(relations).not_to_have_count(0)
    before = [r for r in user_items(live, "relations") if claire["id"] in _ends(r)]
    first = before[0]
    panel.locator(f'li:has(details[data-relation-id="{first["id"]}"])').get_by_role(
        "button", name=re.compile("^Delete relation")
    ).click()
    dialog(page, "Delete this relation?").get_by_role("button", name="Delete relation").click()
    expect(relations).to_have_count(len(before) - 1)
    expect(page.locator(f'g.edge[data-relation-id="{first["id"]}"]')).to_have_count(0)
    assert first["id"] not in {r["id"] for r in user_items(live, "relations")}

    panel.get_by_role("button", name="Delete entity Claire").click()
    box = dialog(page, "Delete Claire?")
    expect(box).to_contain_text(f"{len(before) - 1} relation")
    box.get_by_role("button", name="Delete entity").click()
    expect(page).to_have_url(re.compile(f"#/u/{uid}/graph$"))
    expect(page.locator(f'g.node[data-entity-id="{claire["id"]}"]')).to_have_count(0)
    expect(panel.get_by_role("heading", level=2)).to_have_text("Pick an entity")
    assert "Claire" not in {e["name"] for e in user_items(live, "entities")}
    assert not [r for r in user_items(live, "relations") if claire["id"] in _ends(r)]
    err(live.api.get(f"/users/{uid}/entities/{claire['id']}"), 404)


def _ends(relation: dict[str, Any]) -> set[str]:
    return {relation["subject"]["id"], relation["object"]["id"]}


def test_adding_editing_and_deleting_knowledge(page: Page, live: Live) -> None:
    uid = live.seeded.user_id
    page.goto(live.url(f"#/u/{uid}/knowledge"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Knowledge of tom-and-priya")
    expect(page.locator(".empty")).to_have_text("No knowledge yet.")

    page.get_by_role("button", name="Add knowledge").click()
    box = dialog(page, "Add knowledge")
    box.get_by_label("Statement").fill("Tom prefers tea to coffee.")
    box.get_by_role("button", name="Add knowledge").click()
    items = page.locator("li.knowledge")
    expect(items).to_have_count(1)
    expect(items.locator(".content")).to_have_text("Tom prefers tea to coffee.")
    stored = ok(live.api.get(f"/users/{uid}/knowledge"))["knowledge"]
    assert [k["content"] for k in stored] == ["Tom prefers tea to coffee."]
    added = stored[0]["id"]

    items.get_by_role("button", name=re.compile("^Edit knowledge")).click()
    box = dialog(page, "Edit knowledge")
    box.get_by_label("Statement").fill("Tom prefers green tea.")
    box.get_by_role("button", name="Save knowledge").click()
    expect(items.locator(".content")).to_have_text("Tom prefers green tea.")
    stored = ok(live.api.get(f"/users/{uid}/knowledge"))["knowledge"]
    assert [(k["id"], k["content"]) for k in stored] == [(added, "Tom prefers green tea.")]
    hits = ok(live.api.post(f"/users/{uid}/query", json={"query": "green tea", "top_k": 3}))
    assert hits["results"][0]["content"] == "Tom prefers green tea."

    items.get_by_role("button", name=re.compile("^Delete knowledge")).click()
    dialog(page, "Delete this knowledge?").get_by_role("button", name="Delete knowledge").click()
    expect(items).to_have_count(0)
    assert ok(live.api.get(f"/users/{uid}/knowledge"))["knowledge"] == []


def test_deleting_a_session(page: Page, live: Live) -> None:
    uid = live.seeded.user_id
    sid = new_session(live, "to-delete", ["I left my umbrella at the station."])
    page.goto(live.url(f"#/u/{uid}/sessions/{sid}"))
    page.get_by_role("button", name="Delete session to-delete").click()
    box = dialog(page, "Delete session to-delete?")
    expect(box).to_contain_text("1 message")
    box.get_by_role("button", name="Delete session").click()
    expect(page.locator(".pane")).to_contain_text("Session to-delete was deleted.")
    expect(page.locator(f'.session-list a[data-session-id="{sid}"]')).to_have_count(0)
    expect(page.locator(".side h2")).to_have_text("2 sessions")
    err(live.api.get(f"/sessions/{sid}"), 404)
    names = {s["name"] for s in ok(live.api.get("/sessions", params={"user_id": uid}))["sessions"]}
    assert names == {"garden-chat", "weekend-plans"}


def test_deleting_a_user(page: Page, live: Live) -> None:
    doomed = ok(live.api.post("/users", json={"name": "doomed"}), 201)["user"]
    page.goto(live.url("#/users"))
    rows = page.locator("table.users tbody tr")
    count = len(ok(live.api.get("/users"))["users"])
    expect(rows).to_have_count(count)
    page.get_by_role("button", name="Delete user doomed").click()
    box = dialog(page, "Delete user doomed?")
    expect(box).to_contain_text("Everything of doomed is deleted")
    box.get_by_role("button", name="Delete user").click()
    expect(rows).to_have_count(count - 1)
    expect(page.locator(f'tr[data-user-id="{doomed["id"]}"]')).to_have_count(0)
    err(live.api.get(f"/users/{doomed['id']}"), 404)
