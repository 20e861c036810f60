"""OpenAI's standard (not batch, flex or priority) text-token prices, USD per million tokens.

Source: OpenAI's pricing page (developers.openai.com/api/docs/pricing) and model pages,
as quoted by the stored copies read on 2026-11-24 (the gpt-5.4 model page itself;
api-evangelist's 2026-11-06 reading of the pricing page; tokenmix.ai 2026-06-04).
Columns: input, cached input (None: no cache discount published), output. The Batch API
bills half of these rates (``batch_factor``; OpenAI's pricing page and Batch guide,
platform.openai.com/docs/guides/batch, read 2026-12-04). Reasoning tokens
are output tokens and billed at the output rate. Override any price per provider with
``[providers.NAME.prices."model"]`` in the config.
"""

from __future__ import annotations

import datetime as dt

from jtd_ai_openai.catalog import PriceTable

__all__ = ["OPENAI_PRICES"]

OPENAI_PRICES = PriceTable(
    source="openai pricing page",
    as_of=dt.date(2026, 11, 24),
    rows={
        "gpt-4o-mini": ("0.15", "0.075", "0.60"),
        "gpt-4o": ("2.50", "1.25", "10.00"),
        "gpt-4.1": ("2.00", "0.50", "8.00"),
        "gpt-4.1-mini": ("0.40", "0.10", "1.60"),
        "gpt-4.1-nano": ("0.10", "0.025", "0.40"),
        "gpt-5": ("1.25", "0.125", "10.00"),
        "gpt-5-mini": ("0.25", "0.025", "2.00"),
        "gpt-5-nano": ("0.05", "0.005", "0.40"),
        "gpt-5.1": ("1.25", "0.125", "10.00"),
        "gpt-5.4": ("2.50", "0.25", "15.00"),
        "gpt-5.4-mini": ("0.75", "0.075", "4.50"),
        "gpt-5.4-nano": ("0.20", "0.02", "1.25"),
        "gpt-5.5": ("5.00", "0.50", "30.00"),
        "o1": ("15.00", "7.50", "60.00"),
        "o3": ("2.00", "0.50", "8.00"),
        "o3-mini": ("1.10", "0.55", "4.40"),
        "o4-mini": ("1.10", "0.275", "4.40"),
        "gpt-3.5-turbo": ("0.50", None, "1.50"),
    },
    aliases={"chatgpt-4o-latest": "gpt-4o"},
    # gpt-5.4: prompts over 272K input tokens are billed at 2x input and 1.5x output.
    tiers={"gpt-5.4": (272_000, "5.00", "0.50", "22.50")},
    batch_factor="0.5",
)
