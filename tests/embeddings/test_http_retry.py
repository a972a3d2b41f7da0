"""The retry policy shared by the embedding service and the extraction model (http_retry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from tenacity import RetryCallState

from memfuse_server.http_retry import (
    RetryableError,
    RetryPolicy,
    excerpt,
    is_retryable_status,
    retry_after,
)


def after_failure(attempt: int, error: BaseException) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


def test_the_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(max_retries=9, backoff_seconds=0.5, max_backoff_seconds=3.0)
    waits = [policy.wait(after_failure(n, RetryableError("HTTP 503"))) for n in range(1, 6)]
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_after_replaces_the_backoff_up_to_its_cap() -> None:
    policy = RetryPolicy(max_retries=3, backoff_seconds=0.01, max_retry_after_seconds=5.0)
    assert policy.wait(after_failure(1, RetryableError("HTTP 429", retry_after=2.0))) == 2.0
    assert policy.wait(after_failure(1, RetryableError("HTTP 429", retry_after=900.0))) == 5.0


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (503, True)])
def test_429_and_5xx_are_retryable(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


@pytest.mark.parametrize("status", [200, 400, 401, 404, 422])
def test_other_statuses_are_not(status: int) -> None:
    assert not is_retryable_status(status)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    def header(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after(header("7")) == 7.0
    assert retry_after(header("-3")) == 0.0
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8.0 <= (retry_after(header(in_ten)) or 0.0) <= 10.0
    assert retry_after(header("soon")) is None
    assert retry_after(httpx.Response(429)) is None


def test_excerpt_is_one_short_line() -> None:
    assert excerpt(httpx.Response(500, text="line one\nline two")) == "line one line two"
    assert len(excerpt(httpx.Response(500, text="x" * 1000))) == 300
    assert excerpt(httpx.Response(500)) == "(empty body)"


async def test_run_retries_then_raises_the_last_retryable_error() -> None:
    calls: list[int] = []

    async def failing() -> str:
        calls.append(1)
        raise RetryableError(f"HTTP 503 (call {len(calls)})")

    with pytest.raises(RetryableError, match=r"call 3"):
        await RetryPolicy(max_retries=2, backoff_seconds=0.0).run(failing)
    assert len(calls) == 3


async def test_run_does_not_retry_other_errors_and_returns_a_success() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RetryableError("HTTP 502")
        if len(calls) == 2:
            return "ok"
        raise AssertionError("not called again")

    assert await RetryPolicy(max_retries=5, backoff_seconds=0.0).run(flaky) == "ok"

    async def broken() -> str:
        calls.append(1)
        raise ValueError("not worth a retry")

    with pytest.raises(ValueError, match="not worth a retry"):
        await RetryPolicy(max_retries=5, backoff_seconds=0.0).run(broken)
    assert len(calls) == 3
