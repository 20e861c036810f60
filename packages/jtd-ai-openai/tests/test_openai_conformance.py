"""The shared driver conformance kit, run on the openai driver with documented samples.

Every sample states what it means. Token counts follow OpenAI's CompletionUsage
(``completion_tokens`` includes reasoning tokens, ``prompt_tokens`` includes cached ones);
costs are worked out by hand from OpenAI's pricing page (USD per million tokens):
gpt-4o-mini $0.15 input, $0.075 cached input, $0.60 output; o4-mini $1.10, $0.275, $4.40.
"""

from __future__ import annotations

import json
from typing import Any

from jtd_ai import FinishReason, QuotaExceededError, RateLimitError, TokenUsage
from jtd_ai.errors import ProviderError, ProviderUnavailableError
from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples
from jtd_ai.testing.conformance import BatchSamples, ExpectedCall
from jtd_ai_openai.testing import chunk, completion, error_body, sse, tool_call, usage

SSE = {"content-type": "text/event-stream; charset=utf-8"}
ARGS = '{"city":"Rome","days":2}'  # compact, as OpenAI sends it: kept byte for byte
CALL = tool_call("call_15X0Q2MmkK1IeFfiol9LFlqb", "get_weather", ARGS)
ROLE = chunk({"role": "assistant", "content": "", "refusal": None})
# 900 prompt tokens, 600 of them cached, 30 completion tokens, on gpt-4o-mini:
# 300 x 0.15 + 600 x 0.075 + 30 x 0.60 = 45 + 45 + 18 = 108 per million.
HELLO_USAGE = usage(900, 30, cached=600)
HELLO = TokenUsage(input_tokens=900, output_tokens=30, cached_input_tokens=600)
HELLO_COST = "0.000108"


def calls_stream(*fragments: dict[str, Any]) -> list[dict[str, Any]]:
    return [chunk({"tool_calls": [f]}) for f in fragments]


def first(index: int, call_id: str, name: str) -> dict[str, Any]:
    return {"index": index, "id": call_id, "type": "function",
            "function": {"name": name, "arguments": ""}}


def piece(index: int, text: str) -> dict[str, Any]:
    return {"index": index, "function": {"arguments": text}}


def second(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """A chunk of choice 1."""
    body = chunk(delta, finish_reason=finish)
    body["choices"][0]["index"] = 1
    return body


PARALLEL = [ExpectedCall("add", '{"a":2,"b":3}', id="call_a"),
            ExpectedCall("multiply", '{"a":4,"b":5}', id="call_m")]


def batch_object(status: str, **fields: Any) -> dict[str, Any]:
    """A Batch object (platform.openai.com/docs/api-reference/batch/object)."""
    return {"id": "batch_abc123", "object": "batch", "endpoint": "/v1/chat/completions",
            "errors": None, "input_file_id": "file-in1", "completion_window": "24h",
            "status": status, "output_file_id": None, "error_file_id": None,
            "created_at": 1714508499, "request_counts": {"total": 2, "completed": 0,
                                                         "failed": 0},
            "metadata": {}, **fields}


def result_line(key: str, status: int, body: dict[str, Any]) -> bytes:
    """One line of a batch output or error file (the batch request output object)."""
    return json.dumps({"id": f"batch_req_{key}", "custom_id": key, "error": None,
                       "response": {"status_code": status, "request_id": f"req_{key}",
                                    "body": body}}).encode() + b"\n"


# A two-item job: the first answered, the second refused (it lands in the error file).
OPENAI_BATCH = BatchSamples(
    prompts=["Hello", "Bad one"],
    steps=[
        CannedResponse(200, {"id": "file-in1", "object": "file", "bytes": 400,
                             "created_at": 1714508490, "filename": "input.jsonl",
                             "purpose": "batch"}, sent_url="/v1/files"),
        CannedResponse(200, batch_object("validating"), sent_url="/v1/batches"),
        CannedResponse(200, batch_object(
            "completed", output_file_id="file-out1", error_file_id="file-err1",
            request_counts={"total": 2, "completed": 1, "failed": 1}),
            sent_url="/v1/batches/batch_abc123"),
        CannedResponse(200, result_line("item-0", 200, completion("Hello there!")),
                       sent_url="/v1/files/file-out1/content"),
        CannedResponse(200, result_line("item-1", 400, error_body("bad request")),
                       sent_url="/v1/files/file-err1/content"),
    ],
    results=["Hello there!", ProviderError],
)


class TestOpenAIConformance(DriverConformanceTests):
    driver = "openai"
    settings = {"api_key": "test-key-conformance-0penai-1"}
    model = "gpt-4o-mini"
    live_env = ("OPENAI_API_KEY",)
    batch_samples = OPENAI_BATCH
    samples = WireSamples(
        chat=CannedResponse(200, completion("Hello there!", usage=HELLO_USAGE),
                            {"x-request-id": "req_4f9a1c"},
                            content="Hello there!", finish_reason="stop", usage=HELLO,
                            cost=HELLO_COST, model="gpt-4o-mini-2024-07-18",
                            request_id="req_4f9a1c", sent={"model": "gpt-4o-mini"},
                            sent_url="/v1/chat/completions", sent_headers={
                                "authorization": "Bearer test-key-conformance-0penai-1"}),
        stream=CannedResponse(200, sse(
            ROLE, chunk({"content": "Hello"}), chunk({"content": " there!"}),
            chunk({}, finish_reason="stop"), chunk(usage=HELLO_USAGE, choices=False),
        ), {**SSE, "x-request-id": "req_5b0e2d"}, content="Hello there!", finish_reason="stop",
            usage=HELLO, cost=HELLO_COST, model="gpt-4o-mini-2024-07-18",
            request_id="req_5b0e2d",
            sent={"stream": True, "stream_options": {"include_usage": True}}),
        stream_finish_text=CannedResponse(200, sse(
            ROLE, chunk({"content": "Hello"}), chunk({"content": " there!"},
                                                     finish_reason="stop"),
            chunk(usage=usage(9, 3), choices=False),
        ), SSE, content="Hello there!", finish_reason="stop", usage=TokenUsage(9, 3)),
        stream_error=CannedResponse(200, sse(
            ROLE, chunk({"content": "Hel"}),
            error_body("The server had an error while processing your request.",
                       type="server_error"), done=False,
        ), SSE, content="Hel", error=ProviderUnavailableError),
        tool_call=CannedResponse(200, completion(None, finish_reason="tool_calls",
                                                 tool_calls=[CALL], usage=usage(40, 12)),
                                 tool_name="get_weather", finish_reason="tool_calls",
                                 tool_calls=[ExpectedCall("get_weather", ARGS,
                                                          id="call_15X0Q2MmkK1IeFfiol9LFlqb")],
                                 usage=TokenUsage(40, 12), cost="0.0000132"),
        tool_call_stream=CannedResponse(200, sse(
            chunk({"role": "assistant", "content": None, "tool_calls": [
                first(0, "call_15X0Q2MmkK1IeFfiol9LFlqb", "get_weather")]}),
            *calls_stream(piece(0, '{"city":'), piece(0, '"Rome","days":2}')),
            chunk({}, finish_reason="tool_calls"), chunk(usage=usage(40, 12), choices=False),
        ), SSE, tool_name="get_weather", finish_reason="tool_calls",
            tool_calls=[ExpectedCall("get_weather", ARGS, id="call_15X0Q2MmkK1IeFfiol9LFlqb")],
            usage=TokenUsage(40, 12)),
        parallel_tool_calls=CannedResponse(200, completion(
            None, finish_reason="tool_calls", usage=usage(80, 40), tool_calls=[
                tool_call("call_a", "add", '{"a":2,"b":3}'),
                tool_call("call_m", "multiply", '{"a":4,"b":5}')]),
            tool_calls=PARALLEL, finish_reason="tool_calls"),
        parallel_tool_calls_stream=CannedResponse(200, sse(
            chunk({"role": "assistant", "content": None}),
            *calls_stream(first(0, "call_a", "add"), piece(0, '{"a":2'),
                          first(1, "call_m", "multiply"), piece(1, '{"a":4'),
                          piece(0, ',"b":3}'), piece(1, ',"b":5}')),
            chunk({}, finish_reason="tool_calls"), chunk(usage=usage(80, 40), choices=False),
        ), SSE, tool_calls=PARALLEL, finish_reason="tool_calls", usage=TokenUsage(80, 40)),
        # Some compatible servers send calls without ids.
        tool_call_without_id=CannedResponse(200, completion(
            None, finish_reason="tool_calls", usage=usage(30, 9), tool_calls=[
                {"type": "function", "function": {"name": "add", "arguments": '{"a":1}'}},
                {"type": "function", "function": {"name": "add", "arguments": '{"a":2}'}}]),
            tool_calls=[ExpectedCall("add", '{"a":1}'), ExpectedCall("add", '{"a":2}')]),
        finish_reasons={
            "stop": CannedResponse(200, completion("Done."), finish_reason=FinishReason.STOP),
            "length": CannedResponse(200, completion("Hello th", finish_reason="length",
                                                     usage=usage(9, 4)),
                                     content="Hello th", finish_reason=FinishReason.LENGTH),
            "content_filter": CannedResponse(200, completion(
                "", finish_reason="content_filter", usage=usage(9, 0)),
                finish_reason=FinishReason.CONTENT_FILTER),
            "tool_calls": CannedResponse(200, completion(None, finish_reason="tool_calls",
                                                         tool_calls=[CALL]),
                                         finish_reason=FinishReason.TOOL_CALLS),
            "function_call (deprecated)": CannedResponse(200, completion(
                None, finish_reason="function_call",
                function_call={"name": "get_weather", "arguments": ARGS}),
                finish_reason=FinishReason.TOOL_CALLS),
            "length (streamed)": CannedResponse(200, sse(
                ROLE, chunk({"content": "Hello th"}), chunk({}, finish_reason="length"),
                chunk(usage=usage(9, 4), choices=False),
            ), SSE, content="Hello th", finish_reason=FinishReason.LENGTH),
            "content_filter (streamed)": CannedResponse(200, sse(
                ROLE, chunk({}, finish_reason="content_filter"),
                chunk(usage=usage(9, 0), choices=False),
            ), SSE, finish_reason=FinishReason.CONTENT_FILTER),
        },
        models=CannedResponse(200, {"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 1721172741,
             "owned_by": "system"}]}, model_ids=["gpt-4o-mini"]),
        models_pages=[
            CannedResponse(200, {"object": "list", "has_more": True, "last_id": "gpt-4o-mini",
                                 "data": [{"id": "gpt-4o-mini", "object": "model",
                                           "created": 1721172741, "owned_by": "system"}]},
                           model_ids=["gpt-4o-mini"]),
            CannedResponse(200, {"object": "list", "has_more": False, "last_id": "o4-mini",
                                 "data": [{"id": "o4-mini", "object": "model",
                                           "created": 1744225308, "owned_by": "system"}]},
                           model_ids=["o4-mini"]),
        ],
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
            "content_filter": CannedResponse(400, error_body(
                "Your request was rejected as a result of our safety system.",
                code="content_policy_violation")),
            "rate_limit": CannedResponse(429, error_body(
                "Rate limit reached for requests", type="requests",
                code="rate_limit_exceeded"), {"retry-after": "3"}, retry_after=3.0),
            "quota": CannedResponse(429, error_body(
                "You exceeded your current quota, please check your plan and billing details.",
                type="insufficient_quota", code="insufficient_quota")),
            "server_error": CannedResponse(500, error_body(
                "The server had an error processing your request.", type="server_error")),
            "unavailable": CannedResponse(503, error_body(
                "That model is currently overloaded with other requests.",
                type="server_error")),
        },
        more={
            # o4-mini: 500 completion tokens, 448 of them reasoning (counted inside them):
            # 50 x 1.10 + 500 x 4.40 = 55 + 2,200 = 2,255 per million.
            "reasoning": CannedResponse(200, completion(
                "4", model="o4-mini-2025-04-16", usage=usage(50, 500, reasoning=448)),
                content="4", usage=TokenUsage(50, 500, reasoning_tokens=448),
                cost="0.002255"),
            # 3,000 prompt tokens: 1,000 read from the cache, 1,500 written to it (billed at
            # the input rate: gpt-4o-mini has no cache-write price): 500 x 0.15 +
            # 1,000 x 0.075 + 1,500 x 0.15 + 100 x 0.60 = 75 + 75 + 225 + 60 = 435.
            "cache_write": CannedResponse(200, completion("ok", usage={
                "prompt_tokens": 3000, "completion_tokens": 100, "total_tokens": 3100,
                "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 1500}}),
                usage=TokenUsage(3000, 100, cached_input_tokens=1000, cache_write_tokens=1500),
                cost="0.000435"),
            # gpt-5.4 bills a prompt over 272K tokens at $5.00 input, $0.50 cached, $22.50
            # output: 200,000 x 5 + 100,000 x 0.50 + 1,000 x 22.50 = 1,072,500 per million.
            "long prompt (price tier)": CannedResponse(200, completion(
                "Summary.", model="gpt-5.4", usage=usage(300_000, 1_000, cached=100_000)),
                usage=TokenUsage(300_000, 1_000, cached_input_tokens=100_000), cost="1.0725"),
            "refusal": CannedResponse(200, completion(None, refusal="I can't help with that.",
                                                      usage=usage(9, 6)),
                                      content="", refusal="I can't help with that.",
                                      finish_reason="stop"),
            "refusal streamed": CannedResponse(200, sse(
                chunk({"role": "assistant", "content": None, "refusal": ""}),
                chunk({"refusal": "I can't "}), chunk({"refusal": "help with that."}),
                chunk({}, finish_reason="stop"), chunk(usage=usage(9, 6), choices=False),
            ), SSE, content="", refusal="I can't help with that.", finish_reason="stop"),
            # 2024 replies: no *_details at all.
            "usage without details": CannedResponse(200, completion("Hi", usage={
                "prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}),
                usage=TokenUsage(9, 3), cost="0.00000315"),
            # A rate limit that says its wait only in the message (no Retry-After header).
            "wait in the message": CannedResponse(429, error_body(
                "Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 10000. "
                "Please try again in 1.5s.", type="tokens", code="rate_limit_exceeded"),
                error=RateLimitError, error_attrs={"retry_after": 1.5}),
            "error object in a 200 reply": CannedResponse(200, error_body(
                "The server had an error while processing your request.", type="server_error"),
                error=ProviderUnavailableError,
                error_text="The server had an error while processing your request."),
            # Compatible servers (vLLM, DeepSeek, Ollama's /v1) send thinking text.
            "reasoning_content": CannedResponse(200, completion(
                "4", reasoning_content="2 + 2 makes 4.", usage=usage(9, 30)),
                content="4", reasoning="2 + 2 makes 4.", usage=TokenUsage(9, 30)),
            # A server that streams a second choice (n set on its side): choice 0 only.
            "second choice streamed": CannedResponse(200, sse(
                ROLE, second({"role": "assistant", "content": ""}), chunk({"content": "Yes"}),
                second({"content": "No"}), chunk({"content": "."}, finish_reason="stop"),
                second({}, "length"), chunk(usage=usage(9, 4), choices=False),
            ), SSE, content="Yes.", finish_reason="stop", usage=TokenUsage(9, 4)),
            "quota error in a 200 stream": CannedResponse(200, sse(
                ROLE, error_body("You exceeded your current quota.", type="insufficient_quota",
                                 code="insufficient_quota"), done=False,
            ), SSE, error=QuotaExceededError),
        },
    )
