"""Test helpers for the core: echo-format bodies (scripted transports are in jtd_ai.testing),
and the managers of the ``stored`` fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from jtd_ai import AIManager


def echo_reply(content: str = "hi", *, model: str = "echo-1", input_tokens: int = 3,
               output_tokens: int = 2, finish: str = "stop") -> dict[str, Any]:
    """A chat reply body in the echo wire format (written from echo.py's documented shape)."""
    return {"model": model, "content": content, "finish_reason": finish,
            "usage": {"input": input_tokens, "output": output_tokens}}


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode()


def stored_managers(base_store: dict[str, Any]) -> Iterator[Callable[..., AIManager]]:
    """The ``stored`` fixtures' body (conftest.py's on a SQLite file, pg_cluster's on each
    engine): yields ``make(transport=None, store=..., budget=..., pricing=...,
    providers=..., transports=..., **echo)``, which builds an isolated manager whose store
    settings are ``base_store`` updated by ``store``; closes each one made at the end."""
    made: list[AIManager] = []

    def make(transport: httpx.BaseTransport | None = None, *,
             store: dict[str, Any] | None = None, budget: dict[str, Any] | None = None,
             pricing: dict[str, Any] | None = None,
             providers: dict[str, dict[str, Any]] | None = None,
             transports: dict[str, httpx.BaseTransport] | None = None,
             **settings: Any) -> AIManager:
        manager = AIManager(
            providers=providers or {"echo": settings}, default="echo", config_file=False,
            env={}, transports=transports or ({"echo": transport} if transport else None),
            store={**base_store, **(store or {})}, budget=budget, pricing=pricing,
        )
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close()
