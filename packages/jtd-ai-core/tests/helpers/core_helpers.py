"""Test helpers for the core: echo-format bodies (scripted transports are in jtd_ai.testing)."""

from __future__ import annotations

import json
from typing import Any


def echo_reply(content: str = "hi", *, model: str = "echo-1", input_tokens: int = 3,
               output_tokens: int = 2, finish: str = "stop") -> dict[str, Any]:
    """A chat reply body in the echo wire format (written from echo.py's documented shape)."""
    return {"model": model, "content": content, "finish_reason": finish,
            "usage": {"input": input_tokens, "output": output_tokens}}


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode()
