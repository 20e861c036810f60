"""The shared driver conformance kit, run against the Ollama driver (sync and async).

Samples are written from Ollama's documented formats (docs/api.md, api/types.go). Usage is
``prompt_eval_count`` in, ``eval_count`` out; a self-hosted server costs nothing, so every
cost is zero.
"""

from __future__ import annotations

import json
from typing import Any

from jtd_ai import FinishReason, StreamInterruptedError, TokenUsage
from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples
from jtd_ai.testing.conformance import ExpectedCall


def line(content: str = "", *, done: bool = False, reason: str = "stop",
         **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    for key in ("tool_calls", "thinking"):
        if key in fields:
            message[key] = fields.pop(key)
    body = {"model": "llama3.2", "created_at": "2026-11-24T10:00:00Z", "message": message,
            "done": done, **fields}
    if done:
        body.update(done_reason=reason, prompt_eval_count=26, eval_count=12,
                    total_duration=5191566416, eval_duration=4799921000)
    return body


def ndjson(*lines: dict[str, Any]) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in lines).encode()


CALLS = [{"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}]
# Current servers number the calls and give them ids (api/types.go ToolCall).
WITH_IDS = [{"id": "call_k1", "function": {"index": 0, "name": "get_weather",
                                           "arguments": {"city": "Tokyo"}}},
            {"id": "call_k2", "function": {"index": 1, "name": "get_time",
                                           "arguments": {"zone": "JST"}}}]
NDJSON = {"content-type": "application/x-ndjson"}
USAGE = TokenUsage(input_tokens=26, output_tokens=12)
WEATHER = ExpectedCall("get_weather", {"city": "Tokyo"})


class TestOllamaConformance(DriverConformanceTests):
    driver = "ollama"
    settings = {"base_url": "http://localhost:11434"}
    model = "llama3.2"
    samples = WireSamples(
        chat=CannedResponse(200, line("Hello there!", done=True), content="Hello there!",
                            finish_reason="stop", usage=USAGE, cost="0", model="llama3.2"),
        stream=CannedResponse(200, ndjson(line("Hello"), line(" there"), line("!"),
                                          line(done=True)), NDJSON, content="Hello there!",
                              finish_reason="stop", usage=USAGE, cost="0",
                              sent={"stream": True}),
        stream_finish_text=CannedResponse(200, ndjson(line("Hello"), line(" there!", done=True)),
                                          NDJSON, content="Hello there!",
                                          finish_reason="stop", usage=USAGE),
        # After output has started, a failing model keeps the 200 and writes an error line.
        stream_error=CannedResponse(200, ndjson(
            line("Hello"), {"error": "model runner has unexpectedly stopped"}), NDJSON,
            content="Hello", error=StreamInterruptedError,
            error_text="model runner has unexpectedly stopped"),
        tool_call=CannedResponse(200, line(done=True, tool_calls=CALLS),
                                 tool_name="get_weather", tool_calls=[WEATHER],
                                 finish_reason="tool_calls", usage=USAGE),
        tool_call_stream=CannedResponse(200, ndjson(line(tool_calls=CALLS), line(done=True)),
                                        NDJSON, tool_name="get_weather", tool_calls=[WEATHER],
                                        finish_reason="tool_calls"),
        parallel_tool_calls=CannedResponse(200, line(done=True, tool_calls=WITH_IDS),
                                           finish_reason="tool_calls", tool_calls=[
            ExpectedCall("get_weather", {"city": "Tokyo"}, id="call_k1"),
            ExpectedCall("get_time", {"zone": "JST"}, id="call_k2")]),
        parallel_tool_calls_stream=CannedResponse(200, ndjson(
            line(tool_calls=WITH_IDS[:1]), line(tool_calls=WITH_IDS[1:]), line(done=True)),
            NDJSON, finish_reason="tool_calls", tool_calls=[
                ExpectedCall("get_weather", {"city": "Tokyo"}, id="call_k1"),
                ExpectedCall("get_time", {"zone": "JST"}, id="call_k2")]),
        # Servers before 0.12 send calls without ids: every id is the driver's.
        tool_call_without_id=CannedResponse(200, line(done=True, tool_calls=CALLS + CALLS),
                                            tool_calls=[WEATHER, WEATHER]),
        finish_reasons={
            "stop": CannedResponse(200, line("Done.", done=True), finish_reason="stop"),
            "length": CannedResponse(200, line("Hello th", done=True, reason="length"),
                                     content="Hello th", finish_reason="length"),
            "length (streamed)": CannedResponse(200, ndjson(
                line("Hello"), line(" th"), line(done=True, reason="length")), NDJSON,
                content="Hello th", finish_reason="length"),
            "load": CannedResponse(200, line(done=True, reason="load"),
                                   finish_reason=FinishReason.OTHER),
        },
        models=CannedResponse(200, {"models": [{"name": "llama3.2:latest",
                                                "model": "llama3.2:latest", "size": 2019393189,
                                                "details": {"family": "llama"}}]},
                              model_ids=["llama3.2:latest"]),
        errors={
            "bad_request": CannedResponse(400, {"error": "model is required"}),
            "invalid_credentials": CannedResponse(401, {"error": "unauthorized"}),
            "model_not_found": CannedResponse(404, {"error": "model 'llama3.2' not found"},
                                              error_text="model 'llama3.2' not found"),
            "rate_limit": CannedResponse(429, {"error": "too many requests"}),
            "server_error": CannedResponse(500, {"error": "llama runner process has "
                                                          "terminated"}),
            "unavailable": CannedResponse(503, {"error": "server busy, please try again.  "
                                                         "maximum pending requests exceeded"}),
        },
        more={
            "thinking": CannedResponse(200, line("4", done=True, thinking="2 plus 2 is 4."),
                                       content="4", reasoning="2 plus 2 is 4.", usage=USAGE),
        },
    )
