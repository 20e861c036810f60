"""xAI model facts and prices (USD per million tokens), dated, for when no listing was read.

Source: xAI's "Models and Pricing" page (docs.x.ai/developers/models), read 2026-11-24 from
the stored copy, plus the archived 2025 pages for the older grok-3 and grok-2 models. The
grok-4-fast prices agree with the ``cost_in_usd_ticks`` xAI reports on its replies. Once
``get_available_models()`` has read ``/language-models``, its prices take precedence.
"""

from __future__ import annotations

import datetime as dt

from jtd_ai.modelinfo import Capabilities
from jtd_ai_openai.catalog import ModelFacts, ModelTable, PriceTable

__all__ = ["XAI_MODELS", "XAI_PRICES"]

_AS_OF = dt.date(2026, 11, 24)
_SOURCE = "docs.x.ai/developers/models"

#: Other names xAI accepts or answers with for a model in the tables.
_ALIASES = {
    "grok-4-fast": "grok-4-fast-reasoning",
    "grok-4-1-fast": "grok-4-1-fast-reasoning",
    "grok-4": "grok-4-0709",
    "grok-4-latest": "grok-4-0709",
    "grok-3-latest": "grok-3",
    "grok-3-mini-latest": "grok-3-mini",
    # grok-3-mini answers as grok-3-mini-high / -low when reasoning_effort is set.
    "grok-3-mini-high": "grok-3-mini",
    "grok-3-mini-low": "grok-3-mini",
    "grok-2-vision": "grok-2-vision-1212",
    "grok-2-vision-latest": "grok-2-vision-1212",
}


def _chat(context: int, *, reasoning: bool, vision: bool | None) -> ModelFacts:
    return ModelFacts(
        context_length=context,
        capabilities=Capabilities(streaming=True, tools=True, vision=vision, json_mode=True,
                                  structured_output=True, reasoning=reasoning,
                                  system_prompt=True),
    )


XAI_MODELS = ModelTable(
    source=_SOURCE, as_of=_AS_OF, aliases=_ALIASES,
    models={
        "grok-4.20-0309-reasoning": _chat(2_000_000, reasoning=True, vision=True),
        "grok-4.20-0309-non-reasoning": _chat(2_000_000, reasoning=False, vision=True),
        "grok-4-1-fast-reasoning": _chat(2_000_000, reasoning=True, vision=True),
        "grok-4-1-fast-non-reasoning": _chat(2_000_000, reasoning=False, vision=True),
        "grok-4-fast-reasoning": _chat(2_000_000, reasoning=True, vision=True),
        "grok-4-fast-non-reasoning": _chat(2_000_000, reasoning=False, vision=True),
        "grok-4-0709": _chat(256_000, reasoning=True, vision=None),
        "grok-code-fast-1": _chat(256_000, reasoning=True, vision=False),
        "grok-3": _chat(131_072, reasoning=False, vision=False),
        "grok-3-mini": _chat(131_072, reasoning=True, vision=False),
        "grok-2-vision-1212": _chat(32_768, reasoning=False, vision=True),
    },
)

XAI_PRICES = PriceTable(
    source=_SOURCE, as_of=_AS_OF, aliases=_ALIASES,
    rows={
        "grok-4.20-0309-reasoning": ("2.00", "0.20", "6.00"),
        "grok-4.20-0309-non-reasoning": ("2.00", "0.20", "6.00"),
        "grok-4-1-fast-reasoning": ("0.20", "0.05", "0.50"),
        "grok-4-1-fast-non-reasoning": ("0.20", "0.05", "0.50"),
        "grok-4-fast-reasoning": ("0.20", "0.05", "0.50"),
        "grok-4-fast-non-reasoning": ("0.20", "0.05", "0.50"),
        "grok-4-0709": ("3.00", "0.75", "15.00"),
        "grok-code-fast-1": ("0.20", "0.02", "1.50"),
        "grok-3": ("3.00", "0.75", "15.00"),
        "grok-3-mini": ("0.30", "0.075", "0.50"),
        "grok-2-vision-1212": ("2.00", None, "10.00"),
    },
)
