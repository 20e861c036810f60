"""What the subclass changes: its name, base URL, key variable and prices."""

from __future__ import annotations

from decimal import Decimal

import httpx

from jtd_ai import AIManager, TokenUsage
from jtd_ai_openai.testing import completion, usage


def test_defaults_reach_the_wire_and_prices_apply() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion("ok", model="llama-3.3-70b-versatile",
                                                   usage=usage(1000, 500)))

    ai = AIManager(config_file=False, env={"GROQ_API_KEY": "groq-env-key-0001"},
                   transports={"groq": httpx.MockTransport(handler)})
    reply = ai.driver("groq").send_message("hi", model="llama-3.3-70b-versatile")
    assert str(seen[0].url) == "https://api.groq.com/openai/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer groq-env-key-0001"
    # 1,000 x $0.59 + 500 x $0.79 per million tokens
    assert reply.cost == (1000 * Decimal("0.59") + 500 * Decimal("0.79")) / 1_000_000
    assert reply.pricing is not None and reply.pricing.source.startswith("groq.com")
    assert ai.driver("groq").calculate_cost(TokenUsage(), "llama-3.1-8b-instant") == 0
