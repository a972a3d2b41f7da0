"""A user's memory as JSON Lines (ext), streamed as it is read (docs/export.md)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from memfuse_server.api.auth import OwnUser
from memfuse_server.api.deps import Service
from memfuse_server.exporter.lines import dumps

router = APIRouter(prefix="/users/{user_id}", tags=["export"], dependencies=[OwnUser])

MEDIA_TYPE = "application/x-ndjson"


@router.get(
    "/export",
    summary="Export the user's memory as JSON Lines, streamed (docs/export.md)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {MEDIA_TYPE: {}}, "description": "The export, one line at a time."}
    },
)
async def export_user(
    user_id: str,
    service: Service,
    with_derived: bool = Query(
        default=False, description="Also the facts, entities and relations derived."
    ),
) -> Response:
    lines = await service.export(user_id, with_derived)
    return StreamingResponse(
        (dumps(line) async for line in lines),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="memfuse-{user_id}.jsonl"'},
    )
