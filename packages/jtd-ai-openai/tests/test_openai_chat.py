"""Non-streamed replies: content, tool calls, refusals, usage, cost, ids, sync and async."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from jtd_ai import (
    FinishReason,
    InvalidCredentialsError,
    MalformedResponseError,
    Message,
    ProviderUnavailableError,
    RateLimitInfo,
    TokenUsage,
    ToolCall,
)
from jtd_ai.testing import ScriptedTransport
from jtd_ai_openai.testing import completion, error_body, tool_call, usage

HEADERS = {"x-request-id": "req_abc", "x-ratelimit-limit-requests": "500",
           "x-ratelimit-remaining-requests": "499", "x-ratelimit-reset-requests": "120ms",
           "x-ratelimit-limit-tokens": "200000", "x-ratelimit-remaining-tokens": "199000",
           "x-ratelimit-reset-tokens": "1m30s"}


async def send(driver, mode: str, prompt: str = "hi", **options):
    if mode == "sync":
        return driver.send_message(prompt, **options)
    return await driver.asend_message(prompt, **options)


async def test_reply_with_usage_cost_and_headers(openai_driver, mode: str) -> None:
    reply_body = completion("Olá!", model="gpt-4o-mini-2024-07-18",
                            usage=usage(1200, 300, cached=1000, reasoning=100))
    driver = openai_driver(ScriptedTransport(httpx.Response(200, json=reply_body, headers=HEADERS)))
    reply = await send(driver, mode, "Say hi in Portuguese")
    assert reply.content == "Olá!"
    assert reply.model == "gpt-4o-mini-2024-07-18"
    assert reply.provider == "openai"
    assert reply.finish_reason is FinishReason.STOP
    assert reply.usage == TokenUsage(input_tokens=1200, output_tokens=300,
                                     cached_input_tokens=1000, reasoning_tokens=100)
    assert reply.request_id == "req_abc"
    assert reply.rate_limit == RateLimitInfo(500, 499, 0.12, 200000, 199000, 90.0)
    # gpt-4o-mini: $0.15 input, $0.075 cached, $0.60 output per million tokens:
    # 200 * 0.15 + 1000 * 0.075 + 300 * 0.60 = 30 + 75 + 180 = 285 -> $0.000285
    assert reply.cost == Decimal("0.000285")
    assert reply.tool_calls == ()
    assert reply.refusal is None


async def test_tool_calls_are_kept_raw_and_parsed_lazily(openai_driver, mode: str) -> None:
    reply_body = completion(None, finish_reason="tool_calls", tool_calls=[
        tool_call("call_a", "add", '{"a": 2, "b": 3}'),
        tool_call("call_b", "weather", '{"city": "Rome'),  # the model produced bad JSON
    ], usage=usage(61, 16))
    driver = openai_driver(ScriptedTransport(httpx.Response(200, json=reply_body)))
    reply = await send(driver, mode)
    assert reply.content == ""
    assert reply.finish_reason is FinishReason.TOOL_CALLS
    assert reply.tool_calls == (ToolCall("call_a", "add", '{"a": 2, "b": 3}'),
                                ToolCall("call_b", "weather", '{"city": "Rome'))
    assert reply.tool_calls[0].parsed_arguments() == {"a": 2, "b": 3}
    with pytest.raises(MalformedResponseError, match=r"'weather' .*not valid JSON"):
        reply.tool_calls[1].parsed_arguments()
    assert reply.to_message().tool_calls == reply.tool_calls


async def test_refusal(openai_driver, mode: str) -> None:
    reply_body = completion(None, refusal="I can't help with that.", usage=usage(10, 6))
    reply = await send(openai_driver(ScriptedTransport(httpx.Response(200, json=reply_body))), mode)
    assert reply.refusal == "I can't help with that."
    assert reply.content == ""


@pytest.mark.parametrize(("wire", "ours"), [
    ("length", FinishReason.LENGTH), ("content_filter", FinishReason.CONTENT_FILTER),
    ("function_call", FinishReason.TOOL_CALLS), ("something_new", FinishReason.OTHER),
    (None, None),
])
def test_finish_reasons(openai_driver, wire: str | None, ours: FinishReason | None) -> None:
    reply_body = completion("x", finish_reason=wire)
    driver = openai_driver(ScriptedTransport(httpx.Response(200, json=reply_body)))
    reply = driver.send_message("hi")
    assert reply.finish_reason == ours


def test_usage_without_details_as_older_replies_send_it(openai_driver) -> None:
    reply_body = completion("x")
    reply_body["usage"] = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    driver = openai_driver(ScriptedTransport(httpx.Response(200, json=reply_body)))
    reply = driver.send_message("hi")
    assert reply.usage == TokenUsage(9, 4)


def test_a_missing_required_field_is_named(openai_driver) -> None:
    reply_body = completion("x")
    del reply_body["model"]
    driver = openai_driver(ScriptedTransport(httpx.Response(200, json=reply_body)))
    with pytest.raises(MalformedResponseError, match=r"\$\.model"):
        driver.send_message("hi")


def test_a_reply_without_choices_is_malformed(openai_driver) -> None:
    reply_body = completion("x")
    reply_body["choices"] = []
    driver = openai_driver(ScriptedTransport(httpx.Response(200, json=reply_body)))
    with pytest.raises(MalformedResponseError, match="without choices"):
        driver.send_message("hi")


def test_a_body_that_is_not_json_is_malformed(openai_driver) -> None:
    driver = openai_driver(ScriptedTransport(httpx.Response(200, content=b"<html>gateway</html>")))
    with pytest.raises(MalformedResponseError, match="not valid JSON"):
        driver.send_message("hi")


def test_an_error_object_in_a_200_reply_is_typed(openai_driver) -> None:
    bodies = [error_body("overloaded", type="server_error"),
              error_body("bad key", code="invalid_api_key")]
    driver = openai_driver(ScriptedTransport(*[httpx.Response(200, json=b) for b in bodies]))
    with pytest.raises(ProviderUnavailableError, match="overloaded"):
        driver.send_message("hi")
    with pytest.raises(InvalidCredentialsError, match="bad key"):
        driver.send_message("hi")


def test_conversation_keeps_the_assistant_turn(openai_driver) -> None:
    transport = ScriptedTransport(httpx.Response(200, json=completion("4")),
                                  httpx.Response(200, json=completion("8")))
    driver = openai_driver(transport)
    first = driver.send_message([Message.user("2+2?")])
    driver.send_message([Message.user("2+2?"), first.to_message(),
                                 Message.user("double it")])
    assert [m["content"] for m in transport.bodies[1]["messages"]] == ["2+2?", "4", "double it"]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_thinking_text_of_compatible_servers(openai_driver, field: str) -> None:
    # DeepSeek and xAI name it reasoning_content; Ollama's /v1 and others name it reasoning.
    reply_body = completion("Paris", model="qwen3:0.6b", **{field: "The capital is Paris."})
    driver = openai_driver(ScriptedTransport(httpx.Response(200, json=reply_body)))
    reply = driver.send_message("hi")
    assert reply.reasoning == "The capital is Paris."
    assert reply.content == "Paris"
