"""The shared driver conformance kit, run against the Ollama driver (sync and async).

Samples are written from Ollama's documented formats (docs/api.md, api/types.go).
"""

from __future__ import annotations

import json
from typing import Any

from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples


def line(content: str = "", *, done: bool = False, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if "tool_calls" in fields:
        message["tool_calls"] = fields.pop("tool_calls")
    body = {"model": "llama3.2", "created_at": "2026-11-24T10:00:00Z", "message": message,
            "done": done, **fields}
    if done:
        body.update(done_reason="stop", prompt_eval_count=26, eval_count=12,
                    total_duration=5191566416, eval_duration=4799921000)
    return body


def ndjson(*lines: dict[str, Any]) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in lines).encode()


CALLS = [{"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}]
NDJSON = {"content-type": "application/x-ndjson"}


class TestOllamaConformance(DriverConformanceTests):
    driver = "ollama"
    settings = {"base_url": "http://localhost:11434"}
    model = "llama3.2"
    samples = WireSamples(
        chat=CannedResponse(200, line("Hello there!", done=True), content="Hello there!"),
        stream=CannedResponse(200, ndjson(line("Hello"), line(" there"), line("!"),
                                          line(done=True)), NDJSON, content="Hello there!"),
        tool_call=CannedResponse(200, line(done=True, tool_calls=CALLS),
                                 tool_name="get_weather"),
        tool_call_stream=CannedResponse(200, ndjson(line(tool_calls=CALLS), line(done=True)),
                                        NDJSON, tool_name="get_weather"),
        models=CannedResponse(200, {"models": [{"name": "llama3.2:latest",
                                                "model": "llama3.2:latest", "size": 2019393189,
                                                "details": {"family": "llama"}}]}),
        errors={
            "bad_request": CannedResponse(400, {"error": "model is required"}),
            "invalid_credentials": CannedResponse(401, {"error": "unauthorized"}),
            "model_not_found": CannedResponse(404, {"error": "model 'llama3.2' not found"}),
            "rate_limit": CannedResponse(429, {"error": "too many requests"}),
            "server_error": CannedResponse(500, {"error": "llama runner process has "
                                                          "terminated"}),
            "unavailable": CannedResponse(503, {"error": "server busy, please try again.  "
                                                         "maximum pending requests exceeded"}),
        },
    )
