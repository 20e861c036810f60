"""Ollama cost (zero locally, configurable when hosted) and the driver as a plugin."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from jtd_ai import AIManager, ConfigurationError, PricingUnknownError, TokenUsage
from jtd_ai_ollama import show_model


def test_local_cost_is_zero(ollama) -> None:
    driver, _ = ollama()
    assert driver.calculate_cost(TokenUsage(1_000_000, 1_000_000), "llama3.2") == 0


def test_configured_prices_for_a_hosted_server(ollama, wire) -> None:
    prices = {"gpt-oss:120b": {"input": "0.15", "output": "0.60"}}
    driver, _ = ollama(wire.ok(wire.final("hi", prompt=2_000, output=500, model="gpt-oss:120b")),
                       base_url="https://ollama.com", prices=prices)
    # 2000 * 0.15 + 500 * 0.60 = 300 + 300 = 600 per million
    assert driver.send_message("hi", model="gpt-oss:120b").cost == Decimal("0.0006")
    with pytest.raises(PricingUnknownError):
        driver.calculate_cost(TokenUsage(1, 1), "some-other:model")


def test_driver_is_discovered_and_needs_no_key() -> None:
    manager = AIManager(config_file=False, env={})
    listing = {d.name: d for d in manager.drivers()}
    assert listing["ollama"].distribution == "jtd-ai-ollama"
    driver = manager.driver("ollama")
    assert driver.config.base_url == "http://localhost:11434"
    assert driver.protocol.auth_headers() == {}


def test_loading_the_plugin_does_not_import_the_protocol() -> None:
    code = ("import sys, jtd_ai_ollama; from jtd_ai import AIManager; "
            "m = AIManager(config_file=False, env={}); m.registry.spec('ollama'); "
            "print(sorted(m for m in sys.modules if m.startswith('jtd_ai_ollama')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['jtd_ai_ollama']"  # the protocol, wire types and prices load on first use


def test_helpers_refuse_other_drivers() -> None:
    manager = AIManager(config_file=False, env={})
    with pytest.raises(ConfigurationError, match="ollama driver"):
        show_model(manager.driver("echo"), "x")
