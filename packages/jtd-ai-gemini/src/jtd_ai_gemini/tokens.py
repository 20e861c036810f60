"""Counting a prompt's tokens before sending it (Gemini's ``countTokens``), sync and async.

    from jtd_ai import AI
    from jtd_ai_gemini import count_tokens

    count_tokens(AI.driver("gemini"), "How many tokens is this?")   # -> int

The call goes through ``Driver.request`` (pooling, retries, typed errors, the failure
record); it costs nothing and is not recorded as a chat call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jtd_ai.errors import ConfigurationError
from jtd_ai_gemini.protocol import GeminiProtocol

if TYPE_CHECKING:
    from jtd_ai.driver import Driver, Prompt
    from jtd_ai.request import ChatRequest

__all__ = ["acount_tokens", "count_tokens"]


def count_tokens(driver: Driver, prompt: Prompt | ChatRequest, *, model: str | None = None,
                 **options: Any) -> int:
    """The number of input tokens ``prompt`` would take on ``model``."""
    protocol, request = _prepare(driver, prompt, model, options)
    response = driver.request(protocol.count_tokens_request(request), operation="count_tokens",
                              model=request.model, timeout=request.timeout)
    return protocol.parse_count_tokens(response)


async def acount_tokens(driver: Driver, prompt: Prompt | ChatRequest, *,
                        model: str | None = None, **options: Any) -> int:
    """Async form of :func:`count_tokens`."""
    protocol, request = _prepare(driver, prompt, model, options)
    response = await driver.arequest(protocol.count_tokens_request(request),
                                     operation="count_tokens", model=request.model,
                                     timeout=request.timeout)
    return protocol.parse_count_tokens(response)


def _prepare(driver: Driver, prompt: Prompt | ChatRequest, model: str | None,
             options: dict[str, Any]) -> tuple[GeminiProtocol, ChatRequest]:
    protocol = driver.protocol
    if not isinstance(protocol, GeminiProtocol):
        raise ConfigurationError(
            f"count_tokens needs a gemini driver; provider {driver.provider!r} uses "
            f"{driver.get_name()!r}"
        )
    return protocol, driver.build_request(prompt, model=model, **options)
