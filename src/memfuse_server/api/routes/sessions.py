"""Sessions: a user's conversation with an agent."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from memfuse_server.api.auth import Caller
from memfuse_server.api.deps import Service
from memfuse_server.api.envelope import ok
from memfuse_server.api.schemas import SessionCreate, SessionUpdate, session_json
from memfuse_server.errors import NotFound

router = APIRouter(prefix="/sessions", tags=["sessions"])


@router.get("", summary="List sessions, filtered by user, agent or name")
async def find_sessions(
    service: Service,
    caller: Caller,
    user_id: str | None = None,
    agent_id: str | None = None,
    name: str | None = None,
) -> Response:
    found = await service.store.find_sessions(user_id, agent_id, name, caller.owner)
    if name is not None and not found:
        raise NotFound(f"Session named {name!r} not found.")
    return ok({"sessions": [session_json(s) for s in found]})


@router.post("", status_code=201, summary="Create a session (a null name is generated)")
async def create_session(body: SessionCreate, service: Service, caller: Caller) -> Response:
    caller.require_user(body.user_id)
    session = await service.create_session(body.user_id, body.agent_id, body.name)
    return ok({"session": session_json(session)}, "Session created", 201)


@router.get("/{session_id}", summary="Get a session")
async def get_session(session_id: str, service: Service, caller: Caller) -> Response:
    return ok({"session": session_json(await service.store.get_session(session_id, caller.owner))})


@router.post(
    "/{session_id}/flush",
    summary="Close the session's open round window now (ext): its episode is derived at once",
)
async def flush_session(session_id: str, service: Service, caller: Caller) -> Response:
    episode_id = await service.flush_session(session_id, caller.owner)
    message = "Window closed" if episode_id else "The window was empty"
    return ok({"session_id": session_id, "episode_id": episode_id}, message)


@router.put("/{session_id}", summary="Rename a session")
async def update_session(
    session_id: str, body: SessionUpdate, service: Service, caller: Caller
) -> Response:
    session = await service.store.update_session(session_id, body.name, caller.owner)
    return ok({"session": session_json(session)}, "Session updated")


@router.delete("/{session_id}", summary="Delete a session, its messages and what was derived")
async def delete_session(session_id: str, service: Service, caller: Caller) -> Response:
    await service.store.delete_session(session_id, caller.owner)
    return ok({"session_id": session_id}, "Session deleted")
