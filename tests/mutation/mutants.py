"""Seeded defects: copies of real drivers (OpenAI, Gemini, the DeepSeek example), each with
one realistic mistake, that the conformance kit must catch.

A mutant is a subclass of the real protocol overriding one method, or the real protocol with
one of its module's functions patched for the length of the mutant's kit run. Each names the
defect the way a reviewer would. They are read by :mod:`kit_for_mutants` (the nested kit
run) and :mod:`test_mutation` (the verdict).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs
import pytest

from jtd_ai import (
    ContentFilteredError,
    FinishReason,
    InvalidCredentialsError,
    MalformedResponseError,
    ModelNotFoundError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    Response,
    StreamChunk,
    TokenUsage,
)
from jtd_ai.protocol import ChatProtocol, ModelPage, StreamDecoder, StreamEvent
from jtd_ai_deepseek.protocol import DeepSeekProtocol
from jtd_ai_gemini.protocol import GeminiProtocol
from jtd_ai_gemini.stream import GeminiStreamDecoder
from jtd_ai_openai.protocol import OpenAIProtocol
from jtd_ai_openai.stream import ChatStreamDecoder

Patch = Callable[[pytest.MonkeyPatch], None]


@attrs.frozen
class Mutant:
    """One seeded defect: a broken copy of ``kit``'s driver."""

    name: str
    kit: str  # "openai", "gemini" or "deepseek": whose samples the kit runs with
    defect: str
    protocol: type[ChatProtocol]
    patch: Patch | None = None


MUTANTS: list[Mutant] = []
#: Where the outer run keeps each mutant's verdict (the kit tests that failed) for its summary.
VERDICTS = pytest.StashKey[dict[str, list[str]]]()


def mutant(name: str, kit: str, defect: str, base: type[ChatProtocol], *,
           patch: Patch | None = None, **methods: Any) -> None:
    cls = type(f"Mutant_{name}", (base,), methods)
    MUTANTS.append(Mutant(name, kit, defect, cls, patch))


# -- helpers ------------------------------------------------------------------------------------


def decoder(base: type[StreamDecoder], **methods: Any) -> Callable[..., StreamDecoder]:
    """A ``stream_decoder`` method returning ``base`` with ``methods`` replaced."""
    cls = type(f"Mutant{base.__name__}", (base,), methods)

    def stream_decoder(self: Any, request: Any) -> StreamDecoder:
        return cls(self)  # type: ignore[no-any-return]

    return stream_decoder


def chunks_where(change: Callable[[StreamChunk], StreamChunk]) -> Callable[..., Any]:
    """A ``feed`` method passing each chunk the real decoder makes through ``change``."""

    def feed(self: Any, event: StreamEvent) -> Iterable[StreamChunk]:
        return [change(c) for c in type(self).__mro__[1].feed(self, event)]

    return feed


def price_where(change: Callable[[Any], Any], base: type[ChatProtocol] = OpenAIProtocol,
                ) -> Callable[..., Any]:
    def pricing(self: Any, model: str) -> Any:
        price = base.pricing(self, model)
        return None if price is None else change(price)

    return pricing


def usage_where(change: Callable[[TokenUsage], TokenUsage],
                base: type[OpenAIProtocol] = OpenAIProtocol) -> Callable[..., Any]:
    def token_usage(self: Any, usage: Any, raw: Any = None) -> TokenUsage:
        return change(base.token_usage(self, usage, raw))

    return token_usage


def reply_where(change: Callable[[Response], Response],
                base: type[ChatProtocol] = OpenAIProtocol) -> Callable[..., Any]:
    def parse_chat(self: Any, response: Any, request: Any) -> Response:
        return change(base.parse_chat(self, response, request))

    return parse_chat


def body_without(*keys: str) -> Callable[..., Any]:
    def chat_body(self: Any, request: Any, *, stream: bool) -> dict[str, Any]:
        body = OpenAIProtocol.chat_body(self, request, stream=stream)
        for key in keys:
            body.pop(key, None)
        return body

    return chat_body


def errors_where(change: Callable[[ProviderError], ProviderError]) -> dict[str, Any]:
    """``classify_error`` and ``body_error`` (HTTP replies and stream events) through ``change``."""

    def classify_error(self: Any, response: Any, fields: Any) -> ProviderError:
        return change(OpenAIProtocol.classify_error(self, response, fields))

    def body_error(self: Any, fields: Any, body: str, *, status: int = 200) -> ProviderError:
        return change(OpenAIProtocol.body_error(self, fields, body, status=status))

    return {"classify_error": classify_error, "body_error": body_error}


def retyped(kind: type[ProviderError], to: type[ProviderError]) -> Callable[..., ProviderError]:
    def change(error: ProviderError) -> ProviderError:
        if type(error) is not kind:
            return error
        return to(error.message, provider=error.provider, status=error.status,
                  code=error.code, retry_after=error.retry_after)

    return change


def patched(module: str, name: str, make: Callable[[Any], Any],
            also: tuple[str, ...] = ()) -> Patch:
    """Replace ``module.name`` (and the copies imported into ``also``) by ``make(original)``."""

    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        import importlib

        original = getattr(importlib.import_module(module), name)
        replacement = make(original)
        for where in (module, *also):
            monkeypatch.setattr(f"{where}.{name}", replacement)

    return apply


def evolve_usage(**change: Callable[[TokenUsage], int]) -> Callable[[TokenUsage], TokenUsage]:
    def apply(usage: TokenUsage) -> TokenUsage:
        return attrs.evolve(usage, **{k: f(usage) for k, f in change.items()})

    return apply


# -- OpenAI: money and usage --------------------------------------------------------------------

mutant("float_prices", "openai", "prices built from floats (Decimal(0.15))", OpenAIProtocol,
       pricing=price_where(lambda p: attrs.evolve(
           p, input=Decimal(float(p.input)), output=Decimal(float(p.output)),
           cached_input=None if p.cached_input is None else Decimal(float(p.cached_input)))))
mutant("per_token_float_price", "openai", "price per token worked out in floats, times a "
       "million", OpenAIProtocol,
       pricing=price_where(lambda p: attrs.evolve(
           p, input=Decimal(float(p.input) / 1_000_000) * 1_000_000)))
mutant("swapped_input_output_prices", "openai", "price columns swapped: input <-> output",
       OpenAIProtocol, pricing=price_where(lambda p: attrs.evolve(p, input=p.output,
                                                                  output=p.input)))
mutant("swapped_cached_input_prices", "openai", "price columns swapped: input <-> cached input",
       OpenAIProtocol, pricing=price_where(lambda p: attrs.evolve(
           p, input=p.cached_input or p.input, cached_input=p.input)))
mutant("cached_price_dropped", "openai", "no cached-input price: cache hits billed in full",
       OpenAIProtocol, pricing=price_where(lambda p: attrs.evolve(p, cached_input=None)))
mutant("cached_billed_twice", "openai", "cached tokens added to prompt_tokens again",
       OpenAIProtocol, token_usage=usage_where(evolve_usage(
           input_tokens=lambda u: u.input_tokens + u.cached_input_tokens)))
mutant("input_without_cached", "openai", "input counted without the cached tokens",
       OpenAIProtocol, token_usage=usage_where(evolve_usage(
           input_tokens=lambda u: u.input_tokens - u.cached_input_tokens)))
mutant("reasoning_counted_twice", "openai", "reasoning tokens added to completion_tokens "
       "that already hold them", OpenAIProtocol, token_usage=usage_where(evolve_usage(
           output_tokens=lambda u: u.output_tokens + u.reasoning_tokens)))
mutant("cached_not_read", "openai", "prompt_tokens_details.cached_tokens not read",
       OpenAIProtocol, token_usage=usage_where(evolve_usage(cached_input_tokens=lambda u: 0)))
mutant("reasoning_not_read", "openai", "completion_tokens_details.reasoning_tokens not read",
       OpenAIProtocol, token_usage=usage_where(evolve_usage(reasoning_tokens=lambda u: 0)))
mutant("cache_writes_dropped", "openai", "prompt_tokens_details.cache_write_tokens dropped",
       OpenAIProtocol, token_usage=usage_where(evolve_usage(cache_write_tokens=lambda u: 0)))
mutant("stream_usage_dropped", "openai", "the usage chunk of a stream dropped",
       OpenAIProtocol, stream_decoder=decoder(ChatStreamDecoder, feed=chunks_where(
           lambda c: attrs.evolve(c, usage=None))))

mutant("long_prompt_tier_ignored", "openai", "the long-prompt price tier not applied",
       OpenAIProtocol, pricing=price_where(lambda p: attrs.evolve(p, tiers=())))

# -- OpenAI: finish reasons and replies ---------------------------------------------------------

mutant("finish_always_stop", "openai", "every finish reason read as stop", OpenAIProtocol,
       finish_reason=lambda self, value: None if value is None else FinishReason.STOP)
mutant("content_filter_as_stop", "openai", "finish_reason content_filter read as stop",
       OpenAIProtocol, finish_reason=lambda self, value: FinishReason.STOP
       if value == "content_filter" else OpenAIProtocol.finish_reason(self, value))
mutant("length_as_other", "openai", "finish_reason length read as other", OpenAIProtocol,
       finish_reason=lambda self, value: FinishReason.OTHER
       if value == "length" else OpenAIProtocol.finish_reason(self, value))
mutant("refusal_as_content", "openai", "a refusal returned as the reply's text", OpenAIProtocol,
       parse_chat=reply_where(lambda r: attrs.evolve(r, content=r.refusal or r.content)))
mutant("thinking_dropped", "openai", "reasoning_content not read", OpenAIProtocol,
       parse_chat=reply_where(lambda r: attrs.evolve(r, reasoning=None)))
mutant("request_id_dropped", "openai", "the x-request-id header not read", OpenAIProtocol,
       parse_chat=reply_where(lambda r: attrs.evolve(r, request_id=None)))


mutant("refusal_dropped", "openai", "message.refusal not read", OpenAIProtocol,
       parse_chat=reply_where(lambda r: attrs.evolve(r, refusal=None)),
       stream_decoder=decoder(ChatStreamDecoder, feed=chunks_where(
           lambda c: attrs.evolve(c, refusal=""))))


def _details_assumed(self: Any, usage: Any, raw: Any = None) -> TokenUsage:
    cached = usage.prompt_tokens_details.cached_tokens or 0  # AttributeError on 2024 replies
    return attrs.evolve(OpenAIProtocol.token_usage(self, usage, raw), cached_input_tokens=cached)


mutant("usage_details_assumed", "openai", "prompt_tokens_details read as if always present",
       OpenAIProtocol, token_usage=_details_assumed)


def _error_body_ignored(self: Any, response: Any, request: Any) -> Response:
    data = response.json(provider=self.provider)
    if isinstance(data, dict) and "error" in data and "choices" not in data:
        return Response("", model=request.model, provider=self.provider)
    return OpenAIProtocol.parse_chat(self, response, request)


mutant("error_body_in_200_ignored", "openai", "an error object in a 200 reply read as an "
       "empty reply", OpenAIProtocol, parse_chat=_error_body_ignored)


def _key_error(self: Any, response: Any, request: Any) -> Response:
    try:
        return OpenAIProtocol.parse_chat(self, response, request)
    except MalformedResponseError:
        raise KeyError("choices") from None


mutant("malformed_body_untyped", "openai", "a body that is not JSON raises KeyError",
       OpenAIProtocol, parse_chat=_key_error)

# -- OpenAI: streams ----------------------------------------------------------------------------


def _skip_errors(self: Any, event: StreamEvent) -> Iterable[StreamChunk]:
    try:
        payload = json.loads(event.data)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and "error" in payload:
        return ()
    return ChatStreamDecoder.feed(self, event)


mutant("stream_error_event_ignored", "openai", "an error event inside a 200 stream ignored",
       OpenAIProtocol, stream_decoder=decoder(ChatStreamDecoder, feed=_skip_errors))
mutant("finish_text_dropped", "openai", "text arriving with the finish reason dropped",
       OpenAIProtocol, stream_decoder=decoder(ChatStreamDecoder, feed=chunks_where(
           lambda c: attrs.evolve(c, delta="") if c.finish_reason else c)))
mutant("parallel_deltas_merged", "openai", "parallel tool-call deltas merged into the first "
       "call", OpenAIProtocol, stream_decoder=decoder(ChatStreamDecoder, feed=chunks_where(
           lambda c: attrs.evolve(c, tool_calls=[attrs.evolve(d, index=0)
                                                 for d in c.tool_calls]))))
mutant("stream_tool_names_dropped", "openai", "tool names not read from stream fragments",
       OpenAIProtocol, stream_decoder=decoder(ChatStreamDecoder, feed=chunks_where(
           lambda c: attrs.evolve(c, tool_calls=[attrs.evolve(d, name=None)
                                                 for d in c.tool_calls]))))


def _all_choices_as_0(self: Any, event: StreamEvent) -> Iterable[StreamChunk]:
    try:
        payload = json.loads(event.data)
    except ValueError:
        return ChatStreamDecoder.feed(self, event)
    for choice in payload.get("choices") or () if isinstance(payload, dict) else ():
        choice["index"] = 0
    return ChatStreamDecoder.feed(self, StreamEvent(json.dumps(payload), event.event))


mutant("choices_merged", "openai", "choices[].index ignored: other choices merged into 0",
       OpenAIProtocol, stream_decoder=decoder(ChatStreamDecoder, feed=_all_choices_as_0))
mutant("truncated_stream_accepted", "openai", "a stream without [DONE] taken as complete",
       OpenAIProtocol, stream_decoder=decoder(ChatStreamDecoder, end=lambda self: ()))


def _shared_decoder(self: Any, request: Any) -> StreamDecoder:
    shared = self.__dict__.get("_shared_decoder")
    if shared is None:
        shared = self.__dict__["_shared_decoder"] = ChatStreamDecoder(self)
    return shared


mutant("shared_decoder_state", "openai", "one stream decoder shared by every stream of a "
       "provider", OpenAIProtocol, stream_decoder=_shared_decoder)

# -- OpenAI: requests ---------------------------------------------------------------------------

for _option in ("temperature", "top_p", "stop", "seed"):
    mutant(f"{_option}_not_sent", "openai", f"{_option} not sent", OpenAIProtocol,
           chat_body=body_without(_option))
mutant("max_tokens_not_sent", "openai", "max_tokens not sent", OpenAIProtocol,
       chat_body=body_without("max_tokens", "max_completion_tokens"))
mutant("usage_not_requested", "openai", "stream_options.include_usage not asked for",
       OpenAIProtocol, chat_body=body_without("stream_options"))
mutant("tools_not_sent", "openai", "the tools offered not sent", OpenAIProtocol,
       chat_body=body_without("tools", "tool_choice"))


def _only_roles(*roles: str) -> Callable[..., Any]:
    def chat_body(self: Any, request: Any, *, stream: bool) -> dict[str, Any]:
        body = OpenAIProtocol.chat_body(self, request, stream=stream)
        body["messages"] = [m for m in body["messages"] if m["role"] in roles]
        return body

    return chat_body


mutant("system_prompt_dropped", "openai", "system messages left out of the request",
       OpenAIProtocol, chat_body=_only_roles("user", "assistant", "tool"))
mutant("history_dropped", "openai", "earlier assistant turns and tool results left out",
       OpenAIProtocol, chat_body=_only_roles("system", "developer", "user"))


def _key_in_url(self: Any, request: Any, *, stream: bool) -> Any:
    http = OpenAIProtocol.chat_request(self, request, stream=stream)
    return attrs.evolve(http, params={**http.params, "key": self.config.api_key.reveal()})


mutant("key_in_url", "openai", "the API key sent in the query string", OpenAIProtocol,
       chat_request=_key_in_url)
mutant("bearer_missing", "openai", "Authorization without the Bearer scheme", OpenAIProtocol,
       auth_headers=lambda self: {"Authorization": self.config.api_key.reveal()})
mutant("wrong_chat_path", "openai", "a typo in the chat path", OpenAIProtocol,
       chat_path="/chat/completion")

# -- OpenAI: tools ------------------------------------------------------------------------------


def _calls_where(change: Callable[[Any], Any]) -> Callable[..., Any]:
    return reply_where(lambda r: attrs.evolve(r, tool_calls=[change(c) for c in r.tool_calls]))


mutant("empty_tool_call_ids", "openai", "missing tool-call ids left empty", OpenAIProtocol,
       parse_chat=_calls_where(lambda c: attrs.evolve(c, id="") if c.id.startswith("call_")
                               and c.id[5:].isdigit() else c))
mutant("tool_args_reserialised", "openai", "tool arguments re-serialised, not kept as sent",
       OpenAIProtocol, parse_chat=_calls_where(lambda c: attrs.evolve(
           c, arguments=json.dumps(json.loads(c.arguments)))))

# -- OpenAI: errors and retries -----------------------------------------------------------------

mutant("quota_as_rate_limit", "openai", "insufficient_quota raised as a (retried) rate limit",
       OpenAIProtocol, **errors_where(retyped(QuotaExceededError, RateLimitError)))
mutant("model_not_found_untyped", "openai", "model_not_found raised as a plain ProviderError",
       OpenAIProtocol, **errors_where(retyped(ModelNotFoundError, ProviderError)))
mutant("content_filter_untyped", "openai", "content_policy_violation as a plain ProviderError",
       OpenAIProtocol, **errors_where(retyped(ContentFilteredError, ProviderError)))


def _retry_bad_keys(error: ProviderError) -> ProviderError:
    if isinstance(error, InvalidCredentialsError):
        error.retryable = True
    return error


mutant("bad_key_retried", "openai", "a rejected key marked retryable", OpenAIProtocol,
       **errors_where(_retry_bad_keys))


def _forget_retry_after(error: ProviderError) -> ProviderError:
    error.retry_after = None
    return error


mutant("retry_after_ignored", "openai", "Retry-After not read", OpenAIProtocol,
       **errors_where(_forget_retry_after))
mutant("wait_in_message_ignored", "openai", "'Please try again in 1.5s' not read when there is "
       "no Retry-After header", OpenAIProtocol,
       patch=patched("jtd_ai_openai.protocol", "retry_after_from_message",
                     lambda _: lambda message: None))


def _plain_stream_errors(self: Any, fields: Any, body: str, *, status: int = 200,
                         ) -> ProviderError:
    return ProviderError(f"{self.provider}: {fields.message}", provider=self.provider,
                         status=status, body=body)


mutant("stream_error_untyped", "openai", "an error event typed as a plain ProviderError",
       OpenAIProtocol, body_error=_plain_stream_errors)

# -- OpenAI: models -----------------------------------------------------------------------------


def _first_page(self: Any, response: Any) -> ModelPage:
    return ModelPage(OpenAIProtocol.parse_models(self, response).models, None)


mutant("first_model_page_only", "openai", "only the first page of the model listing",
       OpenAIProtocol, parse_models=_first_page)

# -- Gemini -------------------------------------------------------------------------------------

_GEMINI_READERS = ("jtd_ai_gemini.protocol", "jtd_ai_gemini.stream")

mutant("gemini_blocks_as_other", "gemini", "PROHIBITED_CONTENT, BLOCKLIST, SPII, MODEL_ARMOR "
       "come back as an empty reply with OTHER", GeminiProtocol,
       patch=patched("jtd_ai_gemini.reply", "FILTERED",
                     lambda _: frozenset({"SAFETY", "RECITATION"})))


def _usage_of(change: Callable[[TokenUsage], TokenUsage]) -> Patch:
    return patched("jtd_ai_gemini.reply", "usage_of",
                   lambda original: lambda meta: None if original(meta) is None
                   else change(original(meta)))


mutant("gemini_thoughts_left_out", "gemini", "thoughtsTokenCount left out of the output",
       GeminiProtocol, patch=_usage_of(evolve_usage(
           output_tokens=lambda u: u.output_tokens - u.reasoning_tokens)))
mutant("gemini_thoughts_twice", "gemini", "thinking tokens counted twice in the output",
       GeminiProtocol, patch=_usage_of(evolve_usage(
           output_tokens=lambda u: u.output_tokens + u.reasoning_tokens)))
mutant("gemini_cache_ignored", "gemini", "cachedContentTokenCount not read", GeminiProtocol,
       patch=_usage_of(evolve_usage(cached_input_tokens=lambda u: 0)))
mutant("gemini_max_tokens_as_stop", "gemini", "MAX_TOKENS read as stop", GeminiProtocol,
       patch=patched("jtd_ai_gemini.reply", "finish_reason",
                     lambda original: lambda raw, calls: FinishReason.STOP
                     if raw == "MAX_TOKENS" else original(raw, calls), _GEMINI_READERS))
mutant("gemini_first_model_page_only", "gemini", "nextPageToken not followed", GeminiProtocol,
       parse_models=lambda self, response: ModelPage(
           GeminiProtocol.parse_models(self, response).models, None))
mutant("gemini_no_call_ids", "gemini", "no ids made for calls Gemini sends without one",
       GeminiProtocol, patch=patched("jtd_ai_gemini.reply", "make_call_id",
                                     lambda original: lambda **kw: kw.get("given") or ""))


def _unsigned(turn: Any) -> Any:
    return attrs.evolve(turn, calls=tuple(attrs.evolve(c, metadata={}) for c in turn.calls))


def _gemini_shared(self: Any, request: Any) -> StreamDecoder:
    shared = self.__dict__.get("_shared_decoder")
    if shared is None:
        shared = self.__dict__["_shared_decoder"] = GeminiStreamDecoder(self)
    return shared


mutant("gemini_shared_decoder", "gemini", "the stream decoder (and its call count) shared by "
       "every stream", GeminiProtocol, stream_decoder=_gemini_shared)
mutant("gemini_signatures_dropped", "gemini", "thought signatures not kept with their calls",
       GeminiProtocol, patch=patched("jtd_ai_gemini.reply", "translate",
                                     lambda original: lambda reply, **kw: _unsigned(
                                         original(reply, **kw)), _GEMINI_READERS))


def _gemini_skip_errors(self: Any, event: StreamEvent) -> Iterable[StreamChunk]:
    payload = json.loads(event.data)
    if isinstance(payload, Mapping) and "error" in payload:
        return ()
    return GeminiStreamDecoder.feed(self, event)


mutant("gemini_stream_error_ignored", "gemini", "an error object inside the stream ignored",
       GeminiProtocol, stream_decoder=decoder(GeminiStreamDecoder, feed=_gemini_skip_errors))
mutant("gemini_daily_quota_retried", "gemini", "a per-day quota read as a rate limit",
       GeminiProtocol, patch=patched("jtd_ai_gemini.errors", "_per_day",
                                     lambda _: lambda details: False))


def _without_message(original: Callable[..., Any]) -> Callable[..., Any]:
    def filtered(*args: Any, **kwargs: Any) -> Any:
        error = original(*args, **kwargs)
        if error is not None:
            error.finish_message = None
        return error

    return filtered


mutant("gemini_finish_message_lost", "gemini", "finishMessage not carried by the error",
       GeminiProtocol, patch=patched("jtd_ai_gemini.reply", "filtered", _without_message,
                                     _GEMINI_READERS))
mutant("gemini_prompt_block_ignored", "gemini", "promptFeedback.blockReason ignored",
       GeminiProtocol, patch=patched("jtd_ai_gemini.reply", "blocked_prompt",
                                     lambda _: lambda *a, **k: None, _GEMINI_READERS))


def _no_temperature(original: Callable[..., Any]) -> Callable[..., Any]:
    def generation_config(request: Any) -> Any:
        config = original(request)
        config.pop("temperature", None)
        return config

    return generation_config


mutant("gemini_temperature_not_sent", "gemini", "temperature not put in generationConfig",
       GeminiProtocol, patch=patched("jtd_ai_gemini.build", "_generation_config",
                                     _no_temperature))

# -- DeepSeek (the example) ---------------------------------------------------------------------

mutant("deepseek_cache_hits_as_misses", "deepseek", "prompt_cache_hit_tokens not read: cache "
       "hits billed at the miss price", DeepSeekProtocol, token_usage=OpenAIProtocol.token_usage)
mutant("deepseek_balance_untyped", "deepseek", "402 Insufficient Balance as a generic error",
       DeepSeekProtocol, error_types={"Model Not Exist": ModelNotFoundError})
mutant("deepseek_model_not_exist_untyped", "deepseek", "400 Model Not Exist as a bad request",
       DeepSeekProtocol, error_types={402: QuotaExceededError})
mutant("deepseek_hit_price_as_miss", "deepseek", "the cache-hit column holds the miss price",
       DeepSeekProtocol, pricing=price_where(lambda p: attrs.evolve(p, cached_input=p.input),
                                             DeepSeekProtocol))

#: The real drivers, unchanged: the kit must pass them, or a "catch" means nothing.
CONTROLS: dict[str, type[ChatProtocol]] = {
    "openai": OpenAIProtocol, "gemini": GeminiProtocol, "deepseek": DeepSeekProtocol}
