"""xAI's priced model listing: models, capabilities, and prices that then price calls."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx

from jtd_ai import Capabilities, ModelKind, TokenUsage
from jtd_ai.testing import ScriptedTransport
from jtd_ai_openai.testing import completion, usage
from jtd_ai_xai.tables import XAI_MODELS, XAI_PRICES

# Written from xAI's documented LanguageModel: prices in US cents per 100M tokens.
LISTING = {"models": [
    {"id": "grok-3", "fingerprint": "fp_1", "created": 1743724800, "object": "model",
     "owned_by": "xai", "version": "1.0", "input_modalities": ["text"],
     "output_modalities": ["text"], "prompt_text_token_price": 40000,
     "cached_prompt_text_token_price": 10000, "prompt_image_token_price": 0,
     "completion_text_token_price": 160000, "search_price": 250000000,
     "aliases": ["grok-3-latest"]},
    {"id": "grok-9-preview", "created": 1800000000, "object": "model", "owned_by": "xai",
     "input_modalities": ["text", "image"], "output_modalities": ["text"],
     "prompt_text_token_price": 2000, "completion_text_token_price": 5000,
     "context_length": 1000000, "long_context_threshold": 200000,
     "prompt_text_token_price_long_context": 4000,
     "completion_text_token_price_long_context": 10000, "aliases": []},
    {"id": "grok-imagine", "created": 1800000000, "object": "model", "owned_by": "xai",
     "input_modalities": ["text"], "output_modalities": ["image"], "aliases": []},
]}
DATE = {"date": "Tue, 24 Nov 2026 08:00:00 GMT"}


def test_listing_reads_models_and_their_prices(xai_driver) -> None:
    transport = ScriptedTransport(httpx.Response(200, json=LISTING, headers=DATE))
    grok3, preview, imagine = xai_driver(transport).get_available_models()
    assert transport.requests[0].url.path == "/v1/language-models"
    assert (grok3.id, grok3.kind, grok3.context_length) == ("grok-3", ModelKind.CHAT, 131_072)
    assert grok3.capabilities.vision is False and grok3.capabilities.tools is True
    assert grok3.pricing is not None
    # 40000 cents per 100M tokens = $4.00 per million; 10000 -> $1.00; 160000 -> $16.00.
    assert (grok3.pricing.input, grok3.pricing.cached_input, grok3.pricing.output) == (
        Decimal("4"), Decimal("1"), Decimal("16"))
    assert grok3.pricing.source == "xai /language-models"
    assert grok3.pricing.as_of == dt.date(2026, 11, 24)
    assert grok3.created == dt.datetime(2025, 4, 4, tzinfo=dt.UTC)
    # A model no table knows: what the listing says, and nothing more.
    assert (preview.kind, preview.context_length) == (ModelKind.CHAT, 1_000_000)
    assert preview.capabilities == Capabilities(vision=True)
    assert preview.pricing is not None and preview.pricing.cached_input is None
    tier = preview.pricing.tiers[0]
    assert (tier.above_input_tokens, tier.input, tier.output) == (
        199_999, Decimal("0.4"), Decimal("1"))
    assert imagine.kind is ModelKind.IMAGE and imagine.pricing is None


async def test_listed_prices_price_later_calls(xai_driver, mode: str) -> None:
    body = completion("hi", model="grok-3-latest", usage=usage(1000, 100, cached=400,
                                                               reasoning=50, total=1150))
    transport = ScriptedTransport(httpx.Response(200, json=body),
                                  httpx.Response(200, json=LISTING, headers=DATE),
                                  httpx.Response(200, json=body))
    driver = xai_driver(transport)
    spent = TokenUsage(input_tokens=1000, output_tokens=150, cached_input_tokens=400,
                       reasoning_tokens=50)
    if mode == "sync":
        before = driver.send_message("hi")
        driver.get_available_models()
        after = driver.send_message("hi")
    else:
        before = await driver.asend_message("hi")
        await driver.aget_available_models()
        after = await driver.asend_message("hi")
    assert before.usage == after.usage == spent
    # The dated table's grok-3: 600 x $3 + 400 x $0.75 + 150 x $15 = 4350 -> $0.00435.
    assert before.cost == Decimal("0.00435")
    # The listing's grok-3 (alias grok-3-latest): 600 x $4 + 400 x $1 + 150 x $16 = 5200.
    assert after.cost == Decimal("0.0052")
    assert driver.calculate_cost(spent, "grok-3") == Decimal("0.0052")


def test_prices_long_prompts_at_the_listed_tier(xai_driver) -> None:
    driver = xai_driver(ScriptedTransport(httpx.Response(200, json=LISTING)))
    driver.get_available_models()
    long_prompt = TokenUsage(input_tokens=250_000, output_tokens=1_000)
    # Above 199,999 input tokens: 250,000 x $0.40 + 1,000 x $1.00 = 101,000 / 1e6.
    assert driver.calculate_cost(long_prompt, "grok-9-preview") == Decimal("0.101")
    # Listing without a Date header: the prices stay undated.
    assert driver.pricing("grok-9-preview").as_of is None


def test_minimal_listing_shape_is_read_too(xai_driver) -> None:
    minimal = {"data": [{"id": "grok-4-0709", "created": 1752019200, "object": "model",
                         "owned_by": "xai"}], "object": "list"}
    driver = xai_driver(ScriptedTransport(httpx.Response(200, json=minimal)))
    (model,) = driver.get_available_models()
    assert model.context_length == 256_000
    assert model.pricing is not None and model.pricing.source == XAI_PRICES.source


def test_tables_are_dated_and_consistent() -> None:
    assert XAI_MODELS.as_of == XAI_PRICES.as_of
    for model in XAI_MODELS.models:
        price = XAI_PRICES.get(model)
        assert price is not None, model
        assert price.output >= price.input > 0, model
    for alias, target in XAI_PRICES.aliases.items():
        assert target in XAI_PRICES.rows, alias
