"""Fixtures for the core's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from core_helpers import stored_managers

from jtd_ai import AIManager


@pytest.fixture
def manager_with() -> Iterator[Callable[..., AIManager]]:
    """``manager_with(transport, **provider_settings)``: an isolated manager whose echo
    provider talks to ``transport``."""
    made: list[AIManager] = []

    def make(transport: httpx.BaseTransport | None = None, **settings: Any) -> AIManager:
        manager = AIManager(
            providers={"echo": settings}, default="echo", config_file=False, env={},
            transports={"echo": transport} if transport is not None else None,
        )
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close()


@pytest.fixture
def stored(tmp_path: Any) -> Iterator[Callable[..., AIManager]]:
    """``stored(transport=None, store=..., budget=..., pricing=..., providers=..., **echo)``:
    an isolated manager whose store is a fresh file under ``tmp_path`` (``jtd-ai.db``)."""
    yield from stored_managers({"path": str(tmp_path / "jtd-ai.db")})
