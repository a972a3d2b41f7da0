"""The memory browser with ``server.api_key_validation`` on: it asks for a key,
sends it on every call, and asks again when the server answers 401 or 403."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from tests.api.helpers import ok
from tests.serverproc import ServerProcess
from tests.ui.conftest import Console

ADMIN = "admin-key-for-the-browser-test"
SAYS_KEY = re.compile("key", re.IGNORECASE)


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A server that needs keys, with users ada and bob and a key of ada's."""
    settings = {"server": {"api_key_validation": True, "admin_api_key": ADMIN}}
    server = ServerProcess(tmp_path_factory.mktemp("guarded"), settings=settings).start()
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=server.api, headers=admin, timeout=60) as api:
            ids = {
                n: ok(api.post("/users", json={"name": n}), 201)["user"]["id"]
                for n in ("ada", "bob")
            }
            created = api.post(f"/users/{ids['ada']}/api-keys", json={"name": "browser"})
            ids["ada_key"] = ok(created, 201)["api_key"]["key"]
        yield server, ids
    finally:
        server.stop()


def enter_key(page: Page, key: str, reason: str | re.Pattern[str]) -> None:
    dialog = page.get_by_role("dialog", name="API key")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(reason)
    expect(dialog.get_by_label("Key")).to_be_focused()
    dialog.get_by_label("Key").fill(key)
    dialog.get_by_role("button", name="Use key").click()


def test_the_browser_asks_for_a_key_and_sends_it(
    page: Page, console: Console, guarded: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, ids = guarded
    console.allowed.append(re.compile(r"status of 40[13]"))  # the answers that make it ask
    sent: list[tuple[str, str | None]] = []

    def record(request: Request) -> None:
        if "/api/v1/" in request.url and not request.url.endswith("/health"):
            sent.append((request.url, request.headers.get("authorization")))

    page.on("request", record)
    page.goto(f"{server.base_url}/ui/#/users")
    enter_key(page, "not-a-key", SAYS_KEY)  # the server's reason
    enter_key(page, ADMIN, SAYS_KEY)  # a wrong key is refused: asked again
    rows = page.locator("table.users tbody tr")
    expect(rows).to_have_count(2)
    assert page.evaluate("sessionStorage.getItem('memfuse.apiKey')") == ADMIN
    expect(page.locator("#key-button")).to_have_text("API key: set")
    assert sent[-1][1] == f"Bearer {ADMIN}"

    page.reload()  # the key lives as long as the tab
    expect(rows).to_have_count(2)

    page.get_by_role("button", name=re.compile("API key")).click()
    enter_key(page, ids["ada_key"], "Enter the API key")
    expect(rows).to_have_count(1)  # a user's key sees that user only
    expect(rows).to_contain_text("ada")

    sent.clear()
    page.goto(f"{server.base_url}/ui/#/u/{ids['bob']}/facts")
    enter_key(page, ADMIN, "may not do this")  # 403: another user's data
    expect(page.get_by_role("heading", level=1)).to_have_text("Facts of bob")
    expect(page.locator(".empty")).to_contain_text("No facts yet")
    assert sent and all(auth and auth.startswith("Bearer ") for _, auth in sent)
