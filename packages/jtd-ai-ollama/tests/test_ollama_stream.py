"""Streaming /api/chat as NDJSON: deltas, the final ``done`` line, and streams that break."""

from __future__ import annotations

import httpx
import pytest

from jtd_ai import FinishReason, StreamInterruptedError, TokenUsage
from jtd_ai.testing import BrokenStream


def test_stream_request_and_chunks(ollama, wire) -> None:
    body = wire.ndjson(wire.line(" The"), wire.line(" capital"),
                       wire.final("", prompt=36, output=8))
    driver, server = ollama(wire.stream(body))
    stream = driver.stream("capital of France?")
    assert [c.delta for c in stream] == [" The", " capital", ""]
    assert server.bodies[0]["stream"] is True
    assert server.requests[0].url.path == "/api/chat"
    reply = stream.response
    assert reply is not None
    assert reply.content == " The capital"
    assert reply.usage == TokenUsage(36, 8)
    assert reply.finish_reason is FinishReason.STOP


def test_streamed_and_whole_replies_agree(ollama, wire) -> None:
    calls = [{"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}]
    whole = wire.final("Checking.", thinking="user wants weather", tool_calls=calls,
                       prompt=169, output=18)
    streamed = wire.ndjson(wire.line("", thinking="user wants weather"),
                           wire.line("Checking."), wire.line("", tool_calls=calls),
                           wire.final("", prompt=169, output=18))
    driver, _ = ollama(wire.ok(whole), wire.stream(streamed))
    sent = driver.send_message("weather?")
    stream = driver.stream("weather?")
    list(stream)
    got = stream.response
    assert got is not None
    fields = ("content", "reasoning", "tool_calls", "finish_reason", "usage", "model")
    assert {f: getattr(got, f) for f in fields} == {f: getattr(sent, f) for f in fields}
    assert got.finish_reason is FinishReason.TOOL_CALLS


def test_error_line_mid_stream_keeps_the_partial_text(ollama, wire) -> None:
    body = wire.ndjson(wire.line("can"), wire.line(" you"),
                       {"error": "an error was encountered while running the model"})
    driver, _ = ollama(wire.stream(body))
    stream = driver.stream("x")
    with pytest.raises(StreamInterruptedError, match="while running the model") as info:
        list(stream)
    assert info.value.partial is not None and info.value.partial.content == "can you"
    assert stream.response is None


def test_stream_without_the_done_line_is_interrupted(ollama, wire) -> None:
    driver, _ = ollama(wire.stream(wire.ndjson(wire.line("Half"), wire.line(" a reply"))))
    with pytest.raises(StreamInterruptedError, match="done") as info:
        list(driver.stream("x"))
    assert info.value.partial is not None and info.value.partial.content == "Half a reply"


def test_connection_reset_mid_stream(ollama, wire) -> None:
    driver, _ = ollama(httpx.Response(200, stream=BrokenStream(wire.ndjson(wire.line("par"))),
                                      headers={"content-type": "application/x-ndjson"}))
    with pytest.raises(StreamInterruptedError) as info:
        list(driver.stream("x"))
    assert info.value.partial is not None and info.value.partial.content == "par"


async def test_async_stream_and_async_error_line(ollama, wire) -> None:
    good = wire.ndjson(wire.line("a"), wire.line("b"), wire.final(""))
    bad = wire.ndjson(wire.line("par"), {"error": "out of memory"})
    driver, _ = ollama(wire.stream(good), wire.stream(bad))
    stream = driver.astream("x")
    assert "".join([c.delta async for c in stream]) == "ab"
    assert stream.response is not None and stream.response.usage == TokenUsage(26, 298)
    with pytest.raises(StreamInterruptedError) as info:
        async for _ in driver.astream("x"):
            pass
    assert info.value.partial is not None and info.value.partial.content == "par"
    await driver.aclose()


def test_stream_message_callback(ollama, wire) -> None:
    driver, _ = ollama(wire.stream(wire.ndjson(wire.line("x"), wire.final("y"))))
    seen: list[str] = []
    assert driver.stream_message("hi", lambda c: seen.append(c.delta)).content == "xy"
    assert seen == ["x", "y"]
