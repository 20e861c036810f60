"""Fixtures for the xAI driver's tests: drivers wired to in-process transports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from jtd_ai import AIManager, Driver

#: Shaped unlike any provider key, so only the Secret mechanism can keep it out of text.
KEY = "test-key-grok-PLAIN-51e0a9c2"


@pytest.fixture
def key() -> str:
    return KEY


@pytest.fixture
def xai_driver() -> Iterator[Callable[..., Driver]]:
    """``xai_driver(transport, **provider_settings)``: the ``xai`` provider of an isolated
    manager (key from XAI_API_KEY), talking to ``transport``."""
    managers: list[AIManager] = []

    def make(transport: httpx.BaseTransport, **settings: Any) -> Driver:
        manager = AIManager(
            providers={"xai": settings} if settings else None, config_file=False,
            env={"XAI_API_KEY": KEY}, transports={"xai": transport},
        )
        managers.append(manager)
        return manager.driver("xai")

    yield make
    for manager in managers:
        manager.close()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)
