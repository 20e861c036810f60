"""A call's span attributes, from jtd-ai's request, reply and error (no OpenTelemetry here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jtd_ai.request import ChatRequest
from jtd_ai.responses import Response
from jtd_ai_otel import semconv

__all__ = ["error_type", "request_attributes", "response_attributes"]

Attributes = dict[str, Any]

#: Sampling parameters providers take in ``extra`` that the conventions name.
_EXTRA_FLOATS = {"frequency_penalty": semconv.REQUEST_FREQUENCY_PENALTY,
                 "presence_penalty": semconv.REQUEST_PRESENCE_PENALTY,
                 "top_k": semconv.REQUEST_TOP_K}


def request_attributes(request: ChatRequest, *, stream: bool) -> Attributes:
    """What the request asked for: model, sampling parameters, streaming, output type."""
    found: Attributes = {semconv.REQUEST_MODEL: request.model}
    if stream:
        found[semconv.REQUEST_STREAM] = True
    if request.temperature is not None:
        found[semconv.REQUEST_TEMPERATURE] = float(request.temperature)
    if request.top_p is not None:
        found[semconv.REQUEST_TOP_P] = float(request.top_p)
    if request.max_tokens is not None:
        found[semconv.REQUEST_MAX_TOKENS] = request.max_tokens
    if request.seed is not None:
        found[semconv.REQUEST_SEED] = request.seed
    if request.stop:
        found[semconv.REQUEST_STOP_SEQUENCES] = list(request.stop)
    if request.response_format is not None:
        found[semconv.OUTPUT_TYPE] = ("text" if request.response_format.type == "text"
                                      else "json")
    for key, name in _EXTRA_FLOATS.items():
        value = request.extra.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[name] = float(value)
    choices = request.extra.get("n", request.extra.get("candidate_count"))
    if isinstance(choices, int) and not isinstance(choices, bool) and choices != 1:
        found[semconv.REQUEST_CHOICE_COUNT] = choices
    return found


def response_attributes(response: Response) -> Attributes:
    """What came back: the model that answered, the completion's id, why it stopped, the
    tokens (the billed counts, where the provider bills others than it processed), whether
    jtd-ai's reply cache answered, and the cost."""
    found: Attributes = {
        semconv.RESPONSE_MODEL: response.model,
        semconv.RESPONSE_FINISH_REASONS: [
            "error" if response.finish_reason is None else response.finish_reason.value],
    }
    completion_id = _completion_id(response.raw)
    if completion_id is not None:
        found[semconv.RESPONSE_ID] = completion_id
    if response.request_id:
        found[semconv.JTD_REQUEST_ID] = response.request_id
    usage = response.usage
    if usage is not None:
        billed = usage.billed()
        found[semconv.USAGE_INPUT_TOKENS] = billed.input_tokens
        found[semconv.USAGE_OUTPUT_TOKENS] = billed.output_tokens
        if billed.cached_input_tokens:
            found[semconv.USAGE_CACHE_READ_INPUT_TOKENS] = billed.cached_input_tokens
        if billed.cache_write_tokens:
            found[semconv.USAGE_CACHE_WRITE_INPUT_TOKENS] = billed.cache_write_tokens
        if billed.reasoning_tokens:
            found[semconv.USAGE_REASONING_OUTPUT_TOKENS] = billed.reasoning_tokens
    if response.cached:
        found[semconv.JTD_CACHED] = True
    if response.cost is not None:
        found[semconv.JTD_COST] = float(response.cost)
    return found


def _completion_id(raw: Any) -> str | None:
    """The provider's id of the completion, from the payload the driver kept (OpenAI and
    xAI's ``id``, Gemini's ``responseId``; a stream's first chunk that has one)."""
    payloads = raw if isinstance(raw, list) else [raw]
    for payload in payloads:
        if isinstance(payload, Mapping):
            for key in ("id", "responseId"):
                value = payload.get(key)
                if isinstance(value, str) and value:
                    return value
    return None


def error_type(error: BaseException) -> str:
    """``error.type``: the class name of the error the call ended with: a jtd-ai error
    (``RateLimitError``, ``TimeoutError``, ...), which says what went wrong in few values."""
    return type(error).__qualname__
