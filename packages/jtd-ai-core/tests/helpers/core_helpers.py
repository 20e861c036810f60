"""Test helpers for the core: a scripted transport and echo-format bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx


def echo_reply(content: str = "hi", *, model: str = "echo-1", input_tokens: int = 3,
               output_tokens: int = 2, finish: str = "stop") -> dict[str, Any]:
    """A chat reply body in the echo wire format (written from echo.py's documented shape)."""
    return {"model": model, "content": content, "finish_reason": finish,
            "usage": {"input": input_tokens, "output": output_tokens}}


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode()


class Scripted(httpx.MockTransport):
    """Answers each request with the next scripted item (a Response, or an exception to
    raise, or a callable taking the request); records every request it saw."""

    def __init__(self, *items: Any) -> None:
        self.items = list(items)
        self.seen: list[httpx.Request] = []
        super().__init__(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if not self.items:
            raise AssertionError(f"unscripted request {request.method} {request.url}")
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            return item(request)  # type: ignore[no-any-return]
        return item  # type: ignore[no-any-return]

    @property
    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.seen]


class BrokenStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that yields ``parts`` and then fails like a reset connection."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = parts

    def __iter__(self) -> Iterator[bytes]:
        yield from self.parts
        raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> Any:
        for part in self.parts:
            yield part
        raise httpx.ReadError("connection reset by peer")


