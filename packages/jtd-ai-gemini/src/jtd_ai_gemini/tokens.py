"""Counting a prompt's tokens before sending it (Gemini's ``countTokens``), sync and async.

    from jtd_ai import AI
    from jtd_ai_gemini import count_tokens

    count_tokens(AI.driver("gemini"), "How many tokens is this?")   # -> int

The call goes through the driver's transport (pooling, retries, typed errors); it costs
nothing and is not recorded as a chat call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jtd_ai.calls import CallInfo
from jtd_ai.errors import ConfigurationError
from jtd_ai.retry import RetryPolicy
from jtd_ai_gemini.protocol import GeminiProtocol

if TYPE_CHECKING:
    from jtd_ai.driver import Driver, Prompt
    from jtd_ai.request import ChatRequest

__all__ = ["acount_tokens", "count_tokens"]


def count_tokens(driver: Driver, prompt: Prompt | ChatRequest, *, model: str | None = None,
                 **options: Any) -> int:
    """The number of input tokens ``prompt`` would take on ``model``."""
    protocol, request, call = _prepare(driver, prompt, model, options)
    response = driver.transport.send(protocol.count_tokens_request(request), call,
                                     RetryPolicy.from_config(driver.config, request.timeout))
    return protocol.parse_count_tokens(response)


async def acount_tokens(driver: Driver, prompt: Prompt | ChatRequest, *,
                        model: str | None = None, **options: Any) -> int:
    """Async form of :func:`count_tokens`."""
    protocol, request, call = _prepare(driver, prompt, model, options)
    response = await driver.transport.asend(protocol.count_tokens_request(request), call,
                                            RetryPolicy.from_config(driver.config,
                                                                    request.timeout))
    return protocol.parse_count_tokens(response)


def _prepare(driver: Driver, prompt: Prompt | ChatRequest, model: str | None,
             options: dict[str, Any]) -> tuple[GeminiProtocol, ChatRequest, CallInfo]:
    protocol = driver.protocol
    if not isinstance(protocol, GeminiProtocol):
        raise ConfigurationError(
            f"count_tokens needs a gemini driver; provider {driver.provider!r} uses "
            f"{driver.get_name()!r}"
        )
    request = driver.build_request(prompt, model=model, **options)
    call = CallInfo(provider=driver.provider, driver=driver.get_name(),
                    operation="count_tokens", model=request.model, request=request)
    return protocol, request, call
