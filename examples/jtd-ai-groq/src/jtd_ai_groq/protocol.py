"""Groq speaks OpenAI's Chat Completions: only the name and the prices differ."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from jtd_ai import Capabilities
from jtd_ai_openai.catalog import ModelTable, PriceTable
from jtd_ai_openai.protocol import OpenAIProtocol

__all__ = ["GROQ_PRICES", "GroqProtocol"]

#: USD per million tokens (input, cached input, output); example table, check before use.
GROQ_PRICES = PriceTable(
    source="groq.com/pricing (example table)",
    as_of=dt.date(2025, 9, 1),
    rows={
        "llama-3.1-8b-instant": ("0.05", None, "0.08"),
        "llama-3.3-70b-versatile": ("0.59", None, "0.79"),
        "openai/gpt-oss-120b": ("0.15", None, "0.75"),
        "openai/gpt-oss-20b": ("0.10", None, "0.50"),
    },
)


class GroqProtocol(OpenAIProtocol):
    name: ClassVar[str] = "groq"
    price_table: ClassVar[PriceTable | None] = GROQ_PRICES
    model_table: ClassVar[ModelTable | None] = None  # no facts kept: models list as unknown

    def capabilities(self, model: str | None = None) -> Capabilities:
        # Every chat model in the price table takes tools and streams (Groq's model docs).
        if model is not None and model in GROQ_PRICES:
            return Capabilities(streaming=True, tools=True, system_prompt=True)
        return super().capabilities(model)
