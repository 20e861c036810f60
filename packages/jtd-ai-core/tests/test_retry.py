"""Retries on a scripted transport: what is retried, how long we wait, when we stop."""

from __future__ import annotations

import email.utils
import logging
import time

import httpx
import pytest
from core_helpers import echo_reply, sse

from jtd_ai import (
    InvalidCredentialsError,
    ModelNotFoundError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
    TimeoutError,
    ValidationError,
)
from jtd_ai.errors import QuotaExceededError
from jtd_ai.protocol import parse_retry_after
from jtd_ai.retry import RetryPolicy
from jtd_ai.testing import BrokenStream, ScriptedTransport


def ok() -> httpx.Response:
    return httpx.Response(200, json=echo_reply("fine"))


def waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [r.jtd_ai["wait"] for r in caplog.records if r.name == "jtd_ai.retry"
            and hasattr(r, "jtd_ai")]


def test_retry_after_seconds_is_honoured(manager_with, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="jtd_ai")
    transport = ScriptedTransport(
        httpx.Response(429, headers={"retry-after": "7"}, json={"error": "slow"}), ok())
    reply = manager_with(transport).driver().send_message("hi")
    assert reply.content == "fine"
    assert len(transport.requests) == 2
    assert waits(caplog) == [7.0]


def test_retry_after_http_date_is_honoured(manager_with, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="jtd_ai")
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    transport = ScriptedTransport(httpx.Response(503, headers={"retry-after": when}), ok())
    manager_with(transport).driver().send_message("hi")
    (wait,) = waits(caplog)
    assert 25 <= wait <= 30


def test_retry_after_is_capped_by_retry_max_delay(manager_with, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="jtd_ai")
    transport = ScriptedTransport(httpx.Response(429, headers={"retry-after": "600"}), ok())
    manager_with(transport, retry_max_delay=5, deadline=900).driver().send_message("hi")
    assert waits(caplog) == [5.0]


def test_no_wait_is_begun_past_the_deadline(manager_with) -> None:
    transport = ScriptedTransport(httpx.Response(429, headers={"retry-after": "50"}), ok())
    with pytest.raises(RateLimitError) as info:
        manager_with(transport, deadline=10).driver().send_message("hi")
    assert info.value.retry_after == 50
    assert len(transport.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_never_retried(manager_with, status: int) -> None:
    transport = ScriptedTransport(httpx.Response(status, json={"error": "no"}), ok())
    with pytest.raises(Exception) as info:
        manager_with(transport).driver().send_message("hi")
    assert len(transport.requests) == 1
    if status in (401, 403):
        assert isinstance(info.value, InvalidCredentialsError)
    if status == 404:
        assert isinstance(info.value, ModelNotFoundError)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(manager_with, status: int) -> None:
    transport = ScriptedTransport(httpx.Response(status, json={"error": "later"}), ok())
    assert manager_with(transport).driver().send_message("hi").content == "fine"
    assert len(transport.requests) == 2


def test_attempts_are_bounded_by_retry_attempts(manager_with) -> None:
    transport = ScriptedTransport(*[httpx.Response(503, json={"error": "down"}) for _ in range(10)])
    with pytest.raises(ProviderUnavailableError) as info:
        manager_with(transport, retry_attempts=4).driver().send_message("hi")
    assert len(transport.requests) == 4
    assert info.value.status == 503


def test_connection_errors_are_retried(manager_with) -> None:
    transport = ScriptedTransport(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok())
    assert manager_with(transport).driver().send_message("hi").content == "fine"
    assert len(transport.requests) == 3


def test_connection_failure_names_the_url(manager_with) -> None:
    transport = ScriptedTransport(*[httpx.ConnectError("refused") for _ in range(3)])
    with pytest.raises(ProviderUnavailableError, match=r"could not connect to http://echo\.invalid"):
        manager_with(transport).driver().send_message("hi")


def test_timeouts_are_typed(manager_with) -> None:
    transport = ScriptedTransport(*[httpx.ReadTimeout("slow") for _ in range(2)])
    with pytest.raises(TimeoutError):
        manager_with(transport, retry_attempts=2).driver().send_message("hi")


def test_quota_exhausted_is_not_retried() -> None:
    state = RetryPolicy(attempts=5).start("p", "chat")
    assert state.backoff(QuotaExceededError("out of credit", status=429)) is False
    assert state.backoff(ValidationError("bad")) is False
    assert state.backoff(RateLimitError("slow", status=429, retry_after=2)) == 2


def test_backoff_is_exponential_with_full_jitter() -> None:
    state = RetryPolicy(attempts=10, base_delay=1, max_delay=4, deadline=1000).start("p", "chat")
    error = ProviderUnavailableError("down", status=503)
    ceilings = [1, 2, 4, 4, 4]
    for ceiling in ceilings:
        wait = state.backoff(error)
        assert isinstance(wait, float)
        assert 0 <= wait <= ceiling


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry-after": "3"}, 3.0), ({"retry-after-ms": "1500"}, 1.5), ({"retry-after": "soon"}, None),
     ({}, None), ({"retry-after": "-4"}, 0.0)],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_stream_is_retried_before_its_first_chunk(manager_with) -> None:
    good = sse({"delta": "echo:", "model": "echo-1"}, {"delta": " hi"},
               {"done": True, "usage": {"input": 1, "output": 2}, "finish_reason": "stop",
                "model": "echo-1"})
    transport = ScriptedTransport(httpx.Response(503), httpx.Response(200, content=good))
    stream = manager_with(transport).driver().stream("hi")
    assert "".join(c.delta for c in stream) == "echo: hi"
    assert len(transport.requests) == 2


def test_stream_is_not_retried_after_a_chunk_was_delivered(manager_with) -> None:
    first = sse({"delta": "echo:", "model": "echo-1"}, {"delta": " partial"})
    transport = ScriptedTransport(httpx.Response(200, stream=BrokenStream(first)),
                                  httpx.Response(200, content=b""))
    stream = manager_with(transport).driver().stream("hi")
    received = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in stream:
            received.append(chunk.delta)
    assert received == ["echo:", " partial"]
    assert info.value.partial is not None
    assert info.value.partial.content == "echo: partial"
    assert len(transport.requests) == 1


async def test_async_whole_call_deadline_cuts_a_slow_reply(manager_with) -> None:
    import asyncio

    calls = []

    async def slow(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        await asyncio.sleep(5)
        return httpx.Response(200, json=echo_reply("too late"))

    driver = manager_with(httpx.MockTransport(slow), deadline=0.2).driver()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="deadline"):
        await driver.asend_message("hi")
    assert time.monotonic() - started < 2
    assert len(calls) == 1  # a passed deadline is not retried


async def test_per_call_timeout_option_is_the_deadline(manager_with) -> None:
    import asyncio

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=echo_reply("too late"))

    conversation = manager_with(httpx.MockTransport(slow)).conversation().message("hi")
    with pytest.raises(TimeoutError):
        await conversation.timeout(0.1).asend()
