"""The MemFuse response envelope, for successes and errors alike."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class EnvelopeResponse(JSONResponse):
    """JSON rendered with orjson (datetimes as ISO-8601, fast)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def ok(data: Any, message: str = "OK", code: int = 200) -> EnvelopeResponse:
    body = {"status": "success", "code": code, "data": data, "message": message, "errors": None}
    return EnvelopeResponse(body, status_code=code)


def error(
    code: int,
    message: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> EnvelopeResponse:
    body = {"status": "error", "code": code, "data": None, "message": message, "errors": errors}
    return EnvelopeResponse(body, status_code=code, headers=headers)


__all__ = ["EnvelopeResponse", "error", "ok"]
