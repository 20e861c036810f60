"""Where a price comes from, in order: config override, provider-published, driver table,
genai-prices (opt-in); every cost says its source and date."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from core_helpers import echo_reply

import jtd_ai.price_fallback as price_fallback
from jtd_ai import AIManager, ModelInfo, ModelKind, Pricing, TokenUsage
from jtd_ai.echo import EchoProtocol
from jtd_ai.protocol import ModelPage
from jtd_ai.provider_catalog import is_published
from jtd_ai.testing import ScriptedTransport
from jtd_ai.wire import HttpResponse

TABLE_DATE = dt.date(2026, 11, 24)


class Publishing(EchoProtocol):
    """Echo, except its model listing publishes prices (as xAI's does)."""

    name = "pub"

    def parse_models(self, response: HttpResponse) -> ModelPage:
        data = response.json(provider=self.provider)
        return ModelPage(tuple(
            ModelInfo(m["id"], self.provider, kind=ModelKind.CHAT, pricing=Pricing(
                input=m["in"], output=m["out"], source=m.get("source", "pub listing"),
                as_of=dt.date.fromisoformat(m["as_of"])) if "in" in m else None)
            for m in data["data"]))

    def pricing(self, model: str) -> Pricing | None:
        if model == "untabled":
            return None
        return Pricing(input=1, output=2, source="pub table", as_of=TABLE_DATE)


def make(tmp_path, transport: httpx.BaseTransport, **settings: Any) -> AIManager:
    store = settings.pop("store", {})
    pricing = settings.pop("pricing_table", None)  # a top-level table, not a provider key
    manager = AIManager(providers={"pub": {"driver": "pub", "base_url": "http://pub.invalid",
                                           "default_model": "m1", **settings}},
                        default="pub", config_file=False, env={},
                        transports={"pub": transport},
                        store={"path": str(tmp_path / "db"), **store},
                        pricing=pricing)
    manager.extend("pub", Publishing)
    return manager


PUBLISHED = httpx.Response(200, json={"data": [
    {"id": "m1", "in": "3", "out": "6", "as_of": "2026-11-20"},
    {"id": "untabled", "in": "5", "out": "5", "as_of": "2026-11-20"},
]})
USAGE_BODY = echo_reply("ok", model="m1", input_tokens=1_000_000, output_tokens=500_000)


def test_the_driver_table_when_nothing_else_is_known(tmp_path) -> None:
    with make(tmp_path, ScriptedTransport(httpx.Response(200, json=USAGE_BODY))) as ai:
        reply = ai.driver().send_message("hi")
    # 1,000,000 x $1 + 500,000 x $2 per million = 1 + 1
    assert reply.cost == Decimal(2)
    assert reply.pricing is not None
    assert (reply.pricing.source, reply.pricing.as_of) == ("pub table", TABLE_DATE)


def test_a_published_price_beats_the_table(tmp_path) -> None:
    transport = ScriptedTransport(PUBLISHED, httpx.Response(200, json=USAGE_BODY))
    with make(tmp_path, transport) as ai:
        assert ai.sync_models(["pub"]).ok
        reply = ai.driver().send_message("hi")
    # 1,000,000 x $3 + 500,000 x $6 per million = 3 + 3
    assert reply.cost == Decimal(6)
    assert reply.pricing is not None
    assert (reply.pricing.source, reply.pricing.as_of) == ("pub listing",
                                                           dt.date(2026, 11, 20))


def test_published_prices_persist_for_the_next_process(tmp_path) -> None:
    with make(tmp_path, ScriptedTransport(PUBLISHED)) as ai:
        ai.sync_models(["pub"])
    with make(tmp_path, ScriptedTransport(httpx.Response(200, json=USAGE_BODY))) as fresh:
        assert fresh.driver().send_message("hi").cost == Decimal(6)


def test_a_config_override_beats_everything(tmp_path) -> None:
    prices = {"m1": {"input": "0.5", "output": "1", "as_of": "2026-11-01"}}
    transport = ScriptedTransport(PUBLISHED, httpx.Response(200, json=USAGE_BODY))
    with make(tmp_path, transport, prices=prices) as ai:
        ai.sync_models(["pub"])
        reply = ai.driver().send_message("hi")
    # 1,000,000 x $0.5 + 500,000 x $1 per million = 0.5 + 0.5
    assert reply.cost == Decimal(1)
    assert reply.pricing is not None
    assert (reply.pricing.source, reply.pricing.as_of) == ("config", dt.date(2026, 11, 1))


def test_the_tables_own_price_echoed_in_a_listing_does_not_shadow_a_newer_table(
        tmp_path) -> None:
    # A listing that only repeats an older copy of the driver's table (same source).
    stale = httpx.Response(200, json={"data": [
        {"id": "m1", "in": "9", "out": "9", "source": "pub table", "as_of": "2026-01-01"}]})
    transport = ScriptedTransport(stale, httpx.Response(200, json=USAGE_BODY))
    with make(tmp_path, transport) as ai:
        ai.sync_models(["pub"])
        assert ai.driver().send_message("hi").cost == Decimal(2)


def test_is_published_rule() -> None:
    table = Pricing(input=1, output=1, source="t", as_of=dt.date(2026, 6, 1))
    assert is_published(Pricing(input=1, output=1, source="listing"), table)
    assert is_published(Pricing(input=1, output=1, source="t"), None)
    assert not is_published(Pricing(input=1, output=1, source="t", as_of=dt.date(2026, 6, 1)),
                            table)
    assert is_published(Pricing(input=1, output=1, source="t", as_of=dt.date(2026, 7, 1)),
                        table)
    assert not is_published(Pricing(input=1, output=1, source="t"), table)


def test_published_price_for_a_model_missing_from_the_table(tmp_path) -> None:
    body = echo_reply("ok", model="untabled", input_tokens=2_000_000, output_tokens=0)
    transport = ScriptedTransport(PUBLISHED, httpx.Response(200, json=body))
    with make(tmp_path, transport) as ai:
        ai.sync_models(["pub"])
        assert ai.driver().send_message("hi", model="untabled").cost == Decimal(10)


class FakeGenai:
    """Stands in for the genai-prices lookup (the real one is tested when installed)."""

    calls: list[tuple[str, str]] = []

    def __call__(self, driver: str, model: str) -> Pricing | None:
        self.calls.append((driver, model))
        return Pricing(input=7, output=7, source="genai-prices test", as_of=TABLE_DATE)


def test_genai_prices_is_the_last_resort_and_only_when_asked(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(price_fallback, "GenaiPrices", FakeGenai)
    FakeGenai.calls = []
    body = echo_reply("ok", model="untabled", input_tokens=1_000_000, output_tokens=0)
    off = make(tmp_path, ScriptedTransport(httpx.Response(200, json=body)))
    assert off.driver().send_message("hi", model="untabled").cost is None
    off.close()
    on = make(tmp_path, ScriptedTransport(httpx.Response(200, json=body),
                                          httpx.Response(200, json=USAGE_BODY)),
              pricing_table={"genai_prices": True})
    reply = on.driver().send_message("hi", model="untabled")
    assert reply.cost == Decimal(7)
    assert reply.pricing is not None and reply.pricing.source == "genai-prices test"
    # A model the table prices never reaches genai-prices.
    assert on.driver().send_message("hi").cost == Decimal(2)
    assert FakeGenai.calls == [("pub", "untabled")]
    on.close()


def test_genai_prices_missing_is_a_warning_not_a_failure(tmp_path, monkeypatch,
                                                          caplog) -> None:
    def missing() -> None:
        raise ImportError("No module named 'genai_prices'")

    monkeypatch.setattr(price_fallback, "GenaiPrices", missing)
    body = echo_reply("ok", model="untabled")
    with make(tmp_path, ScriptedTransport(httpx.Response(200, json=body)),
              pricing_table={"genai_prices": True}) as ai:
        assert ai.driver().send_message("hi", model="untabled").cost is None
    assert any("jtd-ai-core[genai-prices]" in r.getMessage() for r in caplog.records)


def _tiered(base: str, *tiers: tuple[int, str]) -> SimpleNamespace:
    return SimpleNamespace(base=Decimal(base), tiers=[SimpleNamespace(start=s, price=Decimal(p))
                                                      for s, p in tiers])


def test_a_genai_prices_model_price_maps_to_our_pricing() -> None:
    price = SimpleNamespace(
        input_mtok=_tiered("1.25", (200_000, "2.5")),
        output_mtok=_tiered("10", (200_000, "15")),
        cache_read_mtok=_tiered("0.125", (200_000, "0.25")),
        cache_write_mtok=None,
    )
    pricing = price_fallback.pricing_from_model_price(price, source="g", as_of=TABLE_DATE)
    assert pricing is not None
    assert (pricing.input, pricing.output, pricing.cached_input) == (
        Decimal("1.25"), Decimal(10), Decimal("0.125"))
    assert len(pricing.tiers) == 1
    tier = pricing.tiers[0]
    assert (tier.above_input_tokens, tier.input, tier.output, tier.cached_input) == (
        200_000, Decimal("2.5"), Decimal(15), Decimal("0.25"))
    # Above the tier every token is billed at its rates (genai-prices' "cliff" model too):
    # 250,000 x 2.5 + 1,000 x 15 = 625,000 + 15,000 per million
    assert pricing.cost(TokenUsage(250_000, 1_000)) == Decimal("0.64")
    flat = SimpleNamespace(input_mtok=Decimal("0.15"), output_mtok=Decimal("0.6"),
                           cache_read_mtok=None, cache_write_mtok=Decimal("0.3"))
    mapped = price_fallback.pricing_from_model_price(flat, source="g", as_of=TABLE_DATE)
    assert mapped is not None and mapped.tiers == () and mapped.cache_write == Decimal("0.3")
    assert price_fallback.pricing_from_model_price(
        SimpleNamespace(input_mtok=None, output_mtok=None), source="g", as_of=TABLE_DATE) is None


def test_the_real_genai_prices_when_installed() -> None:
    pytest.importorskip("genai_prices")
    lookup = price_fallback.GenaiPrices()
    gpt = lookup("openai", "gpt-4o-mini")
    assert gpt is not None and gpt.source.startswith("genai-prices")
    assert gpt.input > 0 and gpt.output > gpt.input
    gemini = lookup("gemini", "gemini-2.5-pro")
    assert gemini is not None and gemini.tiers
    assert lookup("ollama", "llama3.2") is None  # self-hosted: never guessed
    assert lookup("openai", "no-such-model-xyz") is None
