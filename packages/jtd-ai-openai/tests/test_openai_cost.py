"""Prices and cost: hand-computed figures for cached and reasoning tokens."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest

from jtd_ai import PricingUnknownError, TokenUsage
from jtd_ai.testing import ScriptedTransport
from jtd_ai_openai.model_table import OPENAI_MODELS
from jtd_ai_openai.price_table import OPENAI_PRICES


def test_cost_with_cached_and_reasoning_tokens(openai_driver) -> None:
    driver = openai_driver(ScriptedTransport())
    usage = TokenUsage(input_tokens=10_000, output_tokens=2_000, cached_input_tokens=4_000,
                       reasoning_tokens=1_500)
    # gpt-5: $1.25 input, $0.125 cached input, $10.00 output (reasoning is output).
    # 6,000 x 1.25 = 7,500; 4,000 x 0.125 = 500; 2,000 x 10 = 20,000 -> 28,000 / 1e6
    assert driver.calculate_cost(usage, "gpt-5") == Decimal("0.028")
    # gpt-4o-mini: $0.15, $0.075, $0.60: 900 + 300 + 1,200 = 2,400 / 1e6
    assert driver.calculate_cost(usage, "gpt-4o-mini-2024-07-18") == Decimal("0.0024")


def test_cost_above_the_long_prompt_tier(openai_driver) -> None:
    driver = openai_driver(ScriptedTransport())
    usage = TokenUsage(input_tokens=300_000, output_tokens=1_000, cached_input_tokens=100_000)
    # gpt-5.4 over 272K input tokens: $5.00 input, $0.50 cached, $22.50 output.
    # 200,000 x 5 = 1,000,000; 100,000 x 0.5 = 50,000; 1,000 x 22.5 = 22,500
    assert driver.calculate_cost(usage, "gpt-5.4") == Decimal("1.0725")


def test_cost_uses_the_default_model_and_config_overrides(openai_driver) -> None:
    driver = openai_driver(ScriptedTransport(), prices={"gpt-4o-mini": {"input": 1, "output": 2}})
    # 1,000 x $1 + 500 x $2 per million: the override has no cached rate, so cached input
    # is billed at the input rate.
    usage = TokenUsage(input_tokens=1_000, output_tokens=500, cached_input_tokens=200)
    assert driver.calculate_cost(usage) == Decimal("0.002")


def test_unknown_model_has_no_price(openai_driver) -> None:
    with pytest.raises(PricingUnknownError, match="gpt-99"):
        openai_driver(ScriptedTransport()).calculate_cost(TokenUsage(1, 1), "gpt-99")


def test_tables_are_dated_and_consistent() -> None:
    for table in (OPENAI_PRICES, OPENAI_MODELS):
        assert table.source and isinstance(table.as_of, dt.date)
    for model in OPENAI_PRICES.rows:
        price = OPENAI_PRICES.get(model)
        assert price is not None and price.as_of == OPENAI_PRICES.as_of
        assert price.output >= price.input > 0, model
        assert price.cached_input is None or price.cached_input < price.input, model
    for model, facts in OPENAI_MODELS.models.items():
        assert model in OPENAI_PRICES, model  # every described chat model has a price
        assert facts.context_length is None or facts.context_length > (
            facts.max_output_tokens or 0)


@pytest.mark.parametrize(("model", "found"), [
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("chatgpt-4o-latest", "gpt-4o"), ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-audio-preview", None), ("ft:gpt-4o-mini:acme::abc", None),
])
def test_lookups_strip_snapshots_and_guess_nothing(model: str, found: str | None) -> None:
    price = OPENAI_PRICES.get(model)
    expected = OPENAI_PRICES.get(found) if found else None
    assert price == expected


# -- cache writes (issue 16: prompt_tokens_details.cache_write_tokens was dropped) -----------

#: A documented usage object (CompletionUsage, prompt_tokens_details.cache_write_tokens):
#: 3,000 prompt tokens, of which 1,000 were read from the cache and 1,500 written to it.
CACHE_WRITE_USAGE = {
    "prompt_tokens": 3000, "completion_tokens": 100, "total_tokens": 3100,
    "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 1500,
                              "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
#: USD per million tokens, with a cache-write price set in the provider config.
CACHE_WRITE_PRICES = {"gpt-4o-mini": {"input": "1.00", "cached_input": "0.10",
                                      "cache_write": "1.25", "output": "4.00"}}
#: 500 plain x $1.00 = 500; 1,000 cached x $0.10 = 100; 1,500 written x $1.25 = 1,875;
#: 100 output x $4.00 = 400 -> 2,875 per million.
CACHE_WRITE_COST = Decimal("0.002875")


async def test_cache_write_tokens_are_read_and_billed_at_the_write_price(
        openai_driver, mode: str) -> None:
    from jtd_ai_openai.testing import completion

    body = completion("ok", model="gpt-4o-mini", usage=CACHE_WRITE_USAGE)
    driver = openai_driver(ScriptedTransport(httpx.Response(200, json=body)),
                           prices=CACHE_WRITE_PRICES)
    reply = (driver.send_message("hi") if mode == "sync" else await driver.asend_message("hi"))
    assert reply.usage == TokenUsage(input_tokens=3000, output_tokens=100,
                                     cached_input_tokens=1000, cache_write_tokens=1500)
    assert reply.cost == CACHE_WRITE_COST


async def test_cache_write_tokens_in_a_stream(openai_driver, mode: str) -> None:
    from jtd_ai_openai.testing import chunk, sse

    body = sse(chunk({"role": "assistant", "content": "ok"}, model="gpt-4o-mini"),
               chunk({}, finish_reason="stop", model="gpt-4o-mini"),
               chunk(usage=CACHE_WRITE_USAGE, choices=False, model="gpt-4o-mini"))
    reply_body = httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    driver = openai_driver(ScriptedTransport(reply_body), prices=CACHE_WRITE_PRICES)
    if mode == "sync":
        stream = driver.stream("hi")
        list(stream)
    else:
        stream = driver.astream("hi")
        [c async for c in stream]
    reply = stream.response
    assert reply is not None
    assert reply.usage is not None and reply.usage.cache_write_tokens == 1500
    assert reply.cost == CACHE_WRITE_COST


def test_a_price_table_row_with_a_cache_write_price() -> None:
    from jtd_ai_openai.catalog import Price, PriceTable

    table = PriceTable(source="test", as_of=dt.date(2026, 1, 1), rows={
        "m": Price(input="1.00", output="4.00", cached_input="0.10", cache_write="1.25")})
    pricing = table.get("m")
    assert pricing is not None and pricing.cache_write == Decimal("1.25")
    usage = TokenUsage(input_tokens=3000, output_tokens=100, cached_input_tokens=1000,
                       cache_write_tokens=1500)
    assert pricing.cost(usage) == CACHE_WRITE_COST


def test_a_price_table_refuses_float_prices() -> None:
    from jtd_ai_openai.catalog import PriceTable

    with pytest.raises(TypeError, match=r"'m'.*float.*'0\.15'"):
        PriceTable(source="test", as_of=dt.date(2026, 1, 1), rows={"m": (0.15, None, "0.60")})
