"""Anthropic's list prices per million tokens (source and date kept on each entry)."""

from __future__ import annotations

import datetime as dt

from jtd_ai import Pricing

AS_OF = dt.date(2025, 10, 15)
SOURCE = "anthropic.com/pricing (example table)"


def _price(inp: str, out: str, read: str, write: str) -> Pricing:
    return Pricing(input=inp, output=out, cached_input=read, cache_write=write, source=SOURCE,
                   as_of=AS_OF)


PRICES: dict[str, Pricing] = {
    "claude-opus-4-1": _price("15", "75", "1.50", "18.75"),
    "claude-sonnet-4-5": _price("3", "15", "0.30", "3.75"),
    "claude-haiku-4-5": _price("1", "5", "0.10", "1.25"),
}


def price_of(model: str) -> Pricing | None:
    """The price of ``model``; dated snapshots (``claude-haiku-4-5-20251001``) take their
    family's."""
    for name, pricing in PRICES.items():
        if model == name or model.startswith(name + "-"):
            return pricing
    return None
