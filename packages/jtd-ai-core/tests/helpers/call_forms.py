"""One chat call made in any of its four forms (send, async send, stream, async stream) the
way an application makes it, each stream chunk's delta kept: the wrapper-hook tests, the
fallback chains and the fault suite's harness all call through these."""

from __future__ import annotations

import asyncio
from typing import Any

from jtd_ai import AIManager, Driver, Response

#: The four ways to make a chat call.
MODES = ("send", "asend", "stream", "astream")


def send_or_stream(driver: Driver, prompt: str, deltas: list[str], *, streaming: bool,
                   **options: Any) -> Response:
    """``send_message``, or a ``stream`` read to its end (its deltas go to ``deltas``)."""
    if not streaming:
        return driver.send_message(prompt, **options)
    with driver.stream(prompt, **options) as stream:
        for chunk in stream:
            deltas.append(chunk.delta)
    assert stream.response is not None
    return stream.response


async def asend_or_astream(driver: Driver, prompt: str, deltas: list[str], *, streaming: bool,
                           **options: Any) -> Response:
    """The async form of :func:`send_or_stream`."""
    if not streaming:
        return await driver.asend_message(prompt, **options)
    async with driver.astream(prompt, **options) as stream:
        async for chunk in stream:
            deltas.append(chunk.delta)
    assert stream.response is not None
    return stream.response


def call(manager: AIManager, mode: str, prompt: str = "hello there", *,
         provider: str | None = None, deltas: list[str] | None = None,
         **options: Any) -> Response:
    """One call in ``mode`` (one of :data:`MODES`) on ``provider``; a stream's chunk deltas
    go to ``deltas``. An async call runs in its own event loop and closes every configured
    provider's driver before that loop ends (a fallback may have used any of them, and their
    connection pools belong to the loop)."""
    driver = manager.driver(provider)
    got = deltas if deltas is not None else []
    streaming = mode in ("stream", "astream")
    if mode in ("send", "stream"):
        return send_or_stream(driver, prompt, got, streaming=streaming, **options)

    async def run() -> Response:
        try:
            return await asend_or_astream(driver, prompt, got, streaming=streaming, **options)
        finally:
            for name in manager.settings.providers:
                await manager.driver(name).aclose()

    return asyncio.run(run())
