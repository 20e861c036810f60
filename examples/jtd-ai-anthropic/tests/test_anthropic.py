"""What is particular to Anthropic's wire format: usage, system prompt, tools, stream events."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from anthropic_samples import SAMPLES, TOOL_MESSAGE, sse

from jtd_ai import AIManager, Message, ProviderUnavailableError, Tool, ToolCall


def manager(handler) -> AIManager:  # type: ignore[no-untyped-def]
    return AIManager(providers={"claude": {"driver": "anthropic", "api_key": "k-anthropic-01"}},
                     config_file=False, env={}, transports={"claude": httpx.MockTransport(handler)})


def test_usage_counts_cache_reads_and_writes_as_input() -> None:
    reply = manager(lambda r: SAMPLES.chat.response()).driver("claude").send_message("hi")
    assert reply.usage is not None
    assert reply.usage.input_tokens == 12 + 100 + 20
    assert reply.usage.cached_input_tokens == 100
    assert reply.usage.cache_write_tokens == 20
    # Haiku 4.5: 12 x $1 + 100 x $0.10 + 20 x $1.25 + 8 x $5, per million tokens
    assert reply.cost == (12 * Decimal(1) + 100 * Decimal("0.10") + 20 * Decimal("1.25")
                          + 8 * Decimal(5)) / 1_000_000


def test_request_shape_system_tools_and_tool_results() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.headers["x-api-key"] == "k-anthropic-01"
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert request.url.path == "/v1/messages"
        return httpx.Response(200, json=TOOL_MESSAGE)

    call = ToolCall("toolu_01", "get_weather", '{"city": "Paris"}')
    messages = [Message.system("Be brief."), Message.user("Weather?"),
                Message.assistant(tool_calls=[call]),
                Message.tool("18C", call_id="toolu_01")]
    manager(handler).driver("claude").send_message(
        messages, tools=[Tool("get_weather", "weather", {"type": "object"})],
        tool_choice="required", stop=["END"])
    body = seen[0]
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 4096
    assert body["stop_sequences"] == ["END"]
    assert body["tool_choice"] == {"type": "any"}
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}]}


def test_error_event_mid_stream_keeps_the_text() -> None:
    body = sse(
        {"type": "message_start", "message": {"model": "claude-haiku-4-5", "usage": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Par"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    driver = manager(lambda r: httpx.Response(200, content=body)).driver("claude")
    with pytest.raises(ProviderUnavailableError) as info:
        list(driver.stream("hi"))
    assert info.value.partial is not None
    assert info.value.partial.content == "Par"


def test_thinking_blocks_go_back_with_their_signatures() -> None:
    import httpx

    from jtd_ai import AIManager, Message, Tool
    from jtd_ai.testing import ScriptedTransport

    first = {"id": "msg_t", "type": "message", "role": "assistant",
             "model": "claude-haiku-4-5-20251001", "stop_reason": "tool_use",
             "usage": {"input_tokens": 10, "output_tokens": 20},
             "content": [{"type": "thinking", "thinking": "Need the date.",
                          "signature": "EqQBCgIYAhIM"},
                         {"type": "tool_use", "id": "toolu_1", "name": "today", "input": {}}]}
    final = {**first, "stop_reason": "end_turn",
             "content": [{"type": "text", "text": "Monday."}]}
    transport = ScriptedTransport(httpx.Response(200, json=first), httpx.Response(200, json=final))
    manager = AIManager(providers={"anthropic": {"api_key": "anthropic-test-key-000001"}},
                        config_file=False, env={}, transports={"anthropic": transport})
    driver = manager.driver("anthropic")
    tools = [Tool("today", "The date")]
    history = [Message.user("What day is it?")]
    reply = driver.send_message(history, tools=tools)
    assert reply.reasoning == "Need the date."
    history += [reply.to_message(), Message.tool("Monday", call_id="toolu_1")]
    driver.send_message(history, tools=tools)
    assistant = transport.bodies[1]["messages"][1]
    assert assistant["content"][0] == {"type": "thinking", "thinking": "Need the date.",
                                       "signature": "EqQBCgIYAhIM"}
    assert assistant["content"][1]["type"] == "tool_use"
    manager.close()
