"""The API docs page works with no network: Swagger UI comes from the server itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, Route

from tests.serverproc import ServerProcess


def test_the_docs_page_loads_only_from_the_server(server: ServerProcess) -> None:
    page = httpx.get(f"{server.api}/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls, page.text
    for url in urls:
        assert url.startswith("/api/v1/docs/assets/"), url
        assert httpx.get(f"{server.base_url}{url}").status_code == 200, url
    assert 'validatorUrl": null' in page.text  # no badge fetched from the validator service


def test_the_docs_page_renders_in_a_browser_without_network(
    server: ServerProcess, page: Page
) -> None:
    own = urlsplit(server.base_url).netloc
    refused: list[str] = []

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", offline)
    page.goto(f"{server.api}/docs")
    page.locator(".swagger-ui .info .title", has_text="memfuse-server").wait_for()
    page.locator(".opblock-summary-path", has_text="/api/v1/health").first.wait_for()
    assert refused == []
