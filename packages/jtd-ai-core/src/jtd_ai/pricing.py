"""Prices per million tokens, with their source and date, and the cost of a usage.

Money is :class:`decimal.Decimal`. Cached input is billed at the cached rate and not again
at the input rate; reasoning tokens are part of the output and billed at the reasoning rate
(the output rate unless the provider prices them apart).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from attrs import field, frozen

from jtd_ai.responses import TokenUsage

__all__ = ["PriceTier", "Pricing", "cost_of"]

_MILLION = Decimal(1_000_000)


def _dec(value: Decimal | int | float | str | None) -> Decimal | None:
    # Floats go through str() so 0.15 stays 0.15 and not 0.1499999...
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _dec_required(value: Decimal | int | float | str) -> Decimal:
    result = _dec(value)
    assert result is not None
    return result


@frozen
class PriceTier:
    """Prices that apply instead when the prompt has more than ``above_input_tokens`` tokens."""

    above_input_tokens: int
    input: Decimal = field(converter=_dec_required)
    output: Decimal = field(converter=_dec_required)
    cached_input: Decimal | None = field(default=None, converter=_dec)


def _tiers(value: Iterable[PriceTier]) -> tuple[PriceTier, ...]:
    return tuple(value)


@frozen
class Pricing:
    """US dollars per million tokens for one model, from ``source`` as of ``as_of``."""

    input: Decimal = field(converter=_dec_required)
    output: Decimal = field(converter=_dec_required)
    cached_input: Decimal | None = field(default=None, converter=_dec)
    cache_write: Decimal | None = field(default=None, converter=_dec)
    reasoning: Decimal | None = field(default=None, converter=_dec)
    tiers: tuple[PriceTier, ...] = field(default=(), converter=_tiers)
    #: Where the price came from: "config", "provider", a driver's table name, ...
    source: str = "unknown"
    as_of: dt.date | None = None
    #: What the provider's batch API bills, as a fraction of these rates (``0.5``: half
    #: price), from the same source and date; None where no batch price is published.
    batch_factor: Decimal | None = field(default=None, converter=_dec)

    def __attrs_post_init__(self) -> None:
        from jtd_ai.errors import ValidationError

        for name in ("input", "output", "cached_input", "cache_write", "reasoning",
                     "batch_factor"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValidationError(f"price {name} cannot be negative", field=name)

    def cost(self, usage: TokenUsage) -> Decimal:
        return cost_of(usage, self)

    def for_batch(self) -> Pricing | None:
        """The rates of a provider batch job (every rate times :attr:`batch_factor`,
        tiers too), or None when no batch price is published."""
        factor = self.batch_factor
        if factor is None:
            return None

        def scaled(value: Decimal | None) -> Decimal | None:
            return None if value is None else value * factor

        tiers = tuple(PriceTier(t.above_input_tokens, t.input * factor, t.output * factor,
                                scaled(t.cached_input)) for t in self.tiers)
        return Pricing(self.input * factor, self.output * factor, scaled(self.cached_input),
                       scaled(self.cache_write), scaled(self.reasoning), tiers,
                       source=f"{self.source} (batch x{factor})", as_of=self.as_of)


def cost_of(usage: TokenUsage, pricing: Pricing) -> Decimal:
    """The cost in dollars of ``usage`` at ``pricing``, tiers honoured; billed counts
    (``TokenUsage.billed``) where the provider stated them."""
    usage = usage.billed()
    input_rate, output_rate, cached_rate = pricing.input, pricing.output, pricing.cached_input
    for tier in sorted(pricing.tiers, key=lambda t: t.above_input_tokens):
        if usage.input_tokens > tier.above_input_tokens:
            input_rate, output_rate = tier.input, tier.output
            cached_rate = tier.cached_input if tier.cached_input is not None else cached_rate
    cached_rate = input_rate if cached_rate is None else cached_rate
    write_rate = input_rate if pricing.cache_write is None else pricing.cache_write
    reasoning_rate = output_rate if pricing.reasoning is None else pricing.reasoning

    cached = min(usage.cached_input_tokens, usage.input_tokens)
    written = min(usage.cache_write_tokens, usage.input_tokens - cached)
    plain_input = usage.input_tokens - cached - written
    reasoning = min(usage.reasoning_tokens, usage.output_tokens)
    plain_output = usage.output_tokens - reasoning
    total = (
        plain_input * input_rate
        + cached * cached_rate
        + written * write_rate
        + plain_output * output_rate
        + reasoning * reasoning_rate
    )
    return total / _MILLION
