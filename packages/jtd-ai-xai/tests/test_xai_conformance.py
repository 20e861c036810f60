"""The shared driver conformance kit, run on the xai driver with samples in xAI's shapes.

xAI leaves reasoning out of ``completion_tokens`` (``total_tokens`` adds it), so 3
completion + 20 reasoning tokens are 23 output tokens. Costs by hand from xAI's pricing page
(USD per million): grok-4-fast $0.20 input, $0.05 cached input, $0.50 output.
"""

from __future__ import annotations

from jtd_ai import FinishReason, QuotaExceededError, TokenUsage
from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples
from jtd_ai.testing.conformance import ExpectedCall
from jtd_ai_openai.testing import completion, sse, tool_call, usage

SSE = {"content-type": "text/event-stream"}
MODEL = "grok-4-fast-reasoning"
USAGE = usage(12, 3, cached=4, reasoning=20, total=35)  # xAI: total adds reasoning
# 8 x 0.20 + 4 x 0.05 + 23 x 0.50 = 1.6 + 0.2 + 11.5 = 13.3 per million.
COUNTED = TokenUsage(input_tokens=12, output_tokens=23, cached_input_tokens=4,
                     reasoning_tokens=20)
COST = "0.0000133"
ARGS = '{"location":"Rome"}'


def chunk(delta: dict, finish: str | None = None) -> dict:
    """An xAI chunk: no finish_reason key until the end, no usage key."""
    choice: dict = {"index": 0, "delta": delta}
    if finish:
        choice["finish_reason"] = finish
    return {"id": "6f1e", "object": "chat.completion.chunk", "created": 1773345550,
            "model": MODEL, "choices": [choice]}


def error(status: int, code: str, message: str, **headers: str) -> CannedResponse:
    return CannedResponse(status, {"code": code, "error": message}, headers)


class TestXAIConformance(DriverConformanceTests):
    driver = "xai"
    settings = {"api_key": "test-key-conformance-grok-1"}
    model = "grok-4-fast"
    live_env = ("XAI_API_KEY",)
    samples = WireSamples(
        chat=CannedResponse(200, completion("Olá!", model=MODEL, usage=USAGE), content="Olá!",
                            finish_reason="stop", usage=COUNTED, cost=COST, model=MODEL),
        stream=CannedResponse(200, sse(
            chunk({"content": "Ol", "role": "assistant"}), chunk({"content": "á!"}),
            chunk({}, "stop"),
            {"id": "6f1e", "object": "chat.completion.chunk", "created": 1773345550,
             "model": MODEL, "choices": [], "usage": USAGE},
        ), SSE, content="Olá!", finish_reason="stop", usage=COUNTED, cost=COST,
            sent={"stream": True, "stream_options": {"include_usage": True}}),
        stream_finish_text=CannedResponse(200, sse(
            chunk({"content": "Ol", "role": "assistant"}), chunk({"content": "á!"}, "stop"),
        ), SSE, content="Olá!", finish_reason="stop", has_usage=False),
        stream_error=CannedResponse(200, sse(
            chunk({"content": "Ol", "role": "assistant"}),
            {"code": "Internal error", "error": "Internal server error."}, done=False,
        ), SSE, content="Ol"),
        tool_call=CannedResponse(200, completion(
            "", model=MODEL, finish_reason="tool_calls", usage=USAGE,
            tool_calls=[tool_call("call_98286056", "weather", ARGS)]),
            tool_name="weather", finish_reason="tool_calls", usage=COUNTED, cost=COST,
            tool_calls=[ExpectedCall("weather", ARGS, id="call_98286056")]),
        tool_call_stream=CannedResponse(200, sse(
            chunk({"role": "assistant", "tool_calls": [
                {"id": "call_51851897", "index": 0, "type": "function",
                 "function": {"name": "weather", "arguments": '{"location":"Rome"}'}}]}),
            chunk({}, "tool_calls"),
        ), SSE, tool_name="weather", finish_reason="tool_calls",
            tool_calls=[ExpectedCall("weather", ARGS, id="call_51851897")]),
        # Parallel calls stream one whole call per chunk, index 0, 1, ...
        parallel_tool_calls_stream=CannedResponse(200, sse(
            chunk({"role": "assistant"}), chunk({}), chunk({}),
            chunk({"tool_calls": [{"id": "call_1", "index": 0, "type": "function", "function": {
                "name": "add", "arguments": '{"a":2,"b":3}'}}]}),
            chunk({"tool_calls": [{"id": "call_2", "index": 1, "type": "function", "function": {
                "name": "multiply", "arguments": '{"a":4,"b":5}'}}]}),
            chunk({}, "tool_calls"),
        ), SSE, finish_reason="tool_calls", has_usage=False, tool_calls=[
            ExpectedCall("add", '{"a":2,"b":3}', id="call_1"),
            ExpectedCall("multiply", '{"a":4,"b":5}', id="call_2")]),
        finish_reasons={
            "length": CannedResponse(200, completion("Ol", model=MODEL, finish_reason="length",
                                                     usage=USAGE), finish_reason="length"),
            "content_filter": CannedResponse(200, completion(
                "", model=MODEL, finish_reason="content_filter", usage=USAGE),
                finish_reason=FinishReason.CONTENT_FILTER),
        },
        models=CannedResponse(200, {"models": [
            {"id": "grok-3", "created": 1743724800, "object": "model", "owned_by": "xai",
             "input_modalities": ["text"], "output_modalities": ["text"],
             "prompt_text_token_price": 30000, "cached_prompt_text_token_price": 7500,
             "completion_text_token_price": 150000, "aliases": ["grok-3-latest"]}]},
            model_ids=["grok-3"]),
        errors={
            "bad_request": error(400, "Client specified an invalid argument",
                                 "temperature must be between 0 and 2"),
            "invalid_credentials": error(400, "Client specified an invalid argument",
                                         "Incorrect API key provided: te***01."),
            "permission_denied": error(403, "The caller does not have permission",
                                       "Your team is blocked."),
            "model_not_found": error(404, "Some requested entity was not found",
                                     "The model grok-0 does not exist."),
            "rate_limit": error(429, "Some resource has been exhausted", "Too many requests.",
                                **{"retry-after": "2"}),
            "quota": CannedResponse(429, {
                "code": "Some resource has been exhausted",
                "error": "Your team has either used all available credits or reached its "
                         "monthly spending limit."}, error=QuotaExceededError),
            "server_error": error(500, "Internal error", "Internal server error."),
            "unavailable": error(503, "The service is currently unavailable",
                                 "Service unavailable."),
        },
    )
