"""The Gemini driver end to end against the core's fake provider server (real HTTP on
loopback, in this process): framing, pagination, faults and retries over a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jtd_ai import AIManager, InvalidCredentialsError, RateLimitError, Tool
from jtd_ai.testing import FakeProviderServer, Fault
from jtd_ai_gemini import acount_tokens

KEY = "AIza.fake-server-key.0123456789abcdef"


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(api_key=KEY) as running:
        yield running


@pytest.fixture
def manager(server: FakeProviderServer) -> Iterator[AIManager]:
    settings = {"base_url": server.base_url("gemini"), "api_key": KEY, "models_page_size": 2}
    with AIManager(providers={"gemini": settings}, config_file=False, env={}) as made:
        yield made


def test_chat_stream_and_key_header(manager, server) -> None:
    driver = manager.driver("gemini")
    reply = driver.send_message("hello there")
    streamed = driver.stream("hello there")
    assert [c.delta for c in streamed] == ["echo:", " hello", " there"]
    assert streamed.response is not None
    assert reply.content == streamed.response.content == "echo: hello there"
    assert reply.usage == streamed.response.usage
    # The key went in the x-goog-api-key header (never the URL), and it was the right one.
    assert all(KEY not in r.path and "key" not in r.query for r in server.requests)
    assert all(r.key_source == "x-goog-api-key" and r.authorized for r in server.requests)
    assert server.requests[-1].query == {"alt": "sse"}


async def test_async_tool_round_trip_and_count_tokens(manager) -> None:
    driver = manager.driver("gemini")
    tool = Tool("search", "Search the web", {"type": "object",
                                             "properties": {"query": {"type": "string"}}})
    chat = manager.conversation("gemini").tools(tool).message("jtd-ai")
    call = (await chat.asend()).tool_calls[0]
    assert (call.name, call.parsed_arguments()) == ("search", {"query": "jtd-ai"})
    final = await chat.tool_result(call.id, "found it").asend()
    assert final.content == 'tool said: {"result": "found it"}'
    assert await acount_tokens(driver, "one two three") == 3
    await driver.aclose()


def test_models_follow_pages_over_http(manager, server) -> None:
    models = manager.driver("gemini").get_available_models()
    assert [m.id for m in models] == ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash",
                                      "text-embedding-004"]
    assert [r.query.get("pageToken") for r in server.requests] == [None, "page-1"]


def test_rate_limit_fault_is_retried_then_succeeds(manager, server) -> None:
    server.inject(Fault(status=429, kind="1s"))
    assert manager.driver("gemini").send_message("again").content == "echo: again"
    assert len(server.requests) == 2


def test_rate_limit_error_carries_retry_delay(server) -> None:
    server.inject(Fault(status=429, kind="7s"))
    settings = {"base_url": server.base_url("gemini"), "api_key": KEY, "retry_attempts": 1}
    with (AIManager(providers={"gemini": settings}, config_file=False, env={}) as manager,
          pytest.raises(RateLimitError) as info):
        manager.driver("gemini").send_message("x")
    assert info.value.retry_after == 7


def test_wrong_key(server) -> None:
    settings = {"base_url": server.base_url("gemini"), "api_key": "AIzaSyWrongKey000000000000000"}
    with AIManager(providers={"gemini": settings}, config_file=False, env={}) as manager:
        driver = manager.driver("gemini")
        assert driver.validate_credentials() is False
        with pytest.raises(InvalidCredentialsError):
            driver.send_message("x")
