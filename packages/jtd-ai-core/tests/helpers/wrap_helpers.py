"""Helpers of the wrapper-hook tests: managers of two providers on the fake provider server
(OpenAI's and Gemini's dialects); the calls in each of the four forms are in call_forms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jtd_ai import AIManager
from jtd_ai.plugins import plugin_listings
from jtd_ai.testing import FakeProviderServer

KEY = "sk-wrap-test-key-000000000042"
CHAT_PATHS = ("/chat/completions", ":generateContent", ":streamGenerateContent")


def installed_off() -> dict[str, dict[str, Any]]:
    """``[plugins]`` tables turning off every installed plugin (jtd-ai-otel, the test
    plugins): a test then sees only the plugins it registers itself."""
    return {p.name: {"enabled": False} for p in plugin_listings() if p.distribution}


def two_providers(server: FakeProviderServer, folder: Path, *,
                  plugins: dict[str, dict[str, Any]] | None = None,
                  **settings: Any) -> AIManager:
    """``primary`` (OpenAI's driver) and ``second`` (Gemini's), one attempt each, the usage
    ledger in ``folder``; ``settings`` go to both providers."""
    common = {"api_key": KEY, "retry_attempts": 1, "timeout": 10, **settings}
    providers = {
        "primary": {"driver": "openai", "base_url": server.base_url("openai"),
                    "default_model": "gpt-4o-mini", **common},
        "second": {"driver": "gemini", "base_url": server.base_url("gemini"),
                   "default_model": "gemini-2.5-flash", **common},
    }
    return AIManager(providers=providers, default="primary", config_file=False, env={},
                     store={"path": str(folder / "jtd-ai.db")},
                     plugins={**installed_off(), **(plugins or {})})


def chat_requests(server: FakeProviderServer) -> list[str]:
    """The paths of the chat requests the server received."""
    return [r.path for r in server.requests if r.method == "POST" and r.path.endswith(CHAT_PATHS)]


def raises(function: Callable[[], Any], kind: type[BaseException]) -> BaseException:
    """The exception ``function()`` raised, checked to be a ``kind``."""
    try:
        function()
    except kind as error:
        return error
    raise AssertionError(f"expected {kind.__name__}")
