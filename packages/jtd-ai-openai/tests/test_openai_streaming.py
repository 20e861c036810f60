"""Streamed replies: deltas, tool-call fragments, usage, and streams that end badly."""

from __future__ import annotations

import httpx
import pytest

from jtd_ai import (
    FinishReason,
    MalformedResponseError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
    TokenUsage,
    ToolCall,
    ToolCallDelta,
)
from jtd_ai.testing import BrokenStream, ScriptedTransport
from jtd_ai_openai.testing import chunk, completion, error_body, sse, tool_call, usage

SSE = {"content-type": "text/event-stream; charset=utf-8", "x-request-id": "req_s1"}


def streamed(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers=SSE)


async def run(driver, mode: str, prompt: str = "hi"):
    """The chunks and the final Response of one stream, sync or async."""
    if mode == "sync":
        stream = driver.stream(prompt)
        chunks = list(stream)
    else:
        stream = driver.astream(prompt)
        chunks = [c async for c in stream]
    return chunks, stream.response


def same_reply(a, b) -> None:
    fields = ("content", "tool_calls", "usage", "finish_reason", "model", "request_id",
              "refusal", "cost")
    assert {f: getattr(a, f) for f in fields} == {f: getattr(b, f) for f in fields}


TEXT_STREAM = sse(
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "Olá"}),
    chunk({"content": ", mundo"}),
    chunk({}, finish_reason="stop"),
    chunk(usage=usage(20, 4, cached=8), choices=False),
)


async def test_text_stream_equals_the_plain_reply(openai_driver, mode: str) -> None:
    plain = completion("Olá, mundo", usage=usage(20, 4, cached=8))
    transport = ScriptedTransport(streamed(TEXT_STREAM),
                                  httpx.Response(200, json=plain,
                                                 headers={"x-request-id": "req_s1"}))
    driver = openai_driver(transport)
    chunks, response = await run(driver, mode)
    assert [c.delta for c in chunks if c.delta] == ["Olá", ", mundo"]
    assert chunks[-1].usage == TokenUsage(20, 4, cached_input_tokens=8)
    assert response is not None
    assert response.content == "Olá, mundo"
    assert response.finish_reason is FinishReason.STOP
    assert response.request_id == "req_s1"
    same_reply(response, driver.send_message("hi"))
    assert transport.bodies[0]["stream_options"] == {"include_usage": True}


PARALLEL_TOOLS = sse(
    chunk({"role": "assistant", "content": None}),
    chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                           "function": {"name": "add", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\": 2"}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_m", "type": "function",
                           "function": {"name": "multiply", "arguments": "{\"a\""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": ", \"b\": 3}"}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": ": 4}"}}]}),
    chunk({}, finish_reason="tool_calls"),
    chunk(usage=usage(80, 40), choices=False),
)


async def test_tool_call_fragments_are_joined_by_index(openai_driver, mode: str) -> None:
    plain = completion(None, finish_reason="tool_calls", usage=usage(80, 40), tool_calls=[
        tool_call("call_a", "add", "{\"a\": 2, \"b\": 3}"),
        tool_call("call_m", "multiply", "{\"a\": 4}")])
    transport = ScriptedTransport(streamed(PARALLEL_TOOLS),
                                  httpx.Response(200, json=plain,
                                                 headers={"x-request-id": "req_s1"}))
    driver = openai_driver(transport)
    chunks, response = await run(driver, mode)
    deltas = [d for c in chunks for d in c.tool_calls]
    assert deltas[0] == ToolCallDelta(index=0, id="call_a", name="add", arguments="")
    assert deltas[2] == ToolCallDelta(index=1, id="call_m", name="multiply", arguments="{\"a\"")
    assert response is not None
    assert response.tool_calls == (ToolCall("call_a", "add", "{\"a\": 2, \"b\": 3}"),
                                   ToolCall("call_m", "multiply", "{\"a\": 4}"))
    assert response.finish_reason is FinishReason.TOOL_CALLS
    same_reply(response, driver.send_message("hi"))


def test_tool_calls_without_index_are_told_apart_by_id(openai_driver) -> None:
    body = sse(
        chunk({"tool_calls": [{"id": "c1", "function": {"name": "a", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"id": "c2", "function": {"name": "b", "arguments": "{\"x\""}}]}),
        chunk({"tool_calls": [{"function": {"arguments": ": 1}"}}]}),
        chunk({}, finish_reason="tool_calls"),
    )
    stream = openai_driver(ScriptedTransport(streamed(body))).stream("hi")
    list(stream)
    assert stream.response is not None
    assert stream.response.tool_calls == (ToolCall("c1", "a", "{}"),
                                          ToolCall("c2", "b", "{\"x\": 1}"))


async def test_streamed_refusal(openai_driver, mode: str) -> None:
    body = sse(chunk({"role": "assistant", "refusal": ""}), chunk({"refusal": "I can't "}),
               chunk({"refusal": "help."}), chunk({}, finish_reason="stop"))
    _, response = await run(openai_driver(ScriptedTransport(streamed(body))), mode)
    assert response is not None
    assert response.refusal == "I can't help."
    assert response.content == ""
    assert response.usage is None  # no usage chunk was sent


async def test_error_event_mid_stream_keeps_the_partial(openai_driver, mode: str) -> None:
    body = sse(chunk({"content": "Half an "}), chunk({"content": "answer"}),
               error_body("The server had an error", type="server_error"), done=False)
    transport = ScriptedTransport(streamed(body))
    with pytest.raises(ProviderUnavailableError, match="server had an error") as info:
        await run(openai_driver(transport), mode)
    assert info.value.partial is not None
    assert info.value.partial.content == "Half an answer"
    assert len(transport.requests) == 1  # a chunk was delivered, so no retry


async def test_rate_limit_event_mid_stream(openai_driver, mode: str) -> None:
    body = sse(chunk({"content": "a"}),
               error_body("Rate limit reached. Please try again in 1.5s.", type="requests",
                          code="rate_limit_exceeded"), done=False)
    with pytest.raises(RateLimitError) as info:
        await run(openai_driver(ScriptedTransport(streamed(body))), mode)
    assert info.value.retry_after == 1.5
    assert info.value.partial is not None and info.value.partial.content == "a"


def test_an_sse_error_event_without_an_error_object(openai_driver) -> None:
    body = sse(chunk({"content": "a"}), done=False) + (
        b'event: error\ndata: {"message": "upstream timed out", "code": "timeout"}\n\n')
    with pytest.raises(ProviderError, match="upstream timed out") as info:
        list(openai_driver(ScriptedTransport(streamed(body))).stream("hi"))
    assert info.value.code == "timeout"
    assert info.value.partial is not None and info.value.partial.content == "a"


def test_error_event_before_any_chunk_is_retried(openai_driver) -> None:
    failing = sse(chunk({"role": "assistant", "content": ""}),
                  error_body("overloaded", type="server_error"), done=False)
    transport = ScriptedTransport(streamed(failing), streamed(TEXT_STREAM))
    stream = openai_driver(transport).stream("hi")
    assert "".join(c.delta for c in stream) == "Olá, mundo"
    assert len(transport.requests) == 2


async def test_stream_without_done_is_interrupted(openai_driver, mode: str) -> None:
    body = sse(chunk({"content": "cut "}), chunk({"content": "off"}),
               chunk({}, finish_reason="stop"), chunk(usage=usage(5, 2), choices=False),
               done=False)
    with pytest.raises(StreamInterruptedError, match=r"\[DONE\]") as info:
        await run(openai_driver(ScriptedTransport(streamed(body))), mode)
    partial = info.value.partial
    assert partial is not None
    assert partial.content == "cut off"
    assert partial.usage == TokenUsage(5, 2)


def test_connection_reset_mid_stream_keeps_the_partial(openai_driver) -> None:
    first = sse(chunk({"content": "so far"}), done=False)
    transport = ScriptedTransport(httpx.Response(200, stream=BrokenStream(first), headers=SSE))
    with pytest.raises(StreamInterruptedError) as info:
        list(openai_driver(transport).stream("hi"))
    assert info.value.partial is not None and info.value.partial.content == "so far"


def test_an_event_that_is_not_json(openai_driver) -> None:
    body = sse(chunk({"content": "ok "}), "{not json", done=False)
    with pytest.raises(MalformedResponseError, match="not JSON") as info:
        list(openai_driver(ScriptedTransport(streamed(body))).stream("hi"))
    assert info.value.partial is not None and info.value.partial.content == "ok "


def test_stream_message_calls_back_per_chunk(openai_driver) -> None:
    seen: list[str] = []
    response = openai_driver(ScriptedTransport(streamed(TEXT_STREAM))).stream_message(
        "hi", lambda c: seen.append(c.delta))
    assert "".join(seen) == response.content == "Olá, mundo"


# -- choices[].index (issue 16: every choice was merged into choice 0) -----------------------
# A Response is one choice: index 0 (n > 1 is refused before sending). A server that sends
# other choices anyway (n set on its side, or a proxy) has their chunks left out, not merged.


def indexed(index: int, delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-n2", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": index, "delta": delta, "logprobs": None,
                         "finish_reason": finish}]}


TWO_CHOICES = sse(
    indexed(0, {"role": "assistant", "content": ""}),
    indexed(1, {"role": "assistant", "content": ""}),
    indexed(0, {"content": "Yes"}),
    indexed(1, {"content": "No"}),
    indexed(1, {"tool_calls": [{"index": 0, "id": "call_other", "type": "function",
                                "function": {"name": "other", "arguments": "{}"}}]}),
    indexed(0, {"content": ", indeed"}),
    {**indexed(0, {}, "stop"), "choices": [
        {"index": 1, "delta": {"content": " way"}, "logprobs": None, "finish_reason": "length"},
        {"index": 0, "delta": {"content": "."}, "logprobs": None, "finish_reason": "stop"}]},
    chunk(usage=usage(10, 8), choices=False),
)


async def test_chunks_of_other_choices_are_not_merged_into_choice_0(openai_driver,
                                                                     mode: str) -> None:
    driver = openai_driver(ScriptedTransport(streamed(TWO_CHOICES)))
    chunks, response = await run(driver, mode)
    assert response is not None
    assert response.content == "Yes, indeed."
    assert "".join(c.delta for c in chunks) == "Yes, indeed."
    assert response.finish_reason is FinishReason.STOP
    assert response.tool_calls == ()
    assert response.usage == TokenUsage(10, 8)
