"""The shared driver conformance kit, run on the xai driver with samples in xAI's shapes."""

from __future__ import annotations

from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples
from jtd_ai_openai.testing import completion, sse, tool_call, usage

SSE = {"content-type": "text/event-stream"}
MODEL = "grok-4-fast-reasoning"
USAGE = usage(12, 3, cached=4, reasoning=20, total=35)  # xAI: total adds reasoning


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
        chat=CannedResponse(200, completion("Olá!", model=MODEL, usage=USAGE), content="Olá!"),
        stream=CannedResponse(200, sse(
            chunk({"content": "Ol", "role": "assistant"}), chunk({"content": "á!"}),
            chunk({}, "stop"),
            {"id": "6f1e", "object": "chat.completion.chunk", "created": 1773345550,
             "model": MODEL, "choices": [], "usage": USAGE},
        ), SSE, content="Olá!"),
        tool_call=CannedResponse(200, completion(
            "", model=MODEL, finish_reason="tool_calls", usage=USAGE,
            tool_calls=[tool_call("call_98286056", "weather", '{"location":"Rome"}')]),
            tool_name="weather"),
        tool_call_stream=CannedResponse(200, sse(
            chunk({"role": "assistant", "tool_calls": [
                {"id": "call_51851897", "index": 0, "type": "function",
                 "function": {"name": "weather", "arguments": '{"location":"Rome"}'}}]}),
            chunk({}, "tool_calls"),
        ), SSE, tool_name="weather"),
        models=CannedResponse(200, {"models": [
            {"id": "grok-3", "created": 1743724800, "object": "model", "owned_by": "xai",
             "input_modalities": ["text"], "output_modalities": ["text"],
             "prompt_text_token_price": 30000, "cached_prompt_text_token_price": 7500,
             "completion_text_token_price": 150000, "aliases": ["grok-3-latest"]}]}),
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
            "server_error": error(500, "Internal error", "Internal server error."),
            "unavailable": error(503, "The service is currently unavailable",
                                 "Service unavailable."),
        },
    )
