"""xAI chat: OpenAI's wire with reasoning tokens outside completion_tokens, thinking text
in reasoning_content, and tool calls that stream whole."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from jtd_ai import FinishReason, TokenUsage, ToolCall
from jtd_ai.testing import ScriptedTransport
from jtd_ai_openai.testing import chunk, completion, sse, tool_call, usage

SSE = {"content-type": "text/event-stream"}
# Written from xAI's documented usage: total = prompt + completion + reasoning.
GROK_USAGE = usage(165, 2, cached=156, reasoning=125, total=292)
GROK_USAGE["cost_in_usd_ticks"] = 731000
GROK_USAGE["num_sources_used"] = 0


def xai_chunk(delta: dict, **kwargs) -> dict:
    """xAI leaves out ``finish_reason``/``logprobs`` until the end and never sends
    ``usage: null``."""
    body = chunk(delta, model="grok-4-fast-reasoning", **kwargs)
    if body["usage"] is None:
        del body["usage"]
    for choice in body["choices"]:
        del choice["logprobs"]
        if choice["finish_reason"] is None:
            del choice["finish_reason"]
    return body


async def send(driver, mode: str, prompt: str = "hi", **options):
    if mode == "sync":
        return driver.send_message(prompt, **options)
    return await driver.asend_message(prompt, **options)


async def stream(driver, mode: str, prompt: str = "hi"):
    if mode == "sync":
        chat = driver.stream(prompt)
        chunks = list(chat)
    else:
        chat = driver.astream(prompt)
        chunks = [c async for c in chat]
    return chunks, chat.response


async def test_reply_counts_reasoning_as_output(xai_driver, mode: str, key: str) -> None:
    body = completion("Olá!", model="grok-4-fast-reasoning", usage=GROK_USAGE)
    transport = ScriptedTransport(httpx.Response(200, json=body))
    reply = await send(xai_driver(transport), mode, max_tokens=4000)
    sent = transport.requests[0]
    assert str(sent.url) == "https://api.x.ai/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {key}"
    assert transport.bodies[0]["model"] == "grok-4-1-fast-reasoning"
    assert transport.bodies[0]["max_tokens"] == 4000
    assert reply.usage == TokenUsage(input_tokens=165, output_tokens=127,
                                     cached_input_tokens=156, reasoning_tokens=125)
    # grok-4-fast-reasoning: $0.20 input, $0.05 cached, $0.50 output per million.
    # 9 x 0.20 + 156 x 0.05 + 127 x 0.50 = 1.8 + 7.8 + 63.5 = 73.1 -> $0.0000731, which is
    # what xAI itself reported: 731,000 ticks at 10^10 ticks per dollar.
    assert reply.cost == Decimal("0.0000731")
    assert reply.cost == Decimal(GROK_USAGE["cost_in_usd_ticks"]) / Decimal(10) ** 10


def test_reasoning_is_added_even_without_total_tokens(xai_driver) -> None:
    numbers = usage(10, 5, reasoning=20)
    del numbers["total_tokens"]
    reply = xai_driver(ScriptedTransport(httpx.Response(200, json=completion("x", usage=numbers)))
                       ).send_message("hi")
    assert reply.usage is not None and reply.usage.output_tokens == 25


async def test_thinking_text_plain_and_streamed_agree(xai_driver, mode: str) -> None:
    numbers = usage(30, 12, reasoning=40, total=82)
    plain = completion("42", model="grok-3-mini-high", usage=numbers,
                       reasoning_content="Six times seven.")
    body = sse(
        xai_chunk({"role": "assistant"}),
        xai_chunk({"reasoning_content": "Six times"}),
        xai_chunk({}),  # xAI sends empty deltas while it thinks
        xai_chunk({"reasoning_content": " seven."}),
        xai_chunk({"content": "42"}),
        xai_chunk({}, finish_reason="stop"),
        xai_chunk({}, usage=numbers, choices=False),
    ).replace(b"grok-4-fast-reasoning", b"grok-3-mini-high")
    transport = ScriptedTransport(httpx.Response(200, content=body, headers=SSE),
                                  httpx.Response(200, json=plain))
    driver = xai_driver(transport)
    chunks, streamed = await stream(driver, mode)
    assert [c.reasoning for c in chunks if c.reasoning] == ["Six times", " seven."]
    assert streamed is not None
    reply = await send(driver, mode)
    for field in ("content", "reasoning", "usage", "finish_reason", "model", "cost"):
        assert getattr(streamed, field) == getattr(reply, field), field
    assert reply.reasoning == "Six times seven."
    assert reply.usage == TokenUsage(30, 52, reasoning_tokens=40)
    # grok-3-mini-high is priced as grok-3-mini: 30 x $0.30 + 52 x $0.50 per million.
    assert reply.cost == Decimal("0.000035")


async def test_whole_tool_calls_in_one_chunk_each(xai_driver, mode: str) -> None:
    body = sse(
        xai_chunk({"role": "assistant", "tool_calls": [
            {"id": "call_1", "function": {"name": "add", "arguments": "{\"a\":2,\"b\":3}"},
             "index": 0, "type": "function"}]}),
        xai_chunk({"tool_calls": [
            {"id": "call_2", "function": {"name": "multiply", "arguments": "{\"a\":2}"},
             "index": 1, "type": "function"}]}),
        xai_chunk({}, finish_reason="tool_calls"),
        xai_chunk({}, usage=usage(432, 68, reasoning=136, total=636), choices=False),
    )
    plain = completion("", model="grok-4-fast-reasoning", finish_reason="tool_calls",
                       usage=usage(432, 68, reasoning=136, total=636), tool_calls=[
                           tool_call("call_1", "add", "{\"a\":2,\"b\":3}"),
                           tool_call("call_2", "multiply", "{\"a\":2}")])
    transport = ScriptedTransport(httpx.Response(200, content=body, headers=SSE),
                                  httpx.Response(200, json=plain))
    driver = xai_driver(transport)
    _, streamed = await stream(driver, mode)
    reply = await send(driver, mode)
    assert streamed is not None
    assert streamed.tool_calls == reply.tool_calls == (
        ToolCall("call_1", "add", "{\"a\":2,\"b\":3}"), ToolCall("call_2", "multiply", "{\"a\":2}"))
    assert streamed.finish_reason is reply.finish_reason is FinishReason.TOOL_CALLS
    assert streamed.usage == reply.usage == TokenUsage(432, 204, reasoning_tokens=136)


@pytest.mark.parametrize("model", ["grok-4-0709", "grok-3-mini", "grok-code-fast-1"])
def test_grok_models_take_max_tokens(xai_driver, model: str) -> None:
    transport = ScriptedTransport(httpx.Response(200, json=completion("x", model=model)))
    xai_driver(transport).send_message("hi", model=model, max_tokens=5,
                                       extra={"reasoning_effort": "high"})
    assert transport.bodies[0]["max_tokens"] == 5
    assert transport.bodies[0]["reasoning_effort"] == "high"
