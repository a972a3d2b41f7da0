"""How the server serves the memory browser: /ui, its files, and what it refuses."""

from __future__ import annotations

import httpx

from tests.serverproc import ServerProcess


def test_ui_redirects_to_the_app_with_a_trailing_slash(server: ServerProcess) -> None:
    response = httpx.get(f"{server.base_url}/ui")
    assert response.status_code == 307
    assert httpx.URL(f"{server.base_url}/ui").join(response.headers["location"]).path == "/ui/"


def test_the_app_and_its_files_are_served_with_a_strict_policy(server: ServerProcess) -> None:
    page = httpx.get(f"{server.base_url}/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    script = httpx.get(f"{server.base_url}/ui/js/main.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "no-cache"
    again = httpx.get(
        f"{server.base_url}/ui/js/main.js", headers={"If-None-Match": script.headers["etag"]}
    )
    assert again.status_code == 304


def test_unknown_files_are_404_in_the_envelope(server: ServerProcess) -> None:
    for path in ("/ui/nope.js", "/ui/../pyproject.toml", "/ui/%2e%2e/__init__.py"):
        response = httpx.get(f"{server.base_url}{path}")
        assert response.status_code == 404, path
        assert response.json()["status"] == "error"
    assert httpx.post(f"{server.base_url}/ui/js/main.js").status_code == 405
