"""SSE/NDJSON framing and streams that end badly: nothing already received is lost."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from core_helpers import sse

from jtd_ai import MalformedResponseError, ProviderError, StreamInterruptedError
from jtd_ai.framing import NDJSONFramer, SSEFramer
from jtd_ai.protocol import StreamEvent
from jtd_ai.testing import BrokenStream, ScriptedTransport


def frame(lines: list[str]) -> list[StreamEvent]:
    framer = SSEFramer()
    return [e for e in (framer.feed_line(line) for line in lines) if e is not None]


def test_sse_events_fields_comments_and_multiline_data() -> None:
    events = frame([": keep-alive", "event: delta", "id: 7", "data: {\"a\":", "data: 1}", "",
                    "data:no-space", "", "", "data: [DONE]", ""])
    assert events == [StreamEvent("{\"a\":\n1}", "delta", "7"), StreamEvent("no-space", None, "7"),
                      StreamEvent("[DONE]", None, "7")]


def test_sse_event_cut_off_at_the_end_is_not_dispatched() -> None:
    framer = SSEFramer()
    assert framer.feed_line("data: {\"partial\": tr") is None
    assert framer.pending


def test_ndjson_lines() -> None:
    framer = NDJSONFramer()
    assert framer.feed_line("") is None
    event = framer.feed_line(" {\"a\": 1} ")
    assert event == StreamEvent("{\"a\": 1}")
    assert event.json() == {"a": 1}
    with pytest.raises(MalformedResponseError, match="acme sent a stream event that is not JSON"):
        StreamEvent("{not json").json(provider="acme")


DONE = {"done": True, "usage": {"input": 1, "output": 3}, "finish_reason": "stop",
        "model": "echo-1"}


def test_stream_with_crlf_lines(manager_with) -> None:
    body = sse({"delta": "echo:", "model": "echo-1"}, {"delta": " a"}, DONE).replace(b"\n", b"\r\n")
    stream = manager_with(ScriptedTransport(httpx.Response(200, content=body))).driver().stream("a")
    assert "".join(c.delta for c in stream) == "echo: a"
    assert stream.response is not None and stream.response.usage is not None
    assert stream.response.usage.output_tokens == 3


def test_truncated_stream_raises_with_the_partial_text(manager_with) -> None:
    body = sse({"delta": "echo:", "model": "echo-1"}, {"delta": " half"})  # no final event
    stream = manager_with(ScriptedTransport(httpx.Response(200, content=body))).driver().stream("a")
    with pytest.raises(StreamInterruptedError) as info:
        list(stream)
    assert info.value.partial is not None
    assert info.value.partial.content == "echo: half"
    assert stream.response is None


def test_error_event_inside_a_200_stream_keeps_the_partial(manager_with) -> None:
    body = sse({"delta": "echo:", "model": "echo-1"}, {"delta": " so far"},
               {"error": "overloaded"})
    stream = manager_with(ScriptedTransport(httpx.Response(200, content=body))).driver().stream("a")
    delivered: list[str] = []
    with pytest.raises(ProviderError, match="overloaded") as info:
        delivered.extend(chunk.delta for chunk in stream)
    assert info.value.partial is not None
    assert info.value.partial.content == "echo: so far"
    assert "".join(delivered) == "echo: so far"  # the chunks before the error, each once


async def test_async_error_event_in_the_same_read_as_the_first_chunks(manager_with) -> None:
    body = sse({"delta": "echo:", "model": "echo-1"}, {"delta": " so far"},
               {"error": "overloaded"})
    transport = ScriptedTransport(httpx.Response(200, content=body))
    stream = manager_with(transport).driver().astream("a")
    delivered: list[str] = []
    with pytest.raises(ProviderError, match="overloaded") as info:
        async for chunk in stream:
            delivered.append(chunk.delta)
    assert info.value.partial is not None and info.value.partial.content == "echo: so far"
    assert "".join(delivered) == "echo: so far"
    assert len(transport.requests) == 1  # chunks were delivered: never sent again


async def test_async_connection_reset_mid_stream_keeps_the_partial(manager_with) -> None:
    first = sse({"delta": "echo:", "model": "echo-1"}, {"delta": " partial"})
    transport = ScriptedTransport(httpx.Response(200, stream=BrokenStream(first)))
    stream = manager_with(transport).driver().astream("hi")
    received = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in stream:
            received.append(chunk.delta)
    assert received == ["echo:", " partial"]
    assert info.value.partial is not None and info.value.partial.content == "echo: partial"


def test_callback_and_iterator_forms_agree(manager_with) -> None:
    driver = manager_with().driver()
    seen: list[str] = []
    by_callback = driver.stream_message("one two three", lambda c: seen.append(c.delta))
    stream = driver.stream("one two three")
    by_iterator = [c.delta for c in stream]
    assert seen == by_iterator
    assert by_callback.content == "".join(seen) == stream.response.content  # type: ignore[union-attr]


def test_closing_a_stream_early_releases_it(manager_with) -> None:
    driver = manager_with().driver()
    with driver.stream("a b c d") as stream:
        first = next(iter(stream))
    assert first.delta == "echo:"
    assert stream.response is None



@pytest.mark.parametrize("document", [
    '{"a": [1, 2.5, null, true], "b": "é\\u00e9"}', b'{"a": 1}', b"\xef\xbb\xbf{\"bom\": 1}",
    '  {"padded": 1}  ', "{\"a\": 1}\n", '"text"', "12", "[]",
    "{\"a\": 1} extra", "", "{", "\ufeff{\"bom\": 1}", b"\xff\xfe{\x00}\x00", "NaN",
    '{"a": 1}{"b": 2}', bytearray(b'{"x": 2}'),
])
def test_wire_loads_is_json_loads(document: str | bytes) -> None:
    import json

    from jtd_ai.wire import loads

    def outcome(parse: Callable[[str | bytes], object]) -> str:
        try:
            return repr(parse(document))  # repr: NaN is not equal to itself
        except Exception as exc:  # the same error: type and message
            return f"{type(exc).__name__}: {exc}"

    assert outcome(loads) == outcome(json.loads)


def test_an_abandoned_stream_is_closed_when_dropped_not_by_the_collector(manager_with) -> None:
    """No reference cycle between a stream and its generator: dropping a stream left with
    ``break`` closes its connection at once (the garbage collector could otherwise run the
    close while the same thread holds the connection pool's lock, and hang)."""
    import gc
    import weakref

    body = sse({"delta": "echo:", "model": "echo-1"}, {"delta": " a"}, {"delta": " b"})
    driver = manager_with(ScriptedTransport(httpx.Response(200, content=body))).driver()
    gc.disable()
    try:
        stream = driver.stream("a")
        for _chunk in stream:
            break
        generator = weakref.ref(stream._iterator)  # type: ignore[arg-type]
        del stream, _chunk
        assert generator() is None  # freed by reference counting alone
    finally:
        gc.enable()
