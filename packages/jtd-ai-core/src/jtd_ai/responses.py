"""What comes back: replies, stream chunks, token usage and rate-limit state."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from jtd_ai.messages import Message, TextPart, ToolCall, _calls

if TYPE_CHECKING:
    from jtd_ai.pricing import Pricing

__all__ = [
    "FinishReason",
    "RateLimitInfo",
    "Response",
    "StreamChunk",
    "TokenUsage",
    "ToolCallDelta",
]


class FinishReason(enum.StrEnum):
    """Why the model stopped, in one vocabulary for every provider."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"
    OTHER = "other"


@frozen
class TokenUsage:
    """Tokens of one call.

    ``input_tokens`` counts every prompt token, cached ones included; ``cached_input_tokens``
    is the part read from the provider's cache. ``output_tokens`` counts every generated
    token, reasoning included; ``reasoning_tokens`` is the part spent thinking.
    ``cache_write_tokens`` is the part of the input written to a cache, where billed apart.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0

    def __attrs_post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens", "cached_input_tokens",
                     "reasoning_tokens", "cache_write_tokens"):
            if getattr(self, name) < 0:
                from jtd_ai.errors import ValidationError

                raise ValidationError(f"{name} cannot be negative", field=name)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


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
class Response:
    """A complete reply, from a call or assembled at the end of a stream."""

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

    def completed(self, *, latency: float | None, cost: Decimal | None,
                  pricing: Pricing | None, keep_raw: bool = True) -> Response:
        """This reply with what the core adds after parsing: latency and cost (and without
        ``raw`` when the provider is configured not to keep it). What ``attrs.evolve`` does,
        for these fields only: it runs once per call, and evolve inspects every field."""
        return Response(
            self.content, self.model, self.provider, self.finish_reason, self.usage,
            self.tool_calls, self.request_id, self.refusal, self.reasoning,
            self.cost if cost is None else cost, self.pricing if pricing is None else pricing,
            self.latency if latency is None else latency, self.rate_limit,
            self.raw if keep_raw else None,
        )

    def to_message(self) -> Message:
        """The assistant turn to append to the history for a follow-up."""
        return Message(
            "assistant", (TextPart(self.content),) if self.content else (), self.tool_calls
        )


@frozen
class ToolCallDelta:
    """A piece of a tool call in a stream; pieces with one ``index`` make one call."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


def _deltas(value: Iterable[ToolCallDelta]) -> tuple[ToolCallDelta, ...]:
    return tuple(value)


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
