"""Property-based fuzzing of every route from the OpenAPI document (schemathesis):
no 5xx, and every answer, success or error, in the MemFuse envelope.

The operations are read from the app's own OpenAPI document when the tests are
collected (no server needed for that), so a new route is fuzzed too; the cases
are sent to a real server process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from memfuse_server.api import create_app
from memfuse_server.config import load_settings
from tests.serverproc import ServerProcess

SCHEMA = schemathesis.openapi.from_dict(create_app(load_settings(environ={})).openapi())
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}
ENVELOPE = {"status", "code", "data", "message", "errors"}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("fuzz")).start()
    yield proc
    proc.stop()


def check_envelope(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, (where, response.text[:500])
    body = response.json()
    assert set(body) == ENVELOPE, (where, body)
    assert body["code"] == response.status_code, (where, body)
    assert body["status"] == ("success" if response.status_code < 400 else "error"), body
    if response.status_code >= 400:
        assert isinstance(body["message"], str) and len(body["message"]) > 10, body


def test_every_route_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 25, sorted(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_5xx_and_always_the_envelope(
    label: str, mode: GenerationMode, fuzz_server: ServerProcess
) -> None:
    operation = OPERATIONS[label]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    def fuzz(case: Any) -> None:
        check_envelope(case, case.call(base_url=fuzz_server.base_url, timeout=60))

    try:
        fuzz()
    except Unsatisfiable:
        # Only string path parameters: every value is valid, there is no negative case.
        assert mode is GenerationMode.NEGATIVE
