"""Anthropic replies written from the Messages API reference (not captured traffic)."""

from __future__ import annotations

import json
from typing import Any

from jtd_ai.testing import CannedResponse, WireSamples


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


MESSAGE = {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
    "content": [{"type": "text", "text": "Hello! How can I help?"}],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 8, "cache_read_input_tokens": 100,
              "cache_creation_input_tokens": 20},
}

TOOL_MESSAGE = {
    **MESSAGE, "id": "msg_02", "stop_reason": "tool_use",
    "content": [{"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                 "input": {"city": "Paris"}}],
}

START = {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None,
                                              "usage": {"input_tokens": 12, "output_tokens": 1}}}

STREAM = sse(
    START,
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello!"}},
    {"type": "content_block_delta", "index": 0,
     "delta": {"type": "text_delta", "text": " How can I help?"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
     "usage": {"output_tokens": 8}},
    {"type": "message_stop"},
)

TOOL_STREAM = sse(
    START,
    {"type": "content_block_start", "index": 0,
     "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 0,
     "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}},
    {"type": "content_block_delta", "index": 0,
     "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
    {"type": "message_stop"},
)


def error(status: int, kind: str, message: str, **headers: str) -> CannedResponse:
    return CannedResponse(status, {"type": "error", "error": {"type": kind, "message": message}},
                          headers={"request-id": "req_x", **headers})


SAMPLES = WireSamples(
    chat=CannedResponse(200, MESSAGE, {"request-id": "req_1"}, content="Hello! How can I help?"),
    stream=CannedResponse(200, STREAM, {"content-type": "text/event-stream"},
                          content="Hello! How can I help?"),
    tool_call=CannedResponse(200, TOOL_MESSAGE, tool_name="get_weather"),
    tool_call_stream=CannedResponse(200, TOOL_STREAM, {"content-type": "text/event-stream"},
                                    tool_name="get_weather"),
    models=CannedResponse(200, {"data": [
        {"type": "model", "id": "claude-haiku-4-5-20251001", "display_name": "Claude Haiku 4.5",
         "created_at": "2025-10-01T00:00:00Z"}], "has_more": False,
        "first_id": "claude-haiku-4-5-20251001", "last_id": "claude-haiku-4-5-20251001"}),
    errors={
        "bad_request": error(400, "invalid_request_error", "max_tokens: must be positive"),
        "invalid_credentials": error(401, "authentication_error", "invalid x-api-key"),
        "permission_denied": error(403, "permission_error", "not allowed"),
        "model_not_found": error(404, "not_found_error", "model: claude-9"),
        "rate_limit": error(429, "rate_limit_error", "slow down", **{"retry-after": "7"}),
        "server_error": error(500, "api_error", "internal"),
        "unavailable": error(529, "overloaded_error", "Overloaded"),
    },
)
SAMPLES.errors["rate_limit"].retry_after = 7
