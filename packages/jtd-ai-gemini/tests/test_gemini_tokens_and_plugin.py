"""countTokens, and the driver as a plugin: discovery, lazy import, configuration."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from jtd_ai import AIManager, ConfigurationError, Message, Tool
from jtd_ai_gemini import acount_tokens, count_tokens


def test_count_tokens_sends_contents_only_for_a_plain_prompt(gemini, key) -> None:
    driver, server = gemini(httpx.Response(200, json={"totalTokens": 12}))
    assert count_tokens(driver, "The quick brown fox") == 12
    request = server.requests[0]
    assert request.url.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert request.headers["x-goog-api-key"] == key
    assert server.bodies[0] == {
        "contents": [{"role": "user", "parts": [{"text": "The quick brown fox"}]}]}


async def test_count_tokens_wraps_a_full_request(gemini) -> None:
    driver, server = gemini(httpx.Response(200, json={"totalTokens": 40}))
    tool = Tool("now", "The time")
    total = await acount_tokens(driver, [Message.system("Be kind."), Message.user("hi")],
                                model="gemini-2.5-pro", tools=[tool])
    assert total == 40
    assert server.bodies[0] == {"generateContentRequest": {
        "model": "models/gemini-2.5-pro",
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be kind."}]},
        "tools": [{"functionDeclarations": [{"name": "now", "description": "The time"}]}],
    }}
    await driver.aclose()


def test_count_tokens_refuses_other_drivers() -> None:
    manager = AIManager(config_file=False, env={})
    with pytest.raises(ConfigurationError, match="gemini driver"):
        count_tokens(manager.driver("echo"), "hi")


def test_driver_is_discovered_from_its_entry_point() -> None:
    listing = {d.name: d for d in AIManager(config_file=False, env={}).drivers()}
    assert listing["gemini"].distribution == "jtd-ai-gemini"
    assert listing["gemini"].target == "jtd_ai_gemini"


def test_loading_the_plugin_does_not_import_the_protocol() -> None:
    code = ("import sys, jtd_ai_gemini; from jtd_ai import AIManager; "
            "m = AIManager(config_file=False, env={}); m.registry.spec('gemini'); "
            "print(sorted(m for m in sys.modules if m.startswith('jtd_ai_gemini')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['jtd_ai_gemini']"  # the protocol, wire types and prices load on first use


def test_missing_key_is_a_configuration_error_naming_the_variable() -> None:
    manager = AIManager(config_file=False, env={})
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        manager.driver("gemini")


def test_another_key_variable_can_be_named(key) -> None:
    manager = AIManager(providers={"gemini": {"api_key_env": "GOOGLE_API_KEY"}},
                        config_file=False, env={"GOOGLE_API_KEY": key})
    driver = manager.driver("gemini")
    assert driver.protocol.auth_headers() == {"x-goog-api-key": key}
    assert driver.config.default_model == "gemini-2.5-flash"
    assert driver.config.base_url == "https://generativelanguage.googleapis.com/v1beta"
