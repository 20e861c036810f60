"""Streaming with Gemini (``streamGenerateContent?alt=sse``): deltas, running usage, the
finishReason that ends a stream, and streams that end badly."""

from __future__ import annotations

import httpx
import pytest

from jtd_ai import (
    ContentFilteredError,
    FinishReason,
    RateLimitError,
    StreamInterruptedError,
    TokenUsage,
)
from jtd_ai.testing import BrokenStream

WEATHER_CALL = {"functionCall": {"name": "weather", "args": {"city": "Rome"}},
                "thoughtSignature": "U0lH"}


def chunks(wire, *texts: str, finish: str = "STOP", thoughts: int = 5):
    """One event per text; usage grows like Gemini's running totals; finish on the last."""
    events = []
    for i, text in enumerate(texts, 1):
        last = i == len(texts)
        events.append(wire.reply({"text": text}, finish=finish if last else None,
                                 usage=wire.usage(18, 10 * i, thoughts=thoughts)))
    return events


def test_stream_request_and_chunks(gemini, wire, key) -> None:
    driver, server = gemini(wire.stream(wire.sse(*chunks(wire, "1\n2\n", "3\n4", "\n5"))))
    stream = driver.stream("count to 5")
    deltas = [c.delta for c in stream]
    request = server.requests[0]
    assert request.url.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert dict(request.url.params) == {"alt": "sse"}
    assert request.headers["x-goog-api-key"] == key
    assert request.headers["accept"] == "text/event-stream"
    assert deltas == ["1\n2\n", "3\n4", "\n5"]
    reply = stream.response
    assert reply is not None
    assert reply.content == "1\n2\n3\n4\n5"
    assert reply.finish_reason is FinishReason.STOP
    assert reply.usage == TokenUsage(input_tokens=18, output_tokens=35, reasoning_tokens=5)


def test_streamed_and_whole_replies_agree(gemini, wire) -> None:
    usage = wire.usage(54, 15, thoughts=43)
    whole = wire.reply({"text": "Checking."}, WEATHER_CALL, usage=usage, response_id="r9")
    streamed = [wire.reply({"text": "Checking."}, finish=None, usage=wire.usage(54, 3),
                           response_id="r9"),
                wire.reply(WEATHER_CALL, finish=None, usage=usage, response_id="r9"),
                wire.reply({"text": ""}, usage=usage, response_id="r9")]
    driver, _ = gemini(wire.ok(whole), wire.stream(wire.sse(*streamed)))
    sent = driver.send_message("weather in Rome?")
    stream = driver.stream("weather in Rome?")
    list(stream)
    got = stream.response
    assert got is not None
    fields = ("content", "tool_calls", "finish_reason", "usage", "model", "reasoning",
              "request_id")
    assert {f: getattr(got, f) for f in fields} == {f: getattr(sent, f) for f in fields}
    assert got.finish_reason is FinishReason.TOOL_CALLS
    assert got.tool_calls[0].metadata == sent.tool_calls[0].metadata == {
        "thought_signature": "U0lH"}


def test_thinking_stream_keeps_thoughts_apart(gemini, wire) -> None:
    events = [wire.reply({"text": "**Plan** count", "thought": True}, finish=None),
              wire.reply({"text": "Hi", "thoughtSignature": "c2ln"}, finish=None),
              wire.reply({"text": "", "thoughtSignature": "c2ln"},
                         usage=wire.usage(11, 2, thoughts=291))]
    driver, _ = gemini(wire.stream(wire.sse(*events, crlf=False)))
    stream = driver.stream("hi")
    pieces = [(c.delta, c.reasoning) for c in stream]
    assert pieces[0] == ("", "**Plan** count")
    assert stream.response is not None
    assert stream.response.content == "Hi"
    assert stream.response.reasoning == "**Plan** count"
    assert stream.response.usage is not None and stream.response.usage.output_tokens == 293


def test_stream_without_a_finish_reason_is_interrupted(gemini, wire) -> None:
    events = [wire.reply({"text": "The weather"}, finish=None),
              wire.reply({"text": " in Rome"}, finish=None)]
    driver, _ = gemini(wire.stream(wire.sse(*events)))
    stream = driver.stream("x")
    with pytest.raises(StreamInterruptedError) as info:
        list(stream)
    assert info.value.partial is not None
    assert info.value.partial.content == "The weather in Rome"
    assert stream.response is None


def test_connection_reset_mid_stream_keeps_the_partial(gemini, wire) -> None:
    first = wire.sse(wire.reply({"text": "Half a"}, finish=None))
    driver, _ = gemini(httpx.Response(200, stream=BrokenStream(first),
                                      headers={"content-type": "text/event-stream"}))
    with pytest.raises(StreamInterruptedError) as info:
        list(driver.stream("x"))
    assert info.value.partial is not None and info.value.partial.content == "Half a"


async def test_async_stream_and_async_interruption(gemini, wire) -> None:
    good = wire.sse(*chunks(wire, "a", "b"))
    cut = wire.sse(wire.reply({"text": "par"}, finish=None))
    driver, _ = gemini(wire.stream(good), wire.stream(cut))
    stream = driver.astream("x")
    assert [c.delta async for c in stream] == ["a", "b"]
    assert stream.response is not None and stream.response.content == "ab"
    with pytest.raises(StreamInterruptedError) as info:
        async for _ in driver.astream("x"):
            pass
    assert info.value.partial is not None and info.value.partial.content == "par"
    await driver.aclose()


def test_blocked_prompt_in_a_stream(gemini, wire) -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}]}}
    driver, _ = gemini(wire.stream(wire.sse(blocked)))
    with pytest.raises(ContentFilteredError) as info:
        list(driver.stream("x"))
    assert info.value.category == "HARM_CATEGORY_HARASSMENT"


def test_safety_stop_mid_stream_keeps_what_arrived(gemini, wire) -> None:
    events = [wire.reply({"text": "Once upon"}, finish=None),
              wire.reply({"text": ""}, finish="SAFETY", safetyRatings=[
                  {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "MEDIUM",
                   "blocked": True}])]
    driver, _ = gemini(wire.stream(wire.sse(*events)))
    with pytest.raises(ContentFilteredError) as info:
        list(driver.stream("x"))
    assert info.value.category == "HARM_CATEGORY_DANGEROUS_CONTENT"
    assert info.value.partial is not None and info.value.partial.content == "Once upon"


def test_error_object_inside_the_stream_is_typed_and_keeps_the_partial(gemini, wire) -> None:
    error = wire.error(429, "RESOURCE_EXHAUSTED", "slow down",
                       {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"})
    body = wire.sse(wire.reply({"text": "Partial"}, finish=None), error)
    driver, _ = gemini(wire.stream(body))
    with pytest.raises(RateLimitError) as info:
        list(driver.stream("x"))
    assert info.value.retry_after == 3
    assert info.value.partial is not None and info.value.partial.content == "Partial"


def test_http_error_before_the_stream_is_retried(gemini, wire) -> None:
    overloaded = httpx.Response(503, json=wire.error(503, "UNAVAILABLE", "overloaded"))
    driver, server = gemini(overloaded, wire.stream(wire.sse(*chunks(wire, "ok"))))
    assert "".join(c.delta for c in driver.stream("x")) == "ok"
    assert len(server.requests) == 2


def test_stream_message_callback(gemini, wire) -> None:
    driver, _ = gemini(wire.stream(wire.sse(*chunks(wire, "x", "y"))))
    seen: list[str] = []
    reply = driver.stream_message("hi", lambda chunk: seen.append(chunk.delta))
    assert seen == ["x", "y"]
    assert reply.content == "xy"


@pytest.mark.parametrize("reason", ["PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "MODEL_ARMOR"])
async def test_a_block_finish_in_a_stream_is_content_filtered(gemini, wire, reason) -> None:
    message = "The response was blocked."
    events = [wire.reply({"text": "Well, "}, finish=None),
              {"candidates": [{"content": {}, "finishReason": reason, "index": 0,
                               "finishMessage": message}],
               "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 9}}]
    driver, _ = gemini(wire.stream(wire.sse(*events)), wire.stream(wire.sse(*events)))
    with pytest.raises(ContentFilteredError) as info:
        list(driver.stream("x"))
    assert (info.value.category, info.value.finish_message) == (reason, message)
    assert info.value.partial is not None and info.value.partial.content == "Well, "
    with pytest.raises(ContentFilteredError) as ainfo:
        async for _ in driver.astream("x"):
            pass
    assert (ainfo.value.category, ainfo.value.finish_message) == (reason, message)
