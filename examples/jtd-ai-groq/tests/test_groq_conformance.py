"""The example OpenAI-compatible driver runs the conformance kit like every driver.

Costs by hand from the example price table (USD per million tokens): llama-3.1-8b-instant
$0.05 input, $0.08 output.
"""

from __future__ import annotations

from jtd_ai import TokenUsage
from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples
from jtd_ai.testing.conformance import ExpectedCall
from jtd_ai_openai.testing import chunk, completion, error_body, sse, tool_call, usage

SSE = {"content-type": "text/event-stream"}
MODEL = "llama-3.1-8b-instant"
CALL = tool_call("call_g1", "get_weather", '{"city":"Oslo"}')


class TestGroqConformance(DriverConformanceTests):
    driver = "groq"
    model = MODEL
    settings = {"api_key": "groq-test-key-example-0001"}
    live_env = ("GROQ_API_KEY",)
    samples = WireSamples(
        # 12 x 0.05 + 5 x 0.08 = 0.6 + 0.4 = 1.0 per million.
        chat=CannedResponse(200, completion("Hi from Groq.", model=MODEL, usage=usage(12, 5)),
                            content="Hi from Groq.", finish_reason="stop",
                            usage=TokenUsage(12, 5), cost="0.000001"),
        stream=CannedResponse(200, sse(
            chunk({"role": "assistant", "content": ""}, model=MODEL),
            chunk({"content": "Hi from"}, model=MODEL), chunk({"content": " Groq."}, model=MODEL),
            chunk({}, finish_reason="stop", model=MODEL),
            chunk(usage=usage(12, 5), choices=False, model=MODEL),
        ), SSE, content="Hi from Groq.", usage=TokenUsage(12, 5), cost="0.000001",
            sent={"stream_options": {"include_usage": True}}),
        tool_call=CannedResponse(200, completion(None, model=MODEL, finish_reason="tool_calls",
                                                 tool_calls=[CALL], usage=usage(30, 9)),
                                 tool_name="get_weather", finish_reason="tool_calls",
                                 tool_calls=[ExpectedCall("get_weather", '{"city":"Oslo"}',
                                                          id="call_g1")]),
        models=CannedResponse(200, {"object": "list", "data": [
            {"id": MODEL, "object": "model", "created": 1693721698, "owned_by": "Meta",
             "active": True, "context_window": 131072}]}, model_ids=[MODEL]),
        errors={
            "bad_request": CannedResponse(400, error_body("'messages' must not be empty",
                                                          type="invalid_request_error")),
            "invalid_credentials": CannedResponse(401, error_body(
                "Invalid API Key", type="invalid_request_error", code="invalid_api_key")),
            "model_not_found": CannedResponse(404, error_body(
                "The model `llama-9` does not exist or you do not have access to it.",
                type="invalid_request_error", code="model_not_found")),
            "rate_limit": CannedResponse(429, error_body(
                "Rate limit reached for model", type="tokens", code="rate_limit_exceeded"),
                {"retry-after": "2"}, retry_after=2.0),
            "unavailable": CannedResponse(503, error_body("Service Unavailable",
                                                          type="internal_server_error")),
        },
    )
