"""Fixtures of the browser tests: a seeded live server and headless Chromium.

Chromium is Debian's (``make browser`` installs it; Playwright's own browser
download does not work on these machines), driven by Playwright's Python API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.serverproc import ServerProcess
from tests.ui.seed import SETTINGS, Seeded, seed

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class Live:
    server: ServerProcess
    seeded: Seeded
    api: httpx.Client

    @property
    def ui(self) -> str:
        return f"{self.server.base_url}/ui/"

    def url(self, route: str) -> str:
        """The page at a hash route, e.g. ``#/status``."""
        return self.ui + route


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = ServerProcess(tmp_path_factory.mktemp("ui"), settings=SETTINGS)
    server.start()
    try:
        with httpx.Client(base_url=server.api, timeout=60) as api:
            yield Live(server, seed(api), api)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
    )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@dataclass
class Console:
    """What the page reported: console errors and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.errors.append(f"console: {message.text} ({message.location})")

    def on_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A fresh tab (its own session storage); no console errors may happen in it."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-GB", timezone_id="UTC"
    )
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.on("console", console.on_console)
    tab.on("pageerror", console.on_error)
    yield tab
    context.close()
    assert console.errors == [], "\n".join(console.errors)


def screenshot(page: Page, name: str) -> None:
    """Write docs/screenshots/<name>.png (the README shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")
