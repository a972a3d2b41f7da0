"""The web memory browser: a static single-page app served by the server at ``/ui``.

The app is plain JavaScript (ES modules, no build step, no third-party code) and
talks only to the public REST API under ``/api/v1``, sending the API key the
user typed (``Authorization: Bearer``) when one is set. Its files live in
``static/`` beside this module and ship as package data.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
PATH = "/ui"

# The page renders memory contents (text users and agents wrote): allow nothing
# but this origin's own scripts, styles and API, and no framing.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
        " frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate on every load (a 304 when unchanged) so an upgrade is seen at once.
    "Cache-Control": "no-cache",
}


class _UiFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(HEADERS)
        return response


async def _entry(request: Request) -> Response:
    """``/ui/`` is the app; ``/ui`` redirects there so the page's relative URLs resolve.

    The server's trailing-slash middleware hands ``/ui/`` on as ``/ui``; the raw
    path still tells the two apart.
    """
    if _raw_path(request.scope).endswith(b"/"):
        return FileResponse(STATIC / "index.html", headers=HEADERS)
    return RedirectResponse("ui/", status_code=307)  # relative: works behind a path prefix


def _raw_path(scope: Scope) -> bytes:
    raw = scope.get("raw_path")
    return raw if isinstance(raw, bytes) else str(scope["path"]).encode()


async def _root(request: Request) -> Response:
    return RedirectResponse("ui/", status_code=307)  # relative, like _entry's


def mount_ui(app: FastAPI) -> None:
    """Serve the memory browser at ``/ui/`` (and redirect ``/`` and ``/ui`` to it)."""
    app.add_route("/", _root, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_route(PATH, _entry, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount(PATH, _UiFiles(directory=STATIC, html=True), name="ui")


__all__ = ["mount_ui"]
