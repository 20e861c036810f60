"""The xai driver over real HTTP against the project's fake provider server (loopback)."""

from __future__ import annotations

from decimal import Decimal

from jtd_ai import AIManager, TokenUsage
from jtd_ai.testing import FakeProviderServer


def test_chat_stream_listing_and_prices_over_http(
        fake_provider_server: FakeProviderServer) -> None:
    with AIManager(config_file=False, env={}, providers={"xai": {
            "base_url": fake_provider_server.base_url("xai"),
            "api_key": "test-key-fake-grok-01"}}) as manager:
        driver = manager.driver("xai")
        reply = driver.send_message("hola amigo", model="grok-3-mini")
        assert reply.content == "echo: hola amigo"
        assert reply.model == "grok-3-mini"  # xAI names the model as asked, undated
        stream = driver.stream("hola amigo", model="grok-3-mini")
        assert "".join(c.delta for c in stream) == reply.content
        assert stream.response is not None and stream.response.usage == reply.usage
        models = driver.get_available_models()
        assert fake_provider_server.requests[-1].path == "/v1/language-models"
        assert {m.id for m in models} >= {"grok-4", "grok-3-mini"}
        # The listing prices grok-3-mini at $3 / $0.75 cached / $15 per million, and those
        # prices now replace the table's: 1,000 x 3 + 1,000 x 15 per million.
        assert driver.calculate_cost(TokenUsage(1000, 1000), "grok-3-mini") == Decimal("0.018")
        assert driver.validate_credentials() is True
