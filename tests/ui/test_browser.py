"""The memory browser at /ui, in headless Chromium against a live, seeded server.

Each test opens a fresh tab; the ``page`` fixture fails a test whose page logged
a console error or threw. The screenshots in docs/screenshots are written here.
"""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.api.helpers import ok
from tests.api.hierarchy_helpers import wait_drained
from tests.ui.conftest import Live, screenshot

LEO_TURN = "My grandson Leo turned five on Thursday."


def heading(page: Page) -> Any:
    return page.get_by_role("heading", level=1)


def user_items(live: Live, kind: str) -> list[dict[str, Any]]:
    found = ok(live.api.get(f"/users/{live.seeded.user_id}/{kind}", params={"limit": 1000}))
    return list(found[kind])


def test_every_view_loads_and_the_navigation_works(page: Page, live: Live) -> None:
    page.goto(f"{live.server.base_url}/ui")  # redirected to /ui/, then to #/users
    expect(page).to_have_url(re.compile(r"/ui/#/users$"))
    expect(heading(page)).to_have_text("Users")
    rows = page.locator("table.users tbody tr")
    expect(rows).to_have_count(2)
    screenshot(page, "users")
    page.get_by_label("Filter users").fill("tom")
    expect(rows).to_have_count(1)

    page.get_by_role("link", name="tom-and-priya", exact=True).click()
    expect(heading(page)).to_have_text("Sessions of tom-and-priya")
    expect(page.locator(".current-user")).to_contain_text("tom-and-priya")
    nav = page.get_by_role("navigation", name="Main")
    for name, title in [
        ("Facts", "Facts of tom-and-priya"),
        ("Graph", "Graph of tom-and-priya"),
        ("Query", "Query the memory of tom-and-priya"),
        ("Status", "Status"),
        ("Sessions", "Sessions of tom-and-priya"),
    ]:
        nav.get_by_role("link", name=name, exact=True).click()
        expect(heading(page)).to_have_text(title)
        expect(nav.get_by_role("link", name=name, exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        expect(page.locator(".loading")).to_have_count(0)
    page.go_back()
    expect(heading(page)).to_have_text("Status")
    expect(page.locator(".tile")).to_have_count(5)
    page.go_back()
    expect(heading(page)).to_have_text("Query the memory of tom-and-priya")


def test_sessions_show_the_open_window_and_the_episodes(page: Page, live: Live) -> None:
    sid = live.seeded.sessions["weekend-plans"]
    page.goto(live.url(f"#/u/{live.seeded.user_id}/sessions/{sid}"))
    messages = ok(live.api.get(f"/sessions/{sid}/messages", params={"order": "asc"}))["messages"]
    open_ids = [m["id"] for m in messages if m["episode_id"] is None]
    assert len(open_ids) == 1 and len(messages) == 4
    open_window = page.locator("section.window.open")
    expect(open_window).to_have_count(1)
    expect(open_window.locator(".turn")).to_have_count(1)
    expect(open_window.locator(".turn")).to_have_attribute("data-message-id", open_ids[0])
    expect(open_window.locator(".badge")).to_have_text("open window")
    episode = page.locator("section.window.episode")
    expect(episode).to_have_count(1)
    expect(episode).to_have_attribute("data-episode-id", messages[0]["episode_id"])
    expect(episode.locator(".turn")).to_have_count(3)
    expect(episode.locator(".turn .badge").first).to_have_text("episode 1")
    expect(page.locator(".pane .count")).to_have_text(
        "4 messages: 3 in 1 episode, 1 in the open window."
    )
    expect(page.locator(".session-list [aria-current=page]")).to_contain_text("weekend-plans")
    screenshot(page, "sessions")

    page.get_by_role("link", name=re.compile("garden-chat")).click()
    expect(page.locator("section.window.episode")).to_have_count(3)
    expect(page.locator("section.window.open .turn")).to_have_count(1)


def test_clicking_a_fact_shows_its_source_turn(page: Page, live: Live) -> None:
    page.goto(live.url(f"#/u/{live.seeded.user_id}/facts"))
    facts = user_items(live, "facts")
    expect(page.locator("details.fact")).to_have_count(len(facts))
    fact = page.locator("details.fact", has_text="Leo turned five")
    fact.locator("summary").click()
    source = fact.locator(".sources .turn")
    expect(source).to_have_count(1)
    expect(source.locator(".content")).to_have_text(LEO_TURN)
    expect(source.locator(".speaker")).to_have_text("Tom")
    expect(source).to_have_attribute("data-message-id", live.seeded.messages[LEO_TURN])
    page.get_by_label("Filter facts").fill("Claire")
    expect(page.locator("details.fact")).to_have_count(2)
    page.get_by_label("Filter facts").fill("")
    page.get_by_label("Filter facts").blur()
    screenshot(page, "facts")

    source.get_by_role("link", name="session garden-chat").click()  # the turn in its session
    highlighted = page.locator(".turn.highlight")
    expect(highlighted).to_have_text(re.compile(re.escape(LEO_TURN)))
    expect(highlighted).to_be_focused()


def test_the_graph_shows_the_entities_and_relations(page: Page, live: Live) -> None:
    uid = live.seeded.user_id
    page.goto(live.url(f"#/u/{uid}/graph"))
    entities = {e["id"]: e for e in user_items(live, "entities")}
    relations = [
        r for r in user_items(live, "relations") if r["subject"]["id"] != r["object"]["id"]
    ]
    nodes = page.locator("svg.graph g.node")
    expect(nodes).to_have_count(len(entities))
    drawn = {n.get_attribute("data-entity-id"): n for n in nodes.all()}
    assert set(drawn) == set(entities)
    for eid, node in drawn.items():
        assert node.get_attribute("class") == f"node type-{entities[eid]['entity_type']}"
        assert node.locator("text").text_content() == entities[eid]["name"]
    edges = page.locator("svg.graph g.edge")
    expect(edges).to_have_count(len(relations))
    for r in relations:
        edge = page.locator(f'g.edge[data-relation-id="{r["id"]}"]')
        expect(edge).to_have_attribute("data-source", r["subject"]["id"])
        expect(edge).to_have_attribute("data-target", r["object"]["id"])
        expect(edge.locator("text")).to_have_text(r["predicate"].replace("_", " "))
        assert edge.locator("path").get_attribute("d")

    leo = next(e for e in entities.values() if e["name"] == "Leo")
    page.locator(f'g.node[data-entity-id="{leo["id"]}"]').click()
    expect(page).to_have_url(re.compile(f"#/u/{uid}/graph/{leo['id']}$"))
    panel = page.locator("aside.panel")
    expect(panel.get_by_role("heading", level=2)).to_contain_text("Leo")
    expect(panel.locator("details.relation")).to_have_text([re.compile("Tom has grandson Leo")])
    expect(panel.locator("details.fact")).to_contain_text(["Leo turned five"])
    expect(panel.locator("section").last.locator(".turn .content")).to_have_text([LEO_TURN])
    panel.locator("details.fact summary").first.click()  # a fact's own source turns
    expect(panel.locator("details.fact .sources .turn .content")).to_have_text([LEO_TURN])

    tom = next(e for e in entities.values() if e["name"] == "Tom")
    panel.get_by_role("link", name="Go to Tom").click()
    expect(panel.get_by_role("heading", level=2)).to_contain_text("Tom")
    expect(page.locator(f'g.node[data-entity-id="{tom["id"]}"]')).to_have_class(
        re.compile("is-selected")
    )
    tom_relations = [r for r in relations if tom["id"] in (r["subject"]["id"], r["object"]["id"])]
    expect(page.locator("g.edge.is-near")).to_have_count(len(tom_relations))
    expect(panel.locator("details.relation")).to_have_count(len(tom_relations))
    screenshot(page, "graph")

    priya = next(e for e in entities.values() if e["name"] == "Priya")
    page.locator(f'g.node[data-entity-id="{priya["id"]}"]').focus()  # by keyboard
    page.keyboard.press("Enter")
    expect(panel.get_by_role("heading", level=2)).to_contain_text("Priya")


def test_a_query_shows_fused_results_with_ranks_and_sources(page: Page, live: Live) -> None:
    uid = live.seeded.user_id
    page.goto(live.url(f"#/u/{uid}/query"))
    page.get_by_label("Query").fill("How old is Leo?")
    page.get_by_label("Results").fill("5")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"q=How\+old\+is\+Leo"))
    body = {"query": "How old is Leo?", "top_k": 5}
    expected = ok(live.api.post(f"/users/{uid}/query", json=body))["results"]
    results = page.locator("ol.results > li.result")
    expect(results).to_have_count(len(expected))
    for item, want in zip(results.all(), expected, strict=True):
        assert item.get_attribute("data-result-id") == want["id"]
        assert item.get_attribute("data-type") == want["type"]
        expect(item.locator(".score")).to_contain_text(f"{want['score']:.3f}")
        ranks = {
            li.get_attribute("data-retriever"): li.locator("strong").text_content()
            for li in item.locator("ul.ranks li").all()
        }
        assert ranks == {k: f"#{v}" for k, v in want["metadata"]["retrieval"].items()}
        sources = item.locator(".sources .turn")
        expect(sources).to_have_count(len(want["metadata"]["source_message_ids"]))
    top = results.first
    expect(top.locator(".sources .turn .content")).to_have_text([LEO_TURN])
    expect(top.locator(".badge.scope")).to_have_text("cross session")
    screenshot(page, "query")


def test_the_status_page_polls_the_stats(page: Page, live: Live) -> None:
    page.goto(live.url("#/status"))
    stats = ok(live.api.get("/stats"))
    expect(page.locator('.tile[data-stat="Dead letters"] .big')).to_have_text("0")
    expect(page.locator('dd[data-stat="Done (kept)"]')).to_have_text(
        str(stats["queue"]["done_kept"])
    )
    expect(page.locator('dd[data-stat="Mode (setting)"]')).to_have_text(stats["layers"]["mode"])
    load(live, turns=40)  # the background gets work while the page polls
    expect(page.locator('.tile[data-stat="Texts embedded"] .big')).to_have_text(
        re.compile(r"^\d+\.\d/ s$")  # a rate needs two polls: "…" before
    )
    screenshot(page, "status")
    stats = wait_drained(live.api)
    expect(page.locator('dd[data-stat="Done (kept)"]')).to_have_text(
        str(stats["queue"]["done_kept"])
    )
    expect(page.locator('.tile[data-stat="Queue depth"] .big')).to_have_text("0jobs")


def load(live: Live, turns: int) -> None:
    """A user of its own, one turn per request: episodes for the background."""
    user = ok(live.api.post("/users", json={"name": "load"}), 201)["user"]
    agent = ok(live.api.post("/agents", json={"name": "assistant"}))["agent"]
    body = {"user_id": user["id"], "agent_id": agent["id"], "name": "load"}
    sid = ok(live.api.post("/sessions", json=body), 201)["session"]["id"]
    for i in range(turns):
        turn = {"role": "user", "name": "Max", "content": f"I planted {i + 2} tulips in bed {i}."}
        ok(live.api.post(f"/sessions/{sid}/messages", json={"messages": [turn]}), 201)
        time.sleep(0.1)  # spread over a few polls of the page
