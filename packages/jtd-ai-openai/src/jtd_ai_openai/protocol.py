"""The OpenAI Chat Completions protocol adapter, written to be subclassed.

``POST {base_url}/chat/completions`` (plain JSON, or SSE with ``"stream": true``),
``GET {base_url}/models``, ``Authorization: Bearer <key>``, errors in
``{"error": {"message", "type", "param", "code"}}``. An OpenAI-compatible provider
subclasses :class:`OpenAIProtocol` and changes only what differs::

    class AcmeProtocol(OpenAIProtocol):
        name = "acme"
        price_table = ACME_PRICES          # a jtd_ai_openai.catalog.PriceTable
        model_table = None                 # no facts known: models list as unknown
        completion_includes_reasoning = False

and registers it with its base URL and key variable (see ``jtd_ai_xai`` for a full one).
The hooks are :meth:`chat_body`, :meth:`wire_message`, :meth:`max_tokens_field`,
:meth:`token_usage`, :meth:`finish_reason`, :meth:`classify_error`, :meth:`body_error`,
:meth:`model_info` and the class attributes below.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from jtd_ai.convert import structure_wire
from jtd_ai.errors import (
    ContentFilteredError,
    InvalidCredentialsError,
    MalformedResponseError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitError,
    ValidationError,
)
from jtd_ai.messages import Message, ToolCall
from jtd_ai.modelinfo import Capabilities, ModelInfo, ModelKind
from jtd_ai.pricing import Pricing
from jtd_ai.protocol import ChatProtocol, ModelPage, StreamDecoder, parse_retry_after
from jtd_ai.request import ChatRequest
from jtd_ai.responses import FinishReason, RateLimitInfo, Response, TokenUsage
from jtd_ai.wire import HttpRequest, HttpResponse
from jtd_ai_openai.body import wire_message, wire_response_format, wire_tool_choice, wire_tools
from jtd_ai_openai.catalog import ModelTable, PriceTable
from jtd_ai_openai.errors import ErrorFields, read_error, retry_after_from_message
from jtd_ai_openai.model_table import OPENAI_MODELS
from jtd_ai_openai.options import OpenAIOptions
from jtd_ai_openai.price_table import OPENAI_PRICES
from jtd_ai_openai.ratelimit import rate_limit_info
from jtd_ai_openai.stream import ChatStreamDecoder
from jtd_ai_openai.wire import ChatCompletion, ModelList, Usage, read_completion

if TYPE_CHECKING:
    from jtd_ai.batch_protocol import BatchProtocol
    from jtd_ai.config import ProviderConfig

__all__ = ["OpenAIProtocol"]

#: Families that take ``max_completion_tokens`` only: o-series and gpt-5 onwards.
_COMPLETION_TOKENS_FAMILIES = re.compile(r"^(o\d|gpt-5|gpt-[6-9]|codex-)")
_RESERVED = {"model": "pass model=...", "messages": "pass the messages as the prompt",
             "stream": "call stream() / astream() to stream"}
_FINISH = {
    "stop": FinishReason.STOP, "end_turn": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS, "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
}
_KIND_PREFIXES = (
    ("text-embedding", ModelKind.EMBEDDING), ("dall-e", ModelKind.IMAGE),
    ("gpt-image", ModelKind.IMAGE), ("whisper", ModelKind.AUDIO), ("tts", ModelKind.AUDIO),
)
_SERVER_TROUBLE = frozenset({"server_error", "service_unavailable_error", "server_is_overloaded"})
#: What to say after the provider's message, by the type of error (first match wins).
_HINTS: tuple[tuple[type[ProviderError], str], ...] = (
    (QuotaExceededError, ". Add credit or raise the spending limit; retrying will not help"),
    (InvalidCredentialsError, ". Check the API key"),
    (ModelNotFoundError, ". List the models this key can use with get_available_models()"),
)


class OpenAIProtocol(ChatProtocol):
    """Chat Completions: requests, replies, streams, errors, models, prices."""

    name: ClassVar[str] = "openai"
    request_id_header: ClassVar[str | None] = "x-request-id"
    #: Paths under the base URL.
    chat_path: ClassVar[str] = "/chat/completions"
    models_path: ClassVar[str] = "/models"
    #: Model facts and prices; None means none known (fields stay None).
    model_table: ClassVar[ModelTable | None] = OPENAI_MODELS
    price_table: ClassVar[PriceTable | None] = OPENAI_PRICES
    #: Whether ``completion_tokens`` already counts reasoning tokens (OpenAI: yes). Used
    #: only when ``total_tokens`` does not settle it (see :meth:`token_usage`).
    completion_includes_reasoning: ClassVar[bool] = True
    #: The driver's own ``[providers.NAME]`` keys (see :mod:`jtd_ai_openai.options`); a
    #: subclass adding keys extends it: ``OpenAIProtocol.config_options | {"region"}``.
    config_options: ClassVar[frozenset[str] | None] = OpenAIOptions.KEYS
    #: A provider's errors of its own, each with the typed error it is, keyed by HTTP
    #: status (``402``) or by the error's code, type or whole message (``"Model Not
    #: Exist"``). Checked first, for error replies and error events in a stream alike::
    #:
    #:     error_types = {402: QuotaExceededError, "Model Not Exist": ModelNotFoundError}
    error_types: ClassVar[Mapping[int | str, type[ProviderError]]] = {}

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.options = OpenAIOptions.from_config(config)

    # -- requests ---------------------------------------------------------------------------

    def auth_headers(self) -> Mapping[str, str]:
        headers: dict[str, str] = {}
        key = self.config.api_key
        if key:
            if self.options.auth_header:
                headers[self.options.auth_header] = key.reveal()
            else:
                headers["Authorization"] = f"Bearer {key.reveal()}"
        if self.options.organization:
            headers["OpenAI-Organization"] = self.options.organization
        if self.options.project:
            headers["OpenAI-Project"] = self.options.project
        return headers

    def params(self) -> dict[str, str]:
        """Query parameters sent with every request (``api-version`` when configured)."""
        return {"api-version": self.options.api_version} if self.options.api_version else {}

    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        return HttpRequest("POST", self.chat_path, json=self.chat_body(request, stream=stream),
                           params=self.params(), stream="sse" if stream else None)

    def chat_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The request JSON; fields in ``request.extra`` are added last and win."""
        extra = dict(request.extra)
        self.check_extra(extra)
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [self.wire_message(m, index=i) for i, m in enumerate(request.messages)],
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        limit_in_extra = "max_tokens" in extra or "max_completion_tokens" in extra
        if request.max_tokens is not None and not limit_in_extra:
            body[self.max_tokens_field(request.model)] = request.max_tokens
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        if request.tools:
            body["tools"] = wire_tools(request.tools)
        choice = wire_tool_choice(request.tool_choice)
        if choice is not None:
            body["tool_choice"] = choice
        response_format = self.wire_response_format(request)
        if response_format is not None:
            body["response_format"] = response_format
        if stream:
            given = extra.pop("stream_options", None)
            body["stream"] = True
            body["stream_options"] = {"include_usage": True, **(given or {})}
        body.update(extra)
        return body

    def wire_response_format(self, request: ChatRequest) -> dict[str, Any] | None:
        """The ``response_format`` field; a compatible service's subclass refuses here, before
        anything is sent, a schema it cannot take."""
        return wire_response_format(request.response_format)

    def check_extra(self, extra: Mapping[str, Any]) -> None:
        """Reject extra fields that would break the call, before anything is sent."""
        for key, hint in _RESERVED.items():
            if key in extra:
                raise ValidationError(f"extra={{{key!r}: ...}} is not allowed: {hint}",
                                      field=f"extra.{key}")
        n = extra.get("n", 1)
        if n is not None and (isinstance(n, bool) or n != 1):
            raise ValidationError(
                f"n={n!r} is not supported: one call returns one reply here; send several "
                f"requests (send_batch) for several replies", field="extra.n",
            )
        options = extra.get("stream_options")
        if options is not None and not isinstance(options, Mapping):
            raise ValidationError("extra stream_options must be a JSON object",
                                  field="extra.stream_options")

    def wire_message(self, message: Message, *, index: int) -> dict[str, Any]:
        """One message as request JSON."""
        return wire_message(message, index=index, system_role=self.options.system_role)

    def max_tokens_field(self, model: str) -> str:
        """``max_completion_tokens`` for o-series and gpt-5+ models (they refuse
        ``max_tokens``), ``max_tokens`` for the rest, which every compatible server takes.
        The ``max_tokens_field`` option, or either key in ``extra``, overrides this."""
        if self.options.max_tokens_field != "auto":
            return self.options.max_tokens_field
        family = model.rsplit("/", 1)[-1]
        if _COMPLETION_TOKENS_FAMILIES.match(family):
            return "max_completion_tokens"
        return "max_tokens"

    # -- replies ----------------------------------------------------------------------------

    def parse_chat(self, response: HttpResponse, request: ChatRequest) -> Response:
        data = response.json(provider=self.provider)
        if isinstance(data, dict) and "error" in data and "choices" not in data:
            raise self.body_error(read_error(response), response.text, status=response.status)
        completion = read_completion(data) or structure_wire(data, ChatCompletion,
                                                            provider=self.provider)
        if not completion.choices:
            raise MalformedResponseError(f"{self.provider} sent a reply without choices",
                                         provider=self.provider, status=response.status,
                                         body=response.content)
        choice = next((c for c in completion.choices if c.index == 0), completion.choices[0])
        message = choice.message
        calls = tuple(
            ToolCall(id=call.id or f"call_{i}",
                     name=(call.function.name or "") if call.function else "",
                     arguments=(call.function.arguments or "") if call.function else "")
            for i, call in enumerate(message.tool_calls or ())
        )
        headers = response.headers
        return Response(
            content=message.content or "",
            model=completion.model,
            provider=self.provider,
            finish_reason=self.finish_reason(choice.finish_reason),
            usage=(self.token_usage(completion.usage, _usage_mapping(data))
                   if completion.usage else None),
            tool_calls=calls,
            request_id=headers.get(self.request_id_header) if self.request_id_header else None,
            refusal=message.refusal or None,
            reasoning=message.thinking,
            rate_limit=self.rate_limit(headers),
            raw=data,
        )

    def stream_decoder(self, request: ChatRequest) -> StreamDecoder:
        return ChatStreamDecoder(self)

    def token_usage(self, usage: Usage, raw: Mapping[str, Any] | None = None) -> TokenUsage:
        """Our counts: input includes cached tokens, output includes reasoning tokens.
        The usage hook: override it to read what a provider adds to ``usage``.

        ``usage`` is the documented part, typed (:class:`jtd_ai_openai.wire.Usage`); ``raw``
        is the provider's ``usage`` object exactly as sent, every field included, for a
        subclass that reads more (DeepSeek's ``prompt_cache_hit_tokens``, say)::

            def token_usage(self, usage, raw=None):
                counted = super().token_usage(usage, raw)
                hits = (raw or {}).get("prompt_cache_hit_tokens")
                return counted if hits is None else attrs.evolve(
                    counted, cached_input_tokens=hits)

        OpenAI counts reasoning inside ``completion_tokens``; xAI does not. When
        ``total_tokens`` equals prompt + completion + reasoning, reasoning was left out and
        is added; when it equals prompt + completion, it was in; otherwise the class's
        :attr:`completion_includes_reasoning` decides. Cache writes
        (``prompt_tokens_details.cache_write_tokens``) are part of the input, billed at the
        cache-write price when the model has one."""
        cached = (usage.prompt_tokens_details.cached_tokens or 0
                  if usage.prompt_tokens_details else 0)
        written = (usage.prompt_tokens_details.cache_write_tokens or 0
                   if usage.prompt_tokens_details else 0)
        reasoning = (usage.completion_tokens_details.reasoning_tokens or 0
                     if usage.completion_tokens_details else 0)
        output = usage.completion_tokens
        if reasoning:
            counted = usage.prompt_tokens + usage.completion_tokens
            if usage.total_tokens == counted + reasoning:
                included = False
            elif usage.total_tokens == counted:
                included = True
            else:
                included = self.completion_includes_reasoning
            if not included:
                output += reasoning
        return TokenUsage(input_tokens=usage.prompt_tokens, output_tokens=output,
                          cached_input_tokens=cached, reasoning_tokens=reasoning,
                          cache_write_tokens=written)

    def finish_reason(self, value: str | None) -> FinishReason | None:
        """Our finish reason for the wire's (None while a stream is still going)."""
        if value is None:
            return None
        return _FINISH.get(value, FinishReason.OTHER)

    def rate_limit(self, headers: Mapping[str, str]) -> RateLimitInfo | None:
        return rate_limit_info(headers)

    # -- errors -----------------------------------------------------------------------------

    def parse_error(self, response: HttpResponse) -> ProviderError:
        return self.classify_error(response, read_error(response))

    def classify_error(self, response: HttpResponse, fields: ErrorFields) -> ProviderError:
        """The typed error for an HTTP error reply: by the error's code first (quota,
        key, model, content filter), else by status. ``x-should-retry`` is honoured."""
        headers = response.headers
        retry_after = None
        if response.status == 429:
            retry_after = parse_retry_after(headers)
            if retry_after is None:
                retry_after = retry_after_from_message(fields.message)
        context = self.error_context(fields, status=response.status, headers=headers,
                                      body=response.content)
        error = self._error_by_code(fields, context, retry_after)
        if error is None:
            error = self.error_for_status(response, fields.message, code=fields.code,
                                          retry_after=retry_after)
        should_retry = headers.get("x-should-retry")
        if should_retry in ("true", "false"):
            error.retryable = should_retry == "true"
        return error

    def body_error(self, fields: ErrorFields, body: str, *, status: int = 200) -> ProviderError:
        """The typed error for an ``error`` object inside a 200 reply or a stream event.

        ``status`` stays the HTTP status the body came with (200), which also tells the
        core this is the provider's error and not a broken connection."""
        context = self.error_context(fields, status=status, headers={}, body=body)
        error = self._error_by_code(fields, context, retry_after_from_message(fields.message))
        if error is not None:
            return error
        if fields.kinds & _SERVER_TROUBLE:
            return ProviderUnavailableError(
                f"{self.provider} failed on its side while answering: {fields.message}",
                **context)
        return ProviderError(f"{self.provider} reported an error in its reply: {fields.message}",
                             **context)

    def error_context(self, fields: ErrorFields, *, status: int | None,
                      headers: Mapping[str, str], body: str | bytes) -> dict[str, Any]:
        """The keyword arguments every typed error of this provider is built with."""
        request_id = headers.get(self.request_id_header) if self.request_id_header else None
        return {"provider": self.provider, "status": status, "request_id": request_id,
                "body": body, "code": fields.code or fields.type,
                "rate_limit": self.rate_limit(headers)}

    def _error_by_code(self, fields: ErrorFields, context: dict[str, Any],
                       retry_after: float | None) -> ProviderError | None:
        kinds, message, provider = fields.kinds, fields.message, self.provider
        for key in (context.get("status"), fields.code, fields.type, message):
            own = self.error_types.get(key) if key is not None else None
            if own is not None:
                hint = next((h for t, h in _HINTS if issubclass(own, t)), "")
                return own(f"{provider}: {message}{hint}", retry_after=retry_after, **context)
        if "insufficient_quota" in kinds:
            return QuotaExceededError(
                f"{provider}: the account is out of quota or credit: {message}. Add credit "
                f"or raise the spending limit; retrying will not help", **context)
        if kinds & {"invalid_api_key", "invalid_authentication"}:
            return self.credentials_error(message, context)
        if "model_not_found" in kinds:
            return ModelNotFoundError(f"{provider}: model not found: {message}", **context)
        if kinds & {"content_filter", "content_policy_violation"}:
            return ContentFilteredError(f"{provider} refused the content: {message}",
                                        **context)
        if "rate_limit_exceeded" in kinds:
            return RateLimitError(f"{provider} is rate limiting requests: {message}",
                                  retry_after=retry_after, **context)
        return None

    def credentials_error(self, message: str, context: dict[str, Any]) -> ProviderError:
        """The error for a rejected key, whatever status the provider used for it."""
        where = self.config.api_key_env or "its environment variable"
        return InvalidCredentialsError(
            f"{self.provider} rejected the credentials: {message}. Check the API key "
            f"(api_key or {where}).", **context)

    # -- models and prices ------------------------------------------------------------------

    def models_request(self, page_token: str | None) -> HttpRequest:
        params = self.params()
        if page_token:
            params["after"] = page_token
        return HttpRequest("GET", self.models_path, params=params)

    def parse_models(self, response: HttpResponse) -> ModelPage:
        listing = structure_wire(response.json(provider=self.provider), ModelList,
                                 provider=self.provider, what="$models")
        models = [self.model_info(entry.id, created=entry.created, owned_by=entry.owned_by)
                  for entry in listing.data]
        more = listing.last_id if listing.has_more and listing.last_id else None
        return ModelPage(models, more)

    def model_info(self, model: str, *, created: int | None = None,
                   owned_by: str | None = None) -> ModelInfo:
        """A listed model with what the tables know of it; unknown fields stay None."""
        facts = self.model_table.get(model) if self.model_table is not None else None
        return ModelInfo(
            id=model, provider=self.provider,
            kind=facts.kind if facts is not None else _kind(model),
            context_length=facts.context_length if facts is not None else None,
            max_output_tokens=facts.max_output_tokens if facts is not None else None,
            capabilities=self.capabilities(model),
            pricing=self.pricing(model),
            created=dt.datetime.fromtimestamp(created, dt.UTC) if created is not None else None,
            owned_by=owned_by,
        )

    def capabilities(self, model: str | None = None) -> Capabilities:
        """The driver's features when ``model`` is None; else the table's facts (all None
        for a model the table does not know)."""
        if model is None:
            return Capabilities(streaming=True, tools=True, vision=True, json_mode=True,
                                structured_output=True, reasoning=True, system_prompt=True)
        facts = self.model_table.get(model) if self.model_table is not None else None
        return facts.capabilities if facts is not None else Capabilities()

    def pricing(self, model: str) -> Pricing | None:
        return self.price_table.get(model) if self.price_table is not None else None

    def batch_protocol(self) -> BatchProtocol | None:
        """OpenAI's Batch API (:mod:`jtd_ai_openai.batch`), for the ``openai`` driver itself;
        a compatible service's subclass opts in by overriding this."""
        if type(self) is not OpenAIProtocol:
            return None
        from jtd_ai_openai.batch import OpenAIBatchProtocol

        return OpenAIBatchProtocol(self)


def _usage_mapping(data: Any) -> Mapping[str, Any]:
    """A reply's or chunk's ``usage`` object as sent (empty when it has none)."""
    usage = data.get("usage") if isinstance(data, Mapping) else None
    return usage if isinstance(usage, Mapping) else {}


def _kind(model: str) -> ModelKind:
    for prefix, kind in _KIND_PREFIXES:
        if model.startswith(prefix):
            return kind
    if model.endswith(("-tts", "-transcribe")):
        return ModelKind.AUDIO
    if "moderation" in model:
        return ModelKind.OTHER
    return ModelKind.UNKNOWN
