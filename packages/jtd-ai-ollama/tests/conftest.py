"""Fixtures for the Ollama driver's tests: a scripted transport and wire-format builders.

Bodies are written here from Ollama's documented formats (docs/api.md, api/types.go);
recorded captures are only used by test_replay_captures.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from jtd_ai import AIManager
from jtd_ai.driver import Driver
from jtd_ai.testing import ScriptedTransport


class Wire:
    """Builders for Ollama bodies."""

    @staticmethod
    def line(content: str = "", *, model: str = "llama3.2", done: bool = False,
             tool_calls: list[dict[str, Any]] | None = None, thinking: str | None = None,
             **fields: Any) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls is not None:
            message["tool_calls"] = tool_calls
        if thinking is not None:
            message["thinking"] = thinking
        return {"model": model, "created_at": "2026-11-24T10:00:00.123456789Z",
                "message": message, "done": done, **fields}

    @staticmethod
    def final(content: str = "", *, prompt: int = 26, output: int = 298,
              reason: str | None = "stop", **fields: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {"total_duration": 5191566416, "load_duration": 2154458,
                                 "prompt_eval_count": prompt, "prompt_eval_duration": 383809000,
                                 "eval_count": output, "eval_duration": 4799921000}
        if reason is not None:
            extra["done_reason"] = reason
        return Wire.line(content, done=True, **extra, **fields)

    @staticmethod
    def ndjson(*lines: dict[str, Any]) -> bytes:
        return "".join(json.dumps(line) + "\n" for line in lines).encode()

    @staticmethod
    def ok(body: Any) -> httpx.Response:
        return httpx.Response(200, json=body)

    @staticmethod
    def stream(body: bytes) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})


@pytest.fixture
def wire() -> type[Wire]:
    return Wire


@pytest.fixture
def ollama_ai() -> Iterator[Callable[..., tuple[AIManager, ScriptedTransport]]]:
    """``ollama_ai(*scripted, env=None, **provider_settings)``: a fresh manager whose
    ``ollama`` provider talks to a ScriptedTransport; returns ``(manager, server)``."""
    managers: list[AIManager] = []

    def make(*items: Any, env: dict[str, str] | None = None,
             **settings: Any) -> tuple[AIManager, ScriptedTransport]:
        server = ScriptedTransport(*items)
        settings.setdefault("default_model", "llama3.2")
        manager = AIManager(providers={"ollama": settings}, config_file=False,
                            env=env or {}, transports={"ollama": server})
        managers.append(manager)
        return manager, server

    yield make
    for manager in managers:
        manager.close()


@pytest.fixture
def ollama(ollama_ai: Callable[..., tuple[AIManager, ScriptedTransport]],
           ) -> Callable[..., tuple[Driver, ScriptedTransport]]:
    """``ollama(*scripted, **provider_settings)``: ``(driver, server)`` of a fresh manager."""

    def make(*items: Any, **settings: Any) -> tuple[Driver, ScriptedTransport]:
        manager, server = ollama_ai(*items, **settings)
        return manager.driver("ollama"), server

    return make
