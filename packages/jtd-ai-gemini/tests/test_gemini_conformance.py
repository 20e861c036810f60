"""The shared driver conformance kit, run against the Gemini driver (sync and async).

Samples are written from Gemini's documented formats (ai.google.dev API reference).
"""

from __future__ import annotations

import json
from typing import Any

from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples

KEY = "AIza.conformance-key.0123456789abcd"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def reply(*parts: dict[str, Any], finish: str | None = "STOP", prompt: int = 9,
          output: int = 4) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "c1",
            "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": output,
                              "totalTokenCount": prompt + output}}


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events).encode()


def error(code: int, status: str, message: str, *details: dict[str, Any]) -> CannedResponse:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        body["details"] = list(details)
    return CannedResponse(code, {"error": body})


CALL = {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}},
        "thoughtSignature": "c2ln"}
STREAM = [reply({"text": "Hello"}, finish=None, output=1),
          reply({"text": " there"}, finish=None, output=2),
          reply({"text": "!"}, output=4)]


class TestGeminiConformance(DriverConformanceTests):
    driver = "gemini"
    settings = {"api_key": KEY}
    model = "gemini-2.5-flash"
    live_env = ("GEMINI_API_KEY",)
    samples = WireSamples(
        chat=CannedResponse(200, reply({"text": "Hello there!"}), content="Hello there!"),
        stream=CannedResponse(200, sse(*STREAM), {"content-type": "text/event-stream"},
                              content="Hello there!"),
        tool_call=CannedResponse(200, reply(CALL), tool_name="get_weather"),
        tool_call_stream=CannedResponse(200, sse(reply(CALL)),
                                        {"content-type": "text/event-stream"},
                                        tool_name="get_weather"),
        models=CannedResponse(200, {"models": [{
            "name": "models/gemini-2.5-flash", "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536, "supportedGenerationMethods": ["generateContent"]}]}),
        errors={
            "bad_request": error(400, "INVALID_ARGUMENT", "contents must not be empty"),
            "invalid_credentials": error(400, "INVALID_ARGUMENT", "API key not valid.",
                                         {"@type": ERROR_INFO, "reason": "API_KEY_INVALID"}),
            "permission_denied": error(403, "PERMISSION_DENIED", "The caller does not have "
                                                                 "permission"),
            "model_not_found": error(404, "NOT_FOUND", "models/x is not found"),
            "rate_limit": CannedResponse(429, error(
                429, "RESOURCE_EXHAUSTED", "Quota exceeded",
                {"@type": RETRY_INFO, "retryDelay": "26s"}).body, retry_after=26),
            "server_error": error(500, "INTERNAL", "An internal error has occurred."),
            "unavailable": error(503, "UNAVAILABLE", "The model is overloaded."),
        },
    )
