"""The shared driver conformance kit, run on the openai driver with documented samples."""

from __future__ import annotations

from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples
from jtd_ai_openai.testing import chunk, completion, error_body, sse, tool_call, usage

SSE = {"content-type": "text/event-stream; charset=utf-8"}
CALL = tool_call("call_1", "get_weather", '{"city": "Rome"}')


class TestOpenAIConformance(DriverConformanceTests):
    driver = "openai"
    settings = {"api_key": "test-key-conformance-0penai-1"}
    model = "gpt-4o-mini"
    live_env = ("OPENAI_API_KEY",)
    samples = WireSamples(
        chat=CannedResponse(200, completion("Hello there!", usage=usage(9, 3)),
                            content="Hello there!"),
        stream=CannedResponse(200, sse(
            chunk({"role": "assistant", "content": "", "refusal": None}),
            chunk({"content": "Hello"}), chunk({"content": " there!"}),
            chunk({}, finish_reason="stop"), chunk(usage=usage(9, 3), choices=False),
        ), SSE, content="Hello there!"),
        tool_call=CannedResponse(200, completion(None, finish_reason="tool_calls",
                                                 tool_calls=[CALL], usage=usage(40, 12)),
                                 tool_name="get_weather"),
        tool_call_stream=CannedResponse(200, sse(
            chunk({"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Rome"}'}}]}),
            chunk({}, finish_reason="tool_calls"), chunk(usage=usage(40, 12), choices=False),
        ), SSE, tool_name="get_weather"),
        models=CannedResponse(200, {"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 1721172741,
             "owned_by": "system"}]}),
        errors={
            "bad_request": CannedResponse(400, error_body(
                "Invalid value for 'temperature'.", param="temperature", code="invalid_value")),
            "invalid_credentials": CannedResponse(401, error_body(
                "Incorrect API key provided: test***0001.", code="invalid_api_key")),
            "permission_denied": CannedResponse(403, error_body(
                "You have insufficient permissions for this operation.")),
            "model_not_found": CannedResponse(404, error_body(
                "The model `gpt-0` does not exist or you do not have access to it.",
                code="model_not_found")),
            "rate_limit": CannedResponse(429, error_body(
                "Rate limit reached for requests", type="requests",
                code="rate_limit_exceeded"), {"retry-after": "3"}, retry_after=3.0),
            "server_error": CannedResponse(500, error_body(
                "The server had an error processing your request.", type="server_error")),
            "unavailable": CannedResponse(503, error_body(
                "That model is currently overloaded with other requests.",
                type="server_error")),
        },
    )
