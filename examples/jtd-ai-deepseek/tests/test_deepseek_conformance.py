"""The DeepSeek example runs jtd-ai's conformance kit, with samples written from DeepSeek's
API docs (api-docs.deepseek.com: chat completion, error codes, context caching, pricing).

DeepSeek splits the prompt into ``prompt_cache_hit_tokens`` and ``prompt_cache_miss_tokens``
(their sum is ``prompt_tokens``). Costs by hand from its price list (USD per million tokens,
from 2025-09-05): input $0.56 on a cache miss, $0.07 on a hit, output $1.68.
"""

from __future__ import annotations

from typing import Any

from jtd_ai import FinishReason, ModelNotFoundError, QuotaExceededError, TokenUsage
from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples
from jtd_ai.testing.conformance import ExpectedCall
from jtd_ai_openai.testing import sse

SSE = {"content-type": "text/event-stream; charset=utf-8"}
MODEL = "deepseek-chat"


def usage(prompt: int, completion: int, hits: int, reasoning: int | None = None,
          ) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                            "total_tokens": prompt + completion,
                            "prompt_cache_hit_tokens": hits,
                            "prompt_cache_miss_tokens": prompt - hits}
    if reasoning is not None:
        body["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return body


def completion(content: str | None, *, finish: str = "stop", model: str = MODEL,
               tokens: dict[str, Any] | None = None, **message: Any) -> dict[str, Any]:
    return {"id": "930c60df-bf64-41c9-a88e-3ec75f81e00e", "object": "chat.completion",
            "created": 1705651092, "model": model, "system_fingerprint": "fp_ff0c2e1a5b",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                                                 **message},
                         "logprobs": None, "finish_reason": finish}],
            "usage": tokens or usage(16, 10, 0)}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None,
          tokens: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "1f633d8bfc032625086f14113c411638", "object": "chat.completion.chunk",
            "created": 1718345013, "model": MODEL, "system_fingerprint": "fp_a49d71b8a1",
            "choices": [] if delta is None else [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": tokens}


def error(status: int, message: str, kind: str = "invalid_request_error",
          **expected: Any) -> CannedResponse:
    return CannedResponse(status, {"error": {"message": message, "type": kind, "param": None,
                                             "code": "invalid_request_error"}}, **expected)


# 1,000 prompt tokens, 800 of them cache hits, 50 output tokens:
# 200 x 0.56 + 800 x 0.07 + 50 x 1.68 = 112 + 56 + 84 = 252 per million.
CACHED = usage(1000, 50, hits=800)
COUNTED = TokenUsage(input_tokens=1000, output_tokens=50, cached_input_tokens=800)
COST = "0.000252"
CALL = {"index": 0, "id": "call_0_8a4cf72c-5b64-4b62-a7b4-3f1b1c2d9e0f", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location":"Hangzhou"}'}}
WEATHER = ExpectedCall("get_weather", '{"location":"Hangzhou"}',
                       id="call_0_8a4cf72c-5b64-4b62-a7b4-3f1b1c2d9e0f")


class TestDeepSeekConformance(DriverConformanceTests):
    driver = "deepseek"
    model = MODEL
    settings = {"api_key": "deepseek-test-key-example-0001"}
    live_env = ("DEEPSEEK_API_KEY",)
    samples = WireSamples(
        chat=CannedResponse(200, completion("Hello! How can I help you today?", tokens=CACHED),
                            content="Hello! How can I help you today?", finish_reason="stop",
                            usage=COUNTED, cost=COST, model=MODEL),
        stream=CannedResponse(200, sse(
            chunk({"role": "assistant", "content": ""}), chunk({"content": "Hello!"}),
            chunk({"content": " How can I help you today?"}), chunk({}, "stop"),
            chunk(tokens=CACHED)), SSE, content="Hello! How can I help you today?",
            usage=COUNTED, cost=COST,
            sent={"stream": True, "stream_options": {"include_usage": True}}),
        stream_finish_text=CannedResponse(200, sse(
            chunk({"role": "assistant", "content": "Hello"}), chunk({"content": "!"}, "stop"),
            chunk(tokens=usage(16, 2, 0))), SSE, content="Hello!", finish_reason="stop"),
        tool_call=CannedResponse(200, completion(None, finish="tool_calls", tool_calls=[CALL]),
                                 tool_calls=[WEATHER], finish_reason="tool_calls"),
        tool_call_stream=CannedResponse(200, sse(
            chunk({"role": "assistant", "content": None, "tool_calls": [
                {**CALL, "function": {"name": "get_weather", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"location":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Hangzhou"}'}}]}),
            chunk({}, "tool_calls"), chunk(tokens=usage(60, 20, 0))), SSE,
            tool_calls=[WEATHER], finish_reason="tool_calls"),
        finish_reasons={
            "length": CannedResponse(200, completion("Hello", finish="length"),
                                     finish_reason=FinishReason.LENGTH),
            "content_filter": CannedResponse(200, completion("", finish="content_filter"),
                                             finish_reason=FinishReason.CONTENT_FILTER),
            "insufficient_system_resource": CannedResponse(
                200, completion("Hel", finish="insufficient_system_resource"),
                finish_reason=FinishReason.OTHER),
        },
        models=CannedResponse(200, {"object": "list", "data": [
            {"id": "deepseek-chat", "object": "model", "owned_by": "deepseek"},
            {"id": "deepseek-reasoner", "object": "model", "owned_by": "deepseek"}]},
            model_ids=["deepseek-chat", "deepseek-reasoner"]),
        errors={
            "bad_request": error(422, "Invalid Parameters: temperature must be in [0, 2]"),
            "invalid_credentials": error(401, "Authentication Fails, Your api key: ****0001 "
                                              "is invalid", "authentication_error"),
            "rate_limit": error(429, "Rate Limit Reached", "rate_limit_reached_error"),
            "server_error": error(500, "Server Error", "server_error"),
            "unavailable": error(503, "Server Overloaded", "server_error"),
            # DeepSeek's own kinds: no balance left (402), an unknown model (400).
            "insufficient_balance": error(402, "Insufficient Balance", "unknown_error",
                                          error=QuotaExceededError,
                                          error_text="Insufficient Balance"),
            "model_not_exist": error(400, "Model Not Exist", error=ModelNotFoundError),
        },
        more={
            # deepseek-reasoner: 90 completion tokens, 70 of them thinking (counted inside):
            # 100 x 0.56 + 90 x 1.68 = 56 + 151.2 = 207.2 per million.
            "reasoner": CannedResponse(200, completion(
                "9.11 < 9.8", model="deepseek-reasoner", tokens=usage(100, 90, 0, reasoning=70),
                reasoning_content="Compare the tenths: 1 < 8."),
                content="9.11 < 9.8", reasoning="Compare the tenths: 1 < 8.",
                usage=TokenUsage(100, 90, reasoning_tokens=70), cost="0.0002072"),
        },
    )
