"""Helpers of the wrapper-hook tests: managers of two providers on the fake provider server
(OpenAI's and Gemini's dialects), and one way to make a call in each of the four forms."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jtd_ai import AIManager, Response
from jtd_ai.plugins import plugin_listings
from jtd_ai.testing import FakeProviderServer

KEY = "sk-wrap-test-key-000000000042"
#: The four ways to make a chat call; every wrapper test runs in each.
MODES = ("send", "asend", "stream", "astream")
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


def call(manager: AIManager, mode: str, prompt: str = "hello there", *,
         provider: str | None = None, deltas: list[str] | None = None,
         **options: Any) -> Response:
    """One call in ``mode`` on ``provider``; a stream's chunk deltas go to ``deltas``."""
    driver = manager.driver(provider)
    got = deltas if deltas is not None else []
    if mode == "send":
        return driver.send_message(prompt, **options)
    if mode == "stream":
        with driver.stream(prompt, **options) as stream:
            for chunk in stream:
                got.append(chunk.delta)
        assert stream.response is not None
        return stream.response

    async def run() -> Response:
        try:
            if mode == "asend":
                return await driver.asend_message(prompt, **options)
            async with driver.astream(prompt, **options) as stream:
                async for chunk in stream:
                    got.append(chunk.delta)
            assert stream.response is not None
            return stream.response
        finally:
            for name in ("primary", "second"):
                await manager.driver(name).aclose()

    return asyncio.run(run())


def raises(function: Callable[[], Any], kind: type[BaseException]) -> BaseException:
    """The exception ``function()`` raised, checked to be a ``kind``."""
    try:
        function()
    except kind as error:
        return error
    raise AssertionError(f"expected {kind.__name__}")
