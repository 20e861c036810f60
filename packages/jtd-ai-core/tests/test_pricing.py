"""Cost from usage and prices, in Decimal, checked against figures worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from jtd_ai import PriceTier, Pricing, TokenUsage, ValidationError


def test_cached_input_is_billed_once_at_the_cached_rate() -> None:
    pricing = Pricing(input="2.50", output="10.00", cached_input="1.25", source="t",
                      as_of=dt.date(2026, 11, 1))
    usage = TokenUsage(input_tokens=10_000, output_tokens=2_000, cached_input_tokens=4_000,
                       reasoning_tokens=500)
    # (6,000 x 2.50 + 4,000 x 1.25 + 2,000 x 10.00) / 1e6 = (15,000 + 5,000 + 20,000) / 1e6
    assert pricing.cost(usage) == Decimal("0.04")


def test_reasoning_has_its_own_rate_when_priced_apart() -> None:
    pricing = Pricing(input=1, output=4, reasoning=8)
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000, reasoning_tokens=250_000)
    # 1 + 750,000 x 4 / 1e6 + 250,000 x 8 / 1e6 = 1 + 3 + 2
    assert pricing.cost(usage) == Decimal(6)


def test_tier_above_a_prompt_size_replaces_the_rates() -> None:
    pricing = Pricing(input="1.25", output="10", cached_input="0.31",
                      tiers=[PriceTier(200_000, input="2.50", output="15", cached_input="0.625")])
    small = TokenUsage(input_tokens=200_000, output_tokens=1_000)
    large = TokenUsage(input_tokens=300_000, output_tokens=1_000, cached_input_tokens=100_000)
    # 200,000 x 1.25 + 1,000 x 10 = 250,000 + 10,000 -> 0.26
    assert pricing.cost(small) == Decimal("0.26")
    # 200,000 x 2.50 + 100,000 x 0.625 + 1,000 x 15 = 500,000 + 62,500 + 15,000 -> 0.5775
    assert pricing.cost(large) == Decimal("0.5775")


def test_cache_writes_priced_apart() -> None:
    pricing = Pricing(input=3, output=15, cached_input="0.30", cache_write="3.75")
    usage = TokenUsage(input_tokens=10_000, output_tokens=0, cached_input_tokens=2_000,
                       cache_write_tokens=5_000)
    # 3,000 x 3 + 2,000 x 0.30 + 5,000 x 3.75 = 9,000 + 600 + 18,750 = 28,350
    assert pricing.cost(usage) == Decimal("0.02835")


def test_zero_tokens_cost_zero_and_floats_are_exact() -> None:
    pricing = Pricing(input=0.15, output=0.6)
    assert pricing.input == Decimal("0.15")
    assert pricing.cost(TokenUsage()) == 0


def test_negative_values_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Pricing(input=-1, output=1)
    with pytest.raises(ValidationError):
        TokenUsage(input_tokens=-5)


def test_usage_adds_up() -> None:
    total = TokenUsage(1, 2, 0, 1) + TokenUsage(3, 4, 2, 0)
    assert total == TokenUsage(4, 6, 2, 1)
    assert total.total_tokens == 10
