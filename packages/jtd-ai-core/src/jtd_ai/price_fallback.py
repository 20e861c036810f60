"""Optional last pricing source: the ``genai-prices`` package (``jtd-ai-core[genai-prices]``).

Used only when ``[pricing] genai_prices = true`` and nothing earlier in the order (config
override, provider-published price, the driver's table) has a price. Its price for today is
turned into our :class:`~jtd_ai.pricing.Pricing` (per-key tiers become our tiers), so cost
is still computed by :func:`jtd_ai.pricing.cost_of` and carries ``source`` and ``as_of``.
Only drivers whose provider it knows are looked up, under that provider only: a model served
by a self-hosted OpenAI-compatible endpoint is never priced as OpenAI's by name guessing.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from jtd_ai.pricing import PriceTier, Pricing

__all__ = ["GENAI_PROVIDERS", "GenaiPrices", "pricing_from_model_price"]

log = logging.getLogger("jtd_ai.pricing")

#: Our driver names -> genai-prices provider ids.
GENAI_PROVIDERS = {"openai": "openai", "xai": "x-ai", "gemini": "google"}

_KEYS = {"input": "input_mtok", "output": "output_mtok", "cached_input": "cache_read_mtok"}


def _base(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(getattr(value, "base", value)))


def _at(value: Any, tokens: int) -> Decimal | None:
    """The rate of a flat or tiered genai-prices price for a prompt above ``tokens``."""
    if value is None:
        return None
    rate = _base(value)
    for tier in getattr(value, "tiers", ()):
        if tokens >= tier.start:
            rate = Decimal(str(tier.price))
    return rate


def pricing_from_model_price(price: Any, *, source: str, as_of: dt.date) -> Pricing | None:
    """Our Pricing for a genai-prices ``ModelPrice`` (None if it has no token prices)."""
    values = {ours: getattr(price, theirs, None) for ours, theirs in _KEYS.items()}
    if values["input"] is None or values["output"] is None:
        return None
    starts = sorted({tier.start for v in values.values() if v is not None
                     for tier in getattr(v, "tiers", ())})
    tiers = []
    for start in starts:
        # Both libraries apply a tier when the prompt has more than `start` tokens.
        rates = {k: _at(v, start) for k, v in values.items()}
        assert rates["input"] is not None and rates["output"] is not None
        tiers.append(PriceTier(start, input=rates["input"], output=rates["output"],
                               cached_input=rates["cached_input"]))
    write = getattr(price, "cache_write_mtok", None)
    base_input = _base(values["input"])
    base_output = _base(values["output"])
    assert base_input is not None and base_output is not None
    return Pricing(input=base_input, output=base_output,
                   cached_input=_base(values["cached_input"]), cache_write=_base(write),
                   tiers=tiers, source=source, as_of=as_of)


class GenaiPrices:
    """Looks prices up in genai-prices' bundled data; unknown models give None."""

    def __init__(self) -> None:
        import importlib

        # An ImportError here means the extra is not installed.
        package = importlib.import_module("genai_prices")
        self._snapshot: Any = importlib.import_module("genai_prices.data_snapshot")
        self.version = str(getattr(package, "__version__", "?"))

    def __call__(self, driver: str, model: str) -> Pricing | None:
        provider_id = GENAI_PROVIDERS.get(driver)
        if provider_id is None:
            return None
        now = dt.datetime.now(dt.UTC)
        try:
            _, info = self._snapshot.get_snapshot().find_provider_model(
                model, None, provider_id, None)
        except LookupError:
            return None
        return pricing_from_model_price(info.get_prices(now), as_of=now.date(),
                                        source=f"genai-prices {self.version}")
