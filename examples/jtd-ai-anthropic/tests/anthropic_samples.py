"""Anthropic replies written from the Messages API reference (not captured traffic).

``usage.input_tokens`` leaves out cache reads and writes; the driver adds them back, so
12 + 100 read + 20 written = 132 input tokens. Costs by hand from Anthropic's price page
(USD per million tokens): claude-haiku-4-5 $1 input, $0.10 cache read, $1.25 cache write
(5-minute), $5 output.
"""

from __future__ import annotations

import json
from typing import Any

from jtd_ai import ContentFilteredError, FinishReason, QuotaExceededError, TokenUsage
from jtd_ai.errors import ProviderUnavailableError
from jtd_ai.testing import CannedResponse, WireSamples
from jtd_ai.testing.conformance import ExpectedCall

SSE = {"content-type": "text/event-stream"}


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


MESSAGE = {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
    "content": [{"type": "text", "text": "Hello! How can I help?"}],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 8, "cache_read_input_tokens": 100,
              "cache_creation_input_tokens": 20},
}
# 12 x 1 + 100 x 0.10 + 20 x 1.25 + 8 x 5 = 12 + 10 + 25 + 40 = 87 per million.
COUNTED = TokenUsage(input_tokens=132, output_tokens=8, cached_input_tokens=100,
                     cache_write_tokens=20)

TOOL_MESSAGE = {
    **MESSAGE, "id": "msg_02", "stop_reason": "tool_use",
    "content": [{"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                 "input": {"city": "Paris"}}],
}

PARALLEL_MESSAGE = {
    **TOOL_MESSAGE, "id": "msg_03",
    "content": [{"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                 "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "get_time",
                 "input": {"zone": "CET"}}],
}

START = {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None,
                                              "usage": {"input_tokens": 12, "output_tokens": 1}}}


def text_block(index: int, *texts: str) -> list[dict[str, Any]]:
    return [{"type": "content_block_start", "index": index,
             "content_block": {"type": "text", "text": ""}},
            *({"type": "content_block_delta", "index": index,
               "delta": {"type": "text_delta", "text": t}} for t in texts),
            {"type": "content_block_stop", "index": index}]


def tool_block(index: int, call_id: str, name: str, *pieces: str) -> list[dict[str, Any]]:
    return [{"type": "content_block_start", "index": index,
             "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}},
            *({"type": "content_block_delta", "index": index,
               "delta": {"type": "input_json_delta", "partial_json": p}} for p in pieces),
            {"type": "content_block_stop", "index": index}]


def end(reason: str, output: int) -> list[dict[str, Any]]:
    return [{"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
             "usage": {"output_tokens": output}}, {"type": "message_stop"}]


STREAM = sse(START, {"type": "ping"}, *text_block(0, "Hello!", " How can I help?"),
             *end("end_turn", 8))

TOOL_STREAM = sse(START, *tool_block(0, "toolu_01", "get_weather", '{"city": ', '"Paris"}'),
                  *end("tool_use", 9))


def error(status: int, kind: str, message: str, **expected: Any) -> CannedResponse:
    return CannedResponse(status, {"type": "error", "error": {"type": kind, "message": message}},
                          {"request-id": "req_x"}, **expected)


def stopped(reason: str) -> dict[str, Any]:
    return {**MESSAGE, "stop_reason": reason, "usage": {"input_tokens": 12, "output_tokens": 8}}


PARIS = ExpectedCall("get_weather", {"city": "Paris"}, id="toolu_01")
CET = ExpectedCall("get_time", {"zone": "CET"}, id="toolu_02")

SAMPLES = WireSamples(
    chat=CannedResponse(200, MESSAGE, {"request-id": "req_1"}, content="Hello! How can I help?",
                        finish_reason="stop", usage=COUNTED, cost="0.000087",
                        model="claude-haiku-4-5-20251001"),
    # 12 x 1 + 8 x 5 = 52 per million.
    stream=CannedResponse(200, STREAM, SSE, content="Hello! How can I help?",
                          finish_reason="stop", usage=TokenUsage(12, 8), cost="0.000052",
                          sent={"stream": True}),
    stream_error=CannedResponse(200, sse(
        START, *text_block(0, "Hello!")[:2],
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        SSE, content="Hello!", error=ProviderUnavailableError, error_text="Overloaded"),
    tool_call=CannedResponse(200, TOOL_MESSAGE, tool_name="get_weather", content="Let me check.",
                             finish_reason="tool_calls", tool_calls=[PARIS]),
    tool_call_stream=CannedResponse(200, TOOL_STREAM, SSE, tool_name="get_weather",
                                    finish_reason="tool_calls", tool_calls=[PARIS]),
    parallel_tool_calls=CannedResponse(200, PARALLEL_MESSAGE, tool_calls=[PARIS, CET],
                                       finish_reason="tool_calls"),
    parallel_tool_calls_stream=CannedResponse(200, sse(
        START, *text_block(0, "Checking."),
        *tool_block(1, "toolu_01", "get_weather", '{"city":', ' "Paris"}'),
        *tool_block(2, "toolu_02", "get_time", '{"zone": "CET"}'), *end("tool_use", 30)),
        SSE, content="Checking.", tool_calls=[PARIS, CET], finish_reason="tool_calls"),
    finish_reasons={
        "end_turn": CannedResponse(200, stopped("end_turn"), finish_reason=FinishReason.STOP),
        "stop_sequence": CannedResponse(200, stopped("stop_sequence"),
                                        finish_reason=FinishReason.STOP),
        "max_tokens": CannedResponse(200, stopped("max_tokens"),
                                     finish_reason=FinishReason.LENGTH),
        "max_tokens (streamed)": CannedResponse(200, sse(
            START, *text_block(0, "Hello! How"), *end("max_tokens", 3)), SSE,
            content="Hello! How", finish_reason=FinishReason.LENGTH),
        "refusal": CannedResponse(200, stopped("refusal"),
                                  finish_reason=FinishReason.CONTENT_FILTER),
        "pause_turn": CannedResponse(200, stopped("pause_turn"),
                                     finish_reason=FinishReason.OTHER),
    },
    models=CannedResponse(200, {"data": [
        {"type": "model", "id": "claude-haiku-4-5-20251001", "display_name": "Claude Haiku 4.5",
         "created_at": "2025-10-01T00:00:00Z"}], "has_more": False,
        "first_id": "claude-haiku-4-5-20251001", "last_id": "claude-haiku-4-5-20251001"},
        model_ids=["claude-haiku-4-5-20251001"]),
    models_pages=[
        CannedResponse(200, {"data": [
            {"type": "model", "id": "claude-haiku-4-5-20251001", "display_name": "Haiku",
             "created_at": "2025-10-01T00:00:00Z"}], "has_more": True,
            "first_id": "claude-haiku-4-5-20251001", "last_id": "claude-haiku-4-5-20251001"},
            model_ids=["claude-haiku-4-5-20251001"]),
        CannedResponse(200, {"data": [
            {"type": "model", "id": "claude-sonnet-4-5-20250929", "display_name": "Sonnet",
             "created_at": "2025-09-29T00:00:00Z"}], "has_more": False,
            "first_id": "claude-sonnet-4-5-20250929", "last_id": "claude-sonnet-4-5-20250929"},
            model_ids=["claude-sonnet-4-5-20250929"]),
    ],
    errors={
        "bad_request": error(400, "invalid_request_error", "max_tokens: must be positive"),
        "invalid_credentials": error(401, "authentication_error", "invalid x-api-key"),
        "permission_denied": error(403, "permission_error", "not allowed"),
        "model_not_found": error(404, "not_found_error", "model: claude-9"),
        "rate_limit": CannedResponse(429, {"type": "error", "error": {
            "type": "rate_limit_error", "message": "slow down"}},
            {"request-id": "req_x", "retry-after": "7"}, retry_after=7),
        "quota": error(402, "billing_error",
                       "Your credit balance is too low to access the Anthropic API."),
        "server_error": error(500, "api_error", "internal"),
        "unavailable": error(529, "overloaded_error", "Overloaded"),
    },
    more={
        "thinking": CannedResponse(200, {**MESSAGE, "content": [
            {"type": "thinking", "thinking": "Greet them back.", "signature": "EqQBCgIYAhIM"},
            {"type": "text", "text": "Hello!"}]}, content="Hello!",
            reasoning="Greet them back.", usage=COUNTED, cost="0.000087"),
        "refused content": CannedResponse(400, {"type": "error", "error": {
            "type": "invalid_request_error",
            "message": "Output blocked by content filtering policy"}},
            error=ContentFilteredError),
        "credit exhausted (quota)": error(402, "billing_error", "Your credit balance is too low.",
                                          error=QuotaExceededError),
    },
)
