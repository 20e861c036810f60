"""The driver over real HTTP against the project's fake provider server (loopback only)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from jtd_ai import AIManager, Driver, QuotaExceededError, StreamInterruptedError, Tool
from jtd_ai.testing import FakeProviderServer, Fault

LOOKUP = Tool("lookup", "Look a word up", {"type": "object",
                                            "properties": {"query": {"type": "string"}}})


@pytest.fixture
def driver(fake_provider_server: FakeProviderServer) -> Iterator[Callable[..., Driver]]:
    managers: list[AIManager] = []

    def make(**settings: object) -> Driver:
        manager = AIManager(config_file=False, env={}, providers={"openai": {
            "base_url": fake_provider_server.base_url("openai"),
            "api_key": "test-key-fake-server-01", **settings}})
        managers.append(manager)
        return manager.driver("openai")

    yield make
    for manager in managers:
        manager.close()


def test_chat_stream_and_usage_over_http(driver, fake_provider_server) -> None:
    chat = driver()
    plain = chat.send_message("hello there", model="gpt-4o-mini")
    assert plain.content == "echo: hello there"
    # OpenAI answers an alias with its dated snapshot; the alias's price still applies.
    assert plain.model == "gpt-4o-mini-2024-07-18"
    assert plain.cost is not None and plain.cost > 0
    assert plain.request_id is not None and plain.request_id.startswith("req_fake_")
    assert plain.rate_limit is not None and plain.rate_limit.reset_requests == 0.006
    stream = chat.stream("hello there", model="gpt-4o-mini")
    assert [c.delta for c in stream if c.delta] == ["echo:", " hello", " there"]
    assert stream.response is not None
    assert (stream.response.content, stream.response.usage, stream.response.finish_reason) == (
        plain.content, plain.usage, plain.finish_reason)
    sent = fake_provider_server.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json()["stream_options"] == {"include_usage": True}
    assert sent.key_source == "authorization"
    assert len(fake_provider_server.requests) == 2  # this test's own requests only


async def test_async_tool_call_stream_over_http(driver) -> None:
    chat = driver()
    reply = await chat.asend_message("cats", model="gpt-4o-mini", tools=[LOOKUP])
    stream = chat.astream("cats", model="gpt-4o-mini", tools=[LOOKUP])
    [c async for c in stream]
    assert stream.response is not None
    assert reply.tool_calls[0].name == stream.response.tool_calls[0].name == "lookup"
    assert json.loads(stream.response.tool_calls[0].arguments) == {"query": "cats"}
    assert stream.response.tool_calls[0].parsed_arguments() == reply.tool_calls[
        0].parsed_arguments()


def test_rate_limit_fault_is_retried(driver, fake_provider_server) -> None:
    fake_provider_server.inject(Fault(status=429, retry_after="1"))
    before = len(fake_provider_server.requests)
    assert driver().send_message("again", model="gpt-4o-mini").content == "echo: again"
    assert len(fake_provider_server.requests) - before == 2


def test_quota_fault_is_not_retried(driver, fake_provider_server) -> None:
    fake_provider_server.inject(Fault(status=429, kind="insufficient_quota"), times=3)
    before = len(fake_provider_server.requests)
    with pytest.raises(QuotaExceededError):
        driver().send_message("hi", model="gpt-4o-mini")
    assert len(fake_provider_server.requests) - before == 1


def test_reset_mid_stream_keeps_the_partial(driver, fake_provider_server) -> None:
    fake_provider_server.inject(Fault(reset_after=3))
    stream = driver(retry_attempts=1).stream("one two three four", model="gpt-4o-mini")
    with pytest.raises(StreamInterruptedError) as info:
        list(stream)
    assert info.value.partial is not None
    assert info.value.partial.content == "echo: one"


def test_models_and_credentials_over_http(driver) -> None:
    chat = driver()
    ids = [m.id for m in chat.get_available_models()]
    assert "gpt-4o-mini" in ids
    assert next(m for m in chat.get_available_models() if m.id == "gpt-4o-mini"
                ).context_length == 128_000
    assert chat.validate_credentials() is True
