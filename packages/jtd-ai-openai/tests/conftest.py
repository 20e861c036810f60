"""Fixtures for the OpenAI driver's tests: drivers wired to in-process transports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from jtd_ai import AIManager, Driver, ProviderConfig
from jtd_ai_openai.protocol import OpenAIProtocol

#: Shaped unlike any provider key, so only the Secret mechanism can keep it out of text.
KEY = "test-key-0penai-PLAIN-9f3b2c71d4"


@pytest.fixture
def key() -> str:
    return KEY


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Each test taking ``mode`` runs twice: ``"sync"`` and ``"async"``."""
    return str(request.param)


@pytest.fixture
def openai_driver() -> Iterator[Callable[..., Driver]]:
    """``openai_driver(transport, **provider_settings)``: the ``openai`` provider of an
    isolated manager (key from the environment), talking to ``transport``."""
    managers: list[AIManager] = []

    def make(transport: httpx.BaseTransport, **settings: Any) -> Driver:
        manager = AIManager(
            providers={"openai": settings} if settings else None, config_file=False,
            env={"OPENAI_API_KEY": KEY}, transports={"openai": transport},
        )
        managers.append(manager)
        return manager.driver("openai")

    yield make
    for manager in managers:
        manager.close()


@pytest.fixture
def protocol() -> Callable[..., OpenAIProtocol]:
    """``protocol(**options)``: a bare OpenAIProtocol for request-building tests."""

    def make(**options: Any) -> OpenAIProtocol:
        config = ProviderConfig(name="openai", driver="openai", api_key=KEY,
                                api_key_env="OPENAI_API_KEY",
                                base_url="https://api.openai.com/v1", options=options)
        return OpenAIProtocol(config)

    return make
