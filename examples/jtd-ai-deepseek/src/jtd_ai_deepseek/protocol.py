"""DeepSeek: OpenAI's Chat Completions, with cache-hit billing, errors of its own and the
thinking a tool loop must send back (api-docs.deepseek.com)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from jtd_ai import Capabilities, Message, ModelNotFoundError, QuotaExceededError, TokenUsage
from jtd_ai_openai import ModelFacts, ModelTable, OpenAIProtocol, PriceTable, Usage

SOURCE, AS_OF = "api-docs.deepseek.com/quick_start/pricing", dt.date(2025, 9, 5)
MODELS = ("deepseek-chat", "deepseek-reasoner")
FACTS = ModelFacts(context_length=128_000, capabilities=Capabilities(
    streaming=True, tools=True, json_mode=True, system_prompt=True))


class DeepSeekProtocol(OpenAIProtocol):
    name = "deepseek"
    # USD per million tokens: input on a cache miss, input on a cache hit, output.
    price_table = PriceTable(SOURCE, AS_OF, rows=dict.fromkeys(MODELS, ("0.56", "0.07", "1.68")))
    model_table = ModelTable(SOURCE, AS_OF, models=dict.fromkeys(MODELS, FACTS))
    # 402 "Insufficient Balance" (topping up, not waiting, cures it); an unknown model is a 400.
    error_types = {402: QuotaExceededError, "Model Not Exist": ModelNotFoundError}

    def token_usage(self, usage: Usage, raw: Any = None) -> TokenUsage:
        counted = super().token_usage(usage, raw)
        hits = (raw or {}).get("prompt_cache_hit_tokens")  # the rest of the prompt missed
        return counted if hits is None else attrs.evolve(counted, cached_input_tokens=hits)

    def wire_message(self, message: Message, *, index: int) -> dict[str, Any]:
        wire = super().wire_message(message, index=index)
        if message.reasoning and message.tool_calls:  # thinking-mode tool loops need it back
            wire["reasoning_content"] = message.reasoning
        return wire
