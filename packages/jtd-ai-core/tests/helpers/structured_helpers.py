"""What the structured-output test files share: the four drivers and two modes, a manager
with every installed driver pointed at the fake provider server (a store on disk, so each
attempt's ledger row can be read), a send in either mode, and the chat bodies sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import installed

from jtd_ai import AIManager, Response
from jtd_ai.testing import FakeProviderServer

KEY = "sk-structured-tests-0000000000000001"
MODELS = {"openai": "gpt-4o-mini", "xai": "grok-3-mini", "gemini": "gemini-2.5-flash",
          "ollama": "llama3.2:latest"}
DRIVERS = [pytest.param(name, marks=pytest.mark.skipif(
    not installed(name), reason=f"the {name} driver package (jtd-ai-{name}) is not installed"))
    for name in MODELS]
MODES = ["sync", "async"]


@pytest.fixture(name="manager")
def manager_fixture(fake_provider_server: FakeProviderServer,
                    tmp_path: Path) -> Iterator[AIManager]:
    providers = {name: {"base_url": fake_provider_server.base_url(name), "api_key": KEY,
                        "default_model": model, "retry_attempts": 1}
                 for name, model in MODELS.items() if installed(name)}
    with AIManager(providers=providers, config_file=False, env={},
                   store={"path": str(tmp_path / "jtd-ai.db")}) as made:
        yield made


def send(manager: AIManager, driver: str, mode: str, prompt: Any = "Paris",
         **options: Any) -> Response[Any]:
    chosen = manager.driver(driver)
    if mode == "sync":
        return chosen.send_message(prompt, **options)
    return asyncio.run(chosen.asend_message(prompt, **options))


def chat_bodies(server: FakeProviderServer) -> list[dict[str, Any]]:
    return [r.json() for r in server.requests
            if any(p in r.path for p in ("/chat/completions", "Content", "/api/chat"))]
