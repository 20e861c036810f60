"""The shared driver conformance kit, run against the Gemini driver (sync and async).

Samples are written from Gemini's documented formats (ai.google.dev API reference). Token
counts follow ``usageMetadata``: ``promptTokenCount`` includes cached content,
``candidatesTokenCount`` leaves thinking out (``thoughtsTokenCount``), so output is
candidates + thoughts. Costs by hand from Google's price page (USD per million tokens):
gemini-2.5-flash $0.30 input, $0.03 cached input, $2.50 output (thinking included).
"""

from __future__ import annotations

import json
from typing import Any

from jtd_ai import ContentFilteredError, FinishReason, QuotaExceededError, TokenUsage
from jtd_ai.errors import ProviderError, ProviderUnavailableError
from jtd_ai.testing import CannedResponse, DriverConformanceTests, WireSamples
from jtd_ai.testing.conformance import BatchSamples, ExpectedCall

KEY = "AIza.conformance-key.0123456789abcd"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
SSE = {"content-type": "text/event-stream"}


def reply(*parts: dict[str, Any], finish: str | None = "STOP", prompt: int = 9,
          output: int = 4, usage: dict[str, Any] | None = None,
          **candidate_fields: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)},
                                 "index": 0, **candidate_fields}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "c1",
            "usageMetadata": usage or {"promptTokenCount": prompt,
                                       "candidatesTokenCount": output,
                                       "totalTokenCount": prompt + output}}


def blocked(reason: str, message: str | None = None, **fields: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {}, "finishReason": reason, "index": 0, **fields}
    if message:
        candidate["finishMessage"] = message
    return {"candidates": [candidate], "modelVersion": "gemini-2.5-flash",
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events).encode()


def error(code: int, status: str, message: str, *details: dict[str, Any],
          **expected: Any) -> CannedResponse:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        body["details"] = list(details)
    return CannedResponse(code, {"error": body}, **expected)


# 1,000 prompt tokens (600 from the context cache), 20 answer + 30 thinking tokens:
# 400 x 0.30 + 600 x 0.03 + 50 x 2.50 = 120 + 18 + 125 = 263 per million.
USAGE = {"promptTokenCount": 1000, "cachedContentTokenCount": 600, "candidatesTokenCount": 20,
         "thoughtsTokenCount": 30, "totalTokenCount": 1050}
COUNTED = TokenUsage(input_tokens=1000, output_tokens=50, cached_input_tokens=600,
                     reasoning_tokens=30)
COST = "0.000263"
CALL = {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}},
        "thoughtSignature": "c2ln"}
CALL_2 = {"functionCall": {"name": "get_time", "args": {"zone": "CET"}}}
#: The call as it must come out: its signature kept to go back with it on the next turn.
WEATHER = ExpectedCall("get_weather", {"city": "Rome"}, metadata={"thought_signature": "c2ln"})
STREAM = [reply({"text": "Hello"}, finish=None, usage={**USAGE, "candidatesTokenCount": 1}),
          reply({"text": " there"}, finish=None, usage={**USAGE, "candidatesTokenCount": 2}),
          reply({"text": "!"}, usage=USAGE)]
HATE = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "HIGH", "blocked": True}]


def filtered(category: str, message: str | None = None) -> dict[str, Any]:
    attrs: dict[str, Any] = {"category": category}
    if message:
        attrs["finish_message"] = message
    return {"error": ContentFilteredError, "error_attrs": attrs}


def batch_operation(state: str, **fields: Any) -> dict[str, Any]:
    """The operation batchGenerateContent and batches.get return
    (ai.google.dev/api/batch-api: GenerateContentBatch in ``metadata``)."""
    return {"name": "batches/123456", "metadata": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": "models/gemini-2.5-flash", "displayName": "job", "name": "batches/123456",
        "state": state, "batchStats": {"requestCount": "2", "pendingRequestCount": "2"}},
        **fields}


# Two inline requests: the first answered, the second refused (a google.rpc.Status).
GEMINI_BATCH = BatchSamples(
    prompts=["Hello", "Bad one"],
    steps=[
        CannedResponse(200, batch_operation("BATCH_STATE_PENDING"),
                       sent_url="/models/gemini-2.5-flash:batchGenerateContent"),
        CannedResponse(200, batch_operation("BATCH_STATE_SUCCEEDED", done=True, response={
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main."
                     "GenerateContentBatchOutput",
            "inlinedResponses": {"inlinedResponses": [
                {"response": reply({"text": "Hello there!"}), "metadata": {"key": "item-0"}},
                {"error": {"code": 3, "message": "Request contains an invalid argument."},
                 "metadata": {"key": "item-1"}}]}}), sent_url="/batches/123456"),
    ],
    results=["Hello there!", ProviderError],
)


class TestGeminiConformance(DriverConformanceTests):
    driver = "gemini"
    settings = {"api_key": KEY}
    model = "gemini-2.5-flash"
    live_env = ("GEMINI_API_KEY",)
    batch_samples = GEMINI_BATCH
    samples = WireSamples(
        chat=CannedResponse(200, reply({"text": "Hello there!"}, usage=USAGE),
                            content="Hello there!", finish_reason="stop", usage=COUNTED,
                            cost=COST, model="gemini-2.5-flash", request_id="c1"),
        stream=CannedResponse(200, sse(*STREAM), SSE, content="Hello there!",
                              finish_reason="stop", usage=COUNTED, cost=COST, sent={}),
        stream_finish_text=CannedResponse(200, sse(
            reply({"text": "Hel"}, finish=None), reply({"text": "lo!"})), SSE,
            content="Hello!", finish_reason="stop"),
        stream_error=CannedResponse(200, sse(
            reply({"text": "Hello"}, finish=None),
            {"error": {"code": 503, "message": "The model is overloaded.",
                       "status": "UNAVAILABLE"}}), SSE,
            content="Hello", error=ProviderUnavailableError),
        tool_call=CannedResponse(200, reply(CALL), tool_name="get_weather",
                                 finish_reason="tool_calls", tool_calls=[WEATHER]),
        tool_call_stream=CannedResponse(200, sse(reply(CALL)), SSE, tool_name="get_weather",
                                        finish_reason="tool_calls", tool_calls=[WEATHER]),
        parallel_tool_calls=CannedResponse(200, reply(CALL, CALL_2), tool_calls=[
            WEATHER, ExpectedCall("get_time", {"zone": "CET"})], finish_reason="tool_calls"),
        parallel_tool_calls_stream=CannedResponse(200, sse(
            reply(CALL, finish=None), reply(CALL_2, finish=None), reply({"text": ""})), SSE,
            tool_calls=[WEATHER, ExpectedCall("get_time", {"zone": "CET"})],
            finish_reason="tool_calls"),
        # The Developer API sends no functionCall.id: every id is the driver's.
        tool_call_without_id=CannedResponse(200, reply(CALL_2, CALL_2), tool_calls=[
            ExpectedCall("get_time", {"zone": "CET"}), ExpectedCall("get_time", {"zone": "CET"})]),
        finish_reasons={
            "STOP": CannedResponse(200, reply({"text": "Done."}), finish_reason="stop"),
            "MAX_TOKENS": CannedResponse(200, reply({"text": "Hello th"}, finish="MAX_TOKENS"),
                                         content="Hello th", finish_reason="length"),
            "MAX_TOKENS (streamed)": CannedResponse(200, sse(
                reply({"text": "Hello"}, finish=None), reply({"text": " th"}, finish="MAX_TOKENS")),
                SSE, content="Hello th", finish_reason="length"),
            "MALFORMED_FUNCTION_CALL": CannedResponse(
                200, reply(finish="MALFORMED_FUNCTION_CALL"), finish_reason=FinishReason.ERROR),
            "OTHER": CannedResponse(200, reply({"text": "Hm"}, finish="OTHER"),
                                    finish_reason=FinishReason.OTHER),
            "SAFETY": CannedResponse(200, blocked("SAFETY", safetyRatings=HATE),
                                     **filtered("HARM_CATEGORY_HATE_SPEECH")),
            "SAFETY (streamed)": CannedResponse(200, sse(
                reply({"text": "Well"}, finish=None), blocked("SAFETY", safetyRatings=HATE)),
                SSE, **filtered("HARM_CATEGORY_HATE_SPEECH")),
            **{reason: CannedResponse(200, blocked(reason, "The response was blocked."),
                                      **filtered(reason, "The response was blocked."))
               for reason in ("RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                              "IMAGE_SAFETY", "MODEL_ARMOR")},
            "PROHIBITED_CONTENT (streamed)": CannedResponse(200, sse(
                reply({"text": "Well"}, finish=None),
                blocked("PROHIBITED_CONTENT", "The response was blocked.")), SSE,
                **filtered("PROHIBITED_CONTENT", "The response was blocked.")),
        },
        models=CannedResponse(200, {"models": [{
            "name": "models/gemini-2.5-flash", "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536, "supportedGenerationMethods": ["generateContent"]}]},
            model_ids=["gemini-2.5-flash"]),
        models_pages=[
            CannedResponse(200, {"models": [{
                "name": "models/gemini-2.5-flash", "supportedGenerationMethods": [
                    "generateContent"]}], "nextPageToken": "Ch9tb2RlbHMvdmVv"},
                model_ids=["gemini-2.5-flash"]),
            CannedResponse(200, {"models": [{
                "name": "models/gemini-2.5-pro", "supportedGenerationMethods": [
                    "generateContent"]}]}, model_ids=["gemini-2.5-pro"]),
        ],
        errors={
            "bad_request": error(400, "INVALID_ARGUMENT", "contents must not be empty"),
            "invalid_credentials": error(400, "INVALID_ARGUMENT", "API key not valid.",
                                         {"@type": ERROR_INFO, "reason": "API_KEY_INVALID"}),
            "permission_denied": error(403, "PERMISSION_DENIED", "The caller does not have "
                                                                 "permission"),
            "model_not_found": error(404, "NOT_FOUND", "models/x is not found"),
            "rate_limit": error(429, "RESOURCE_EXHAUSTED", "Quota exceeded",
                                {"@type": RETRY_INFO, "retryDelay": "26s"}, retry_after=26),
            "quota": error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric "
                           "generate_content_free_tier_requests, limit: 250",
                           {"@type": QUOTA_FAILURE, "violations": [{
                               "quotaMetric": "generativelanguage.googleapis.com/"
                                              "generate_content_free_tier_requests",
                               "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
                           error=QuotaExceededError),
            "server_error": error(500, "INTERNAL", "An internal error has occurred."),
            "unavailable": error(503, "UNAVAILABLE", "The model is overloaded."),
        },
        more={
            "prompt blocked": CannedResponse(200, {
                "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": HATE},
                "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}},
                **filtered("HARM_CATEGORY_HATE_SPEECH")),
            "prompt blocked (streamed)": CannedResponse(200, sse({
                "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}}), SSE,
                **filtered("PROHIBITED_CONTENT")),
            "thinking": CannedResponse(200, reply(
                {"text": "**Counting** one, two", "thought": True}, {"text": "2"},
                usage={"promptTokenCount": 10, "candidatesTokenCount": 1,
                       "thoughtsTokenCount": 40, "totalTokenCount": 51}),
                content="2", reasoning="**Counting** one, two",
                # 10 x 0.30 + 41 x 2.50 = 3 + 102.5 = 105.5 per million.
                usage=TokenUsage(10, 41, reasoning_tokens=40), cost="0.0001055"),
        },
    )
