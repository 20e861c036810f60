"""Gemini prices in US dollars per million tokens (Standard tier, paid), dated.

Source: Google's price page https://ai.google.dev/gemini-api/docs/pricing, read on the date
below through public copies of it (deploybase.ai "Gemini API Pricing 2026"; morphllm.com
"Gemini API pricing"; glbgpt.com for 3.1 Pro's long-prompt rates). Entries whose only source
was morphllm.com say so in their ``source``. Rates are for text, image and video input
(audio input costs more on some models and is not modelled). Output includes thinking
tokens. ``cached_input`` is the context-caching read rate; cache storage per hour is not
a per-call cost and is left out.

Models that bill more above 200k prompt tokens carry a :class:`PriceTier`: when a prompt
has more than 200,000 tokens, every token of the call is billed at the higher rates.
Override any entry with a ``prices`` table in the provider's configuration.

Batch mode bills 50% of these rates (``batch_factor``; the Batch API guide,
ai.google.dev/gemini-api/docs/batch-api, read 2026-12-04).
"""

from __future__ import annotations

import datetime as dt
import re

from jtd_ai.pricing import PriceTier, Pricing

__all__ = ["AS_OF", "PRICES", "lookup"]

AS_OF = dt.date(2026, 11, 24)
_OFFICIAL = "ai.google.dev/gemini-api/docs/pricing"
_SECONDARY = "morphllm.com/gemini-api-pricing (quoting ai.google.dev)"
_LONG_PROMPT = 200_000
#: Batch mode's price as a fraction of the standard rates.
BATCH_FACTOR = "0.5"


def _flat(input: str, output: str, cached: str | None = None, *,
          source: str = _OFFICIAL) -> Pricing:
    return Pricing(input=input, output=output, cached_input=cached, source=source, as_of=AS_OF,
                   batch_factor=BATCH_FACTOR)


def _tiered(input: str, output: str, cached: str, long_input: str, long_output: str,
            long_cached: str) -> Pricing:
    tier = PriceTier(_LONG_PROMPT, input=long_input, output=long_output, cached_input=long_cached)
    return Pricing(input=input, output=output, cached_input=cached, tiers=(tier,),
                   source=_OFFICIAL, as_of=AS_OF, batch_factor=BATCH_FACTOR)


#: Base model names; dated, numbered and preview variants of each resolve to the same price.
PRICES: dict[str, Pricing] = {
    "gemini-3.1-pro": _tiered("2.00", "12.00", "0.20", "4.00", "18.00", "0.40"),
    "gemini-3-pro": _tiered("2.00", "12.00", "0.20", "4.00", "18.00", "0.40"),
    "gemini-3.5-flash": _flat("1.50", "9.00", source=_SECONDARY),
    "gemini-3-flash": _flat("0.50", "3.00", "0.05"),
    "gemini-3.1-flash-lite": _flat("0.25", "1.50", source=_SECONDARY),
    "gemini-2.5-pro": _tiered("1.25", "10.00", "0.125", "2.50", "15.00", "0.25"),
    "gemini-2.5-flash": _flat("0.30", "2.50", "0.03"),
    "gemini-2.5-flash-lite": _flat("0.10", "0.40", "0.01"),
    "gemini-2.0-flash": _flat("0.10", "0.40", "0.025"),
    "gemini-2.0-flash-lite": _flat("0.075", "0.30"),
}

# What may follow a base name and keep its price: -001, -latest, -preview, -preview-09-2025,
# -exp-03-25 ... but not -image, -tts, -native-audio, which are priced differently.
_VARIANT = re.compile(r"(-preview|-exp)?(-\d{2}-\d{2,4})?(-\d{3}|-latest)?")


def lookup(model: str) -> Pricing | None:
    """The price of ``model`` (``models/`` prefix allowed), or None if it is not in the table."""
    name = model.removeprefix("models/")
    for base in sorted(PRICES, key=len, reverse=True):
        if name == base or (name.startswith(base) and _VARIANT.fullmatch(name[len(base):])):
            return PRICES[base]
    return None
