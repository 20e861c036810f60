"""Gemini cost: figures computed by hand from the dated price table (per million tokens).

gemini-2.5-flash: input 0.30, cached input 0.03, output 2.50 (thinking billed as output).
gemini-2.5-pro: input 1.25 / output 10.00 / cached 0.125 up to 200,000 prompt tokens;
2.50 / 15.00 / 0.25 for the whole call above that.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from jtd_ai import PricingUnknownError, TokenUsage


def test_flash_with_cache_and_thinking(gemini) -> None:
    driver, _ = gemini()
    usage = TokenUsage(input_tokens=1000, output_tokens=500, cached_input_tokens=200,
                       reasoning_tokens=300)
    # 800 * 0.30 + 200 * 0.03 + 500 * 2.50 = 240 + 6 + 1250 = 1496 per million
    assert driver.calculate_cost(usage, "gemini-2.5-flash") == Decimal("0.001496")


def test_pro_at_and_above_the_200k_threshold(gemini) -> None:
    driver, _ = gemini()
    at = TokenUsage(input_tokens=200_000, output_tokens=1_000, reasoning_tokens=400)
    above = TokenUsage(input_tokens=250_000, output_tokens=1_000, reasoning_tokens=400)
    cached_above = TokenUsage(input_tokens=300_000, output_tokens=2_000,
                              cached_input_tokens=100_000)
    # 200000 * 1.25 + 1000 * 10 = 260000 per million
    assert driver.calculate_cost(at, "gemini-2.5-pro") == Decimal("0.26")
    # 250000 * 2.50 + 1000 * 15 = 640000 per million
    assert driver.calculate_cost(above, "gemini-2.5-pro") == Decimal("0.64")
    # 200000 * 2.50 + 100000 * 0.25 + 2000 * 15 = 500000 + 25000 + 30000 = 555000
    assert driver.calculate_cost(cached_above, "gemini-2.5-pro") == Decimal("0.555")


def test_gemini_3_pro_long_prompt_tier(gemini) -> None:
    driver, _ = gemini()
    usage = TokenUsage(input_tokens=400_000, output_tokens=10_000, reasoning_tokens=8_000)
    # 400000 * 4.00 + 10000 * 18.00 = 1600000 + 180000 = 1780000 per million
    assert driver.calculate_cost(usage, "gemini-3-pro-preview") == Decimal("1.78")


def test_a_call_reports_its_cost(gemini, wire) -> None:
    body = wire.reply({"text": "Olá!"}, usage=wire.usage(11, 2, thoughts=24))
    driver, _ = gemini(wire.ok(body))
    reply = driver.send_message("hi")
    # 11 * 0.30 + (2 + 24) * 2.50 = 3.3 + 65 = 68.3 per million
    assert reply.cost == Decimal("0.0000683")
    assert reply.pricing is not None and reply.pricing.as_of == dt.date(2026, 11, 24)
    assert "ai.google.dev" in reply.pricing.source


@pytest.mark.parametrize(("model", "same_as"), [
    ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
    ("models/gemini-2.0-flash-001", "gemini-2.0-flash"),
    ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
    ("gemini-3-flash-preview", "gemini-3-flash"),
])
def test_variants_resolve_to_their_base_price(gemini, model, same_as) -> None:
    driver, _ = gemini()
    assert driver.pricing(model) == driver.pricing(same_as)
    assert driver.pricing(model) is not None


def test_lite_is_not_priced_as_flash(gemini) -> None:
    driver, _ = gemini()
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert driver.calculate_cost(usage, "gemini-2.5-flash-lite") == Decimal("0.50")
    assert driver.calculate_cost(usage, "gemini-2.5-flash") == Decimal("2.80")


@pytest.mark.parametrize("model", ["gemini-2.5-flash-image", "gemini-2.5-flash-preview-tts",
                                   "gemini-embedding-001", "gemma-3-27b-it"])
def test_differently_priced_or_unknown_models_have_no_price(gemini, model) -> None:
    driver, _ = gemini()
    with pytest.raises(PricingUnknownError):
        driver.calculate_cost(TokenUsage(10, 10), model)


def test_configured_prices_win(gemini) -> None:
    driver, _ = gemini(prices={"gemini-2.5-flash": {"input": "1", "output": "2"}})
    assert driver.calculate_cost(TokenUsage(1_000_000, 500_000), "gemini-2.5-flash") == 2
