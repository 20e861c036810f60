"""Canned echo-format replies for running the conformance kit on the echo driver."""

from __future__ import annotations

from core_helpers import echo_reply, sse

from jtd_ai import TokenUsage
from jtd_ai.testing import CannedResponse, WireSamples

STREAM = sse(
    {"delta": "echo:", "model": "echo-1"}, {"delta": " Hello"}, {"delta": " there"},
    {"done": True, "usage": {"input": 1, "output": 3}, "finish_reason": "stop", "model": "echo-1"},
)


#: Echo answers the same whatever the sampling options: it sends only max_tokens.
UNSUPPORTED = dict.fromkeys(("temperature", "top_p", "stop", "seed"),
                            "echo answers the same whatever the sampling options")


def error(status: int, message: str, **headers: str) -> CannedResponse:
    return CannedResponse(status, {"error": message}, headers=headers)


SAMPLES = WireSamples(
    chat=CannedResponse(200, echo_reply("echo: Hello there", input_tokens=1, output_tokens=3),
                        content="echo: Hello there", finish_reason="stop",
                        usage=TokenUsage(1, 3), cost="0"),
    stream=CannedResponse(200, STREAM, {"content-type": "text/event-stream"},
                          content="echo: Hello there"),
    models=CannedResponse(200, {"data": [{"id": "echo-1"}, {"id": "echo-large"}]}),
    errors={
        "bad_request": error(400, "messages must not be empty"),
        "invalid_credentials": error(401, "unknown key"),
        "permission_denied": error(403, "this key cannot use echo-1"),
        "model_not_found": error(404, "model echo-9 not found"),
        "rate_limit": CannedResponse(429, {"error": "slow down"}, {"retry-after": "3"},
                                     retry_after=3),
        "server_error": error(500, "internal"),
        "unavailable": error(503, "overloaded"),
    },
)
