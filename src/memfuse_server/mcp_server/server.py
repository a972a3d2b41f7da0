"""The MCP server: the memory tools on the official ``mcp`` SDK, over two transports.

* Streamable HTTP at ``/mcp`` on the running server (``mount_mcp``), behind the same
  API keys as the REST API: each request's ``Authorization: Bearer`` key says who
  calls, and a user's key acts for that user only. Stateless (every request stands
  alone), so any of several API processes can answer it.
* stdio (``memfuse-server mcp``, ``run_stdio``), for hosts that start a server as a
  child process: it opens the configured store itself and acts as the admin would,
  for the user named with ``--user`` (else the one each call names). See docs/mcp.md.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from memfuse_server import __version__
from memfuse_server.api.auth import ANYONE, Principal
from memfuse_server.api.envelope import error
from memfuse_server.config import Settings
from memfuse_server.errors import MemFuseError, Unauthorized
from memfuse_server.mcp_server.tools import Caller, MemoryTools
from memfuse_server.models import ProcessKind
from memfuse_server.service import MemoryService

PATH = "/mcp"
CALLER = "memfuse.caller"  # where the HTTP endpoint leaves the caller in the request scope

INSTRUCTIONS = (
    "Long-term memory of the user across conversations. Before answering something that may"
    " depend on what the user said before, call search_memory with the question. When the user"
    " tells something worth keeping (facts about them, plans, preferences, decisions), call"
    " add_memory with it. Results are previews: get_memory gives one memory in full."
)

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
_DELETE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)
TOOLS = {
    "add_memory": _WRITE,
    "search_memory": _READ,
    "list_memories": _READ,
    "get_memory": _READ,
    "update_memory": _WRITE,
    "delete_memory": _DELETE,
    "delete_all_memories": _DELETE,
    "get_facts": _READ,
    "get_entity": _READ,
}


def build_mcp(tools: MemoryTools) -> MCPServer:
    """An MCP server offering every memory tool."""
    server: MCPServer = MCPServer(
        "memfuse", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    for name, hints in TOOLS.items():
        server.add_tool(_reporting(getattr(tools, name)), name=name, annotations=hints)
    return server


def _reporting(tool: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A tool whose deliberate errors reach the model as their sentence (not a crash)."""

    @functools.wraps(tool)
    async def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return await tool(*args, **kwargs)
        except MemFuseError as exc:
            raise ToolError(exc.message) from exc

    return run


def _caller_in_request(ctx: Context) -> Caller:
    request = ctx.request_context.request
    caller = None if request is None else request.scope.get(CALLER)
    if not isinstance(caller, Caller):
        raise Unauthorized("This call came without the server's authentication.")
    return caller


class _Endpoint:
    """``/mcp``: the API key checked as for every route, then the SDK's transport."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        try:
            principal: Principal = await state.auth.principal(authorization)
        except MemFuseError as exc:
            await error(401, exc.message)(scope, receive, send)
            return
        scope[CALLER] = Caller(state.service, principal)
        await self.server.session_manager.handle_request(scope, receive, send)


def _security(settings: Settings) -> TransportSecuritySettings:
    """On a loopback address, only local pages may call (DNS rebinding); elsewhere the keys guard."""
    if settings.server.host in ("127.0.0.1", "localhost", "::1"):
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    return TransportSecuritySettings(enable_dns_rebinding_protection=False)


def mount_mcp(app: FastAPI, settings: Settings) -> MCPServer:
    """Serve MCP at ``/mcp``; enter ``server.session_manager.run()`` in the app's lifespan."""
    server = build_mcp(MemoryTools(_caller_in_request))
    server.streamable_http_app(  # makes the session manager the endpoint hands requests to
        stateless_http=True,
        json_response=True,
        transport_security=_security(settings),
        max_request_body_size=settings.server.max_body_bytes,
    )
    app.router.routes.append(
        Route(PATH, _Endpoint(server), methods=["GET", "POST", "DELETE"], include_in_schema=False)
    )
    return server


@contextlib.asynccontextmanager
async def _local_service(settings: Settings) -> AsyncIterator[MemoryService]:
    """The store, the model and the background worker, as ``serve`` runs them."""
    from memfuse_server.api.app import running_service
    from memfuse_server.background import build_background

    async with running_service(settings) as service, contextlib.AsyncExitStack() as stack:
        if settings.worker.enabled:
            background = build_background(
                settings, service.store, service.embedder, ProcessKind.MCP
            )
            await stack.enter_async_context(background.running())
            service.on_write = background.worker.wake
        yield service


async def run_stdio(settings: Settings, user: str | None) -> None:
    """Serve MCP on stdin/stdout until the host closes it."""
    async with _local_service(settings) as service:
        principal = ANYONE
        if user is not None:
            principal = Principal((await service.user_named(user, create=True)).id)
        caller = Caller(service, principal)
        await build_mcp(MemoryTools(lambda ctx: caller)).run_stdio_async()


__all__ = ["PATH", "TOOLS", "build_mcp", "mount_mcp", "run_stdio"]
