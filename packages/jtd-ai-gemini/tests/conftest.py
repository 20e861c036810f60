"""Fixtures for the Gemini driver's tests: a scripted transport and wire-format builders.

Bodies are written here from Gemini's documented formats (ai.google.dev API reference);
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

KEY = "AIza.test-key.0123456789abcdefghijklm"


class Wire:
    """Builders for Gemini bodies."""

    @staticmethod
    def reply(*parts: dict[str, Any], finish: str | None = "STOP",
              usage: dict[str, Any] | None = None, model: str = "gemini-2.5-flash",
              response_id: str = "resp-1", **candidate: Any) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0,
                                **candidate}
        if finish is not None:
            cand["finishReason"] = finish
        body: dict[str, Any] = {"candidates": [cand], "modelVersion": model,
                                "responseId": response_id}
        if usage is not None:
            body["usageMetadata"] = usage
        return body

    @staticmethod
    def usage(prompt: int, candidates: int, thoughts: int = 0, cached: int = 0) -> dict[str, Any]:
        body = {"promptTokenCount": prompt, "candidatesTokenCount": candidates,
                "totalTokenCount": prompt + candidates + thoughts}
        if thoughts:
            body["thoughtsTokenCount"] = thoughts
        if cached:
            body["cachedContentTokenCount"] = cached
        return body

    @staticmethod
    def sse(*events: dict[str, Any], crlf: bool = True) -> bytes:
        end = "\r\n\r\n" if crlf else "\n\n"
        return "".join(f"data: {json.dumps(e)}{end}" for e in events).encode()

    @staticmethod
    def error(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"code": code, "message": message, "status": status}
        if details:
            body["details"] = list(details)
        return {"error": body}

    @staticmethod
    def ok(body: Any) -> httpx.Response:
        return httpx.Response(200, json=body)

    @staticmethod
    def stream(body: bytes) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


@pytest.fixture
def wire() -> type[Wire]:
    return Wire


@pytest.fixture
def gemini_ai() -> Iterator[Callable[..., tuple[AIManager, ScriptedTransport]]]:
    """``gemini_ai(*scripted, **provider_settings)``: a fresh manager whose ``gemini``
    provider talks to a ScriptedTransport; returns ``(manager, server)``."""
    managers: list[AIManager] = []

    def make(*items: Any, **settings: Any) -> tuple[AIManager, ScriptedTransport]:
        server = ScriptedTransport(*items)
        manager = AIManager(providers={"gemini": settings} if settings else None,
                            config_file=False, env={"GEMINI_API_KEY": KEY},
                            transports={"gemini": server})
        managers.append(manager)
        return manager, server

    yield make
    for manager in managers:
        manager.close()


@pytest.fixture
def gemini(gemini_ai: Callable[..., tuple[AIManager, ScriptedTransport]],
           ) -> Callable[..., tuple[Driver, ScriptedTransport]]:
    """``gemini(*scripted, **provider_settings)``: ``(driver, server)`` of a fresh manager."""

    def make(*items: Any, **settings: Any) -> tuple[Driver, ScriptedTransport]:
        manager, server = gemini_ai(*items, **settings)
        return manager.driver("gemini"), server

    return make


@pytest.fixture
def key() -> str:
    """The fake API key every test driver is configured with."""
    return KEY
