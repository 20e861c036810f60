"""What comes back: replies, stream chunks, token usage and rate-limit state."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic

from attrs import field, frozen

from jtd_ai.messages import Message, TextPart, ToolCall, _calls

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    from jtd_ai.pricing import Pricing

    #: The type of :attr:`Response.parsed`: what ``output=T`` asked for. ``Response`` alone
    #: is ``Response[Any]``: a TypeVar default (PEP 696), which only type checkers need.
    ParsedT = TypeVar("ParsedT", default=Any)
else:
    from typing import TypeVar

    ParsedT = TypeVar("ParsedT")

__all__ = [
    "FinishReason",
    "RateLimitInfo",
    "Response",
    "StreamChunk",
    "TokenUsage",
    "ToolCallDelta",
    "TriedProvider",
]


class FinishReason(enum.StrEnum):
    """Why the model stopped, in one vocabulary for every provider."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"
    OTHER = "other"


def _optional_count(_: object, attribute: Any, value: int | None) -> None:
    if value is not None and value < 0:
        from jtd_ai.errors import ValidationError

        raise ValidationError(f"{attribute.name} cannot be negative", field=attribute.name)


@frozen
class TokenUsage:
    """Tokens of one call.

    ``input_tokens`` counts every prompt token, cached ones included; ``cached_input_tokens``
    is the part read from the provider's cache. ``output_tokens`` counts every generated
    token, reasoning included; ``reasoning_tokens`` is the part spent thinking.
    ``cache_write_tokens`` is the part of the input written to a cache, where billed apart.

    These are the tokens the provider *processed*. Where it bills a different number (Cohere's
    ``billed_units``), ``billed_input_tokens`` / ``billed_output_tokens`` say so and cost
    follows them; None (the default) means billed as processed. See :meth:`billed`.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    billed_input_tokens: int | None = field(default=None, validator=_optional_count)
    billed_output_tokens: int | None = field(default=None, validator=_optional_count)

    def __attrs_post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens", "cached_input_tokens",
                     "reasoning_tokens", "cache_write_tokens"):
            if getattr(self, name) < 0:
                from jtd_ai.errors import ValidationError

                raise ValidationError(f"{name} cannot be negative", field=name)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def billed(self) -> TokenUsage:
        """The tokens that are billed: this usage with the billed counts, where the provider
        stated them, in place of the processed ones (cached, cache-write and reasoning parts
        capped to fit)."""
        if self.billed_input_tokens is None and self.billed_output_tokens is None:
            return self
        billed_in = (self.input_tokens if self.billed_input_tokens is None
                     else self.billed_input_tokens)
        billed_out = (self.output_tokens if self.billed_output_tokens is None
                      else self.billed_output_tokens)
        cached = min(self.cached_input_tokens, billed_in)
        return TokenUsage(billed_in, billed_out, cached,
                          min(self.reasoning_tokens, billed_out),
                          min(self.cache_write_tokens, billed_in - cached))

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            *_billed_sum(self, other),
        )


def _billed_sum(a: TokenUsage, b: TokenUsage) -> tuple[int | None, int | None]:
    """The billed counts of ``a + b``: None where neither states one."""
    if a.billed_input_tokens is None and b.billed_input_tokens is None:
        billed_in = None
    else:
        billed_in = a.billed().input_tokens + b.billed().input_tokens
    if a.billed_output_tokens is None and b.billed_output_tokens is None:
        billed_out = None
    else:
        billed_out = a.billed().output_tokens + b.billed().output_tokens
    return billed_in, billed_out


@frozen
class RateLimitInfo:
    """The provider's rate-limit headers, read off a response or an error."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None  # seconds until the request window resets
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None


@frozen
class TriedProvider:
    """A provider (and model) a call was tried on before the one that answered, and the
    type of the error that sent it elsewhere (see :mod:`jtd_ai.fallbacks`)."""

    provider: str
    model: str | None
    error: str


@frozen
class Response(Generic[ParsedT]):
    """A complete reply, from a call or assembled at the end of a stream.

    With ``output=T`` (structured output), ``parsed`` holds the reply as a ``T`` and the
    reply is typed ``Response[T]``; otherwise ``parsed`` is None."""

    content: str
    model: str
    provider: str
    finish_reason: FinishReason | None = None
    usage: TokenUsage | None = None
    tool_calls: tuple[ToolCall, ...] = field(default=(), converter=_calls)
    request_id: str | None = None
    refusal: str | None = None
    reasoning: str | None = None
    #: Cost in US dollars, when the model's price is known; see ``pricing`` for its source.
    cost: Decimal | None = None
    pricing: Pricing | None = field(default=None, repr=False)
    #: Seconds from sending the request to the complete reply.
    latency: float | None = None
    rate_limit: RateLimitInfo | None = field(default=None, repr=False)
    #: The decoded provider payload(s), for what our types do not carry.
    raw: Any = field(default=None, repr=False, eq=False)
    #: Provider data the assistant turn must carry back on the next call (see
    #: ``Message.metadata``); kept out of equality.
    metadata: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)
    #: True when a plugin answered without calling the provider (a reply cache's hit); the
    #: cost is then zero.
    cached: bool = False
    #: The providers tried before this one answered, in order (fallbacks); empty when the
    #: first one did.
    tried: tuple[TriedProvider, ...] = ()
    #: The reply as the type ``output=T`` asked for (see :mod:`jtd_ai.structured`), else
    #: None. Left out of equality: the content it was read from already takes part.
    parsed: ParsedT = field(default=None, eq=False)

    def completed(self, *, latency: float | None, cost: Decimal | None,
                  pricing: Pricing | None, keep_raw: bool = True) -> Response[ParsedT]:
        """This reply with what the core adds after parsing: latency and cost (and without
        ``raw`` when the provider is configured not to keep it). What ``attrs.evolve`` does,
        for these fields only: it runs once per call, and evolve inspects every field."""
        return Response(
            self.content, self.model, self.provider, self.finish_reason, self.usage,
            self.tool_calls, self.request_id, self.refusal, self.reasoning,
            self.cost if cost is None else cost, self.pricing if pricing is None else pricing,
            self.latency if latency is None else latency, self.rate_limit,
            self.raw if keep_raw else None, self.metadata, self.cached, self.tried,
            parsed=self.parsed,
        )

    def to_message(self) -> Message:
        """The assistant turn to append to the history for a follow-up."""
        return Message(
            "assistant", (TextPart(self.content),) if self.content else (), self.tool_calls,
            reasoning=self.reasoning, metadata=self.metadata,
        )


@frozen
class ToolCallDelta:
    """A piece of a tool call in a stream; pieces with one ``index`` make one call."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    #: What the provider attached to the call (see ``ToolCall.metadata``); pieces with one
    #: ``index`` have theirs merged.
    metadata: Mapping[str, Any] = field(factory=dict, eq=False, repr=False)


def _deltas(value: Iterable[ToolCallDelta]) -> tuple[ToolCallDelta, ...]:
    return value if type(value) is tuple else tuple(value)  # once per chunk: no copy


@frozen
class StreamChunk:
    """One increment of a streamed reply. Concatenated ``delta`` values are the content."""

    delta: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = field(default=(), converter=_deltas)
    reasoning: str = ""
    finish_reason: FinishReason | None = None
    usage: TokenUsage | None = None
    model: str | None = None
    request_id: str | None = None
    refusal: str = ""
    raw: Any = field(default=None, repr=False, eq=False)


def header_map(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with lower-cased names, the form protocol adapters read."""
    return {k.lower(): v for k, v in headers.items()}
