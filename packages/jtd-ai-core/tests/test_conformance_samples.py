"""The kit's samples state what they mean, and say so when they are written wrong; the kit's
own cost sums and price checks, against figures worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from jtd_ai import FinishReason, QuotaExceededError, TokenUsage
from jtd_ai.pricing import PriceTier, Pricing
from jtd_ai.testing import CannedResponse, WireSamples
from jtd_ai.testing.conformance import ERROR_KINDS, ExpectedCall, kit_cost, price_problems

CHAT = CannedResponse(200, {"text": "hi"})


def test_an_unknown_sample_key_lists_the_known_ones() -> None:
    with pytest.raises(TypeError) as info:
        CannedResponse(200, {}, contnet="hi")
    message = str(info.value)
    assert "'contnet'" in message
    for known in ("content", "finish_reason", "tool_calls", "usage", "cost", "error", "sent"):
        assert known in message


def test_an_unknown_sample_kind_lists_the_known_ones() -> None:
    with pytest.raises(TypeError) as info:
        WireSamples(chat=CHAT, streem=CHAT)
    assert "'streem'" in str(info.value) and "stream_error" in str(info.value)


def test_an_error_kind_of_ones_own_must_say_its_type() -> None:
    with pytest.raises(TypeError) as info:
        WireSamples(chat=CHAT, errors={"insufficient_balance": CannedResponse(402, {})})
    for kind in ERROR_KINDS:
        assert kind in str(info.value)
    samples = WireSamples(chat=CHAT, errors={
        "insufficient_balance": CannedResponse(402, {}, error=QuotaExceededError)})
    assert samples.errors["insufficient_balance"].error is QuotaExceededError


def test_a_finish_reason_sample_must_say_what_it_gives() -> None:
    with pytest.raises(TypeError, match="finish_reasons\\['length'\\]"):
        WireSamples(chat=CHAT, finish_reasons={"length": CannedResponse(200, {})})


def test_expectations_are_normalised() -> None:
    sample = CannedResponse(200, {}, finish_reason="length",
                            tool_calls=[ExpectedCall("f", '{"a":1}')], model_ids=["m"])
    assert sample.finish_reason is FinishReason.LENGTH
    assert sample.tool_calls == (ExpectedCall("f", '{"a":1}'),)
    assert sample.model_ids == ("m",)


def test_a_stream_is_told_by_its_content_type() -> None:
    assert CannedResponse(200, b"data: {}\n\n", {"Content-Type": "text/event-stream"}).is_stream
    assert CannedResponse(200, b"{}\n", {"content-type": "application/x-ndjson"}).is_stream
    assert not CannedResponse(200, {"a": 1}).is_stream
    assert CannedResponse(200, b"x", stream=True).is_stream


PRICE = Pricing(input="2.00", output="8.00", cached_input="0.50", cache_write="2.50",
                reasoning="10.00", source="test", as_of=dt.date(2026, 1, 1))


def test_kit_cost_by_hand() -> None:
    usage = TokenUsage(input_tokens=10_000, output_tokens=2_000, cached_input_tokens=4_000,
                       cache_write_tokens=1_000, reasoning_tokens=500)
    # 5,000 x 2 + 4,000 x 0.5 + 1,000 x 2.5 + 1,500 x 8 + 500 x 10
    # = 10,000 + 2,000 + 2,500 + 12,000 + 5,000 = 31,500 per million
    assert kit_cost(usage, PRICE) == Decimal("0.0315")


def test_kit_cost_bills_the_billed_counts() -> None:
    usage = TokenUsage(input_tokens=900, output_tokens=90, billed_input_tokens=800,
                       billed_output_tokens=80)
    # 800 x 2 + 80 x 8 = 1,600 + 640 = 2,240 per million
    assert kit_cost(usage, PRICE) == Decimal("0.00224")


def test_kit_cost_takes_the_tier_the_prompt_passes() -> None:
    tiered = Pricing(input="1.00", output="2.00", cached_input="0.10", source="t",
                     tiers=[PriceTier(100, input="3.00", output="4.00", cached_input="0.30")])
    # 200 input > 100: 150 x 3 + 50 x 0.3 + 10 x 4 = 450 + 15 + 40 = 505 per million
    assert kit_cost(TokenUsage(200, 10, cached_input_tokens=50), tiered) == Decimal("0.000505")
    # 100 input, not above: 100 x 1 + 10 x 2 = 120 per million
    assert kit_cost(TokenUsage(100, 10), tiered) == Decimal("0.00012")


def test_price_problems_find_floats_and_swapped_columns() -> None:
    assert price_problems(PRICE) == []
    floated = Pricing(input=Decimal(0.15), output="0.60", source="t")  # noqa: RUF032 (the defect)
    assert any("float" in p for p in price_problems(floated))
    swapped = Pricing(input="0.075", output="0.60", cached_input="0.15", source="t")
    assert any("swapped" in p for p in price_problems(swapped))
