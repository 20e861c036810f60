"""Model details beyond the listing, on request: capabilities, context length, what is
loaded, and the server's version. Sync and async.

``driver.get_available_models()`` makes one ``/api/tags`` call and leaves unknown what tags
does not say (capabilities on older servers, context length). These helpers ask more:

    from jtd_ai import AI
    from jtd_ai_ollama import detailed_models, show_model

    show_model(AI.driver("ollama"), "llama3.2")   # ModelInfo with tools/vision/thinking
    detailed_models(AI.driver("ollama"))          # tags + one /api/show per model

They go through ``Driver.request`` (pooling, retries, typed errors, the failure record)
and are not recorded as chat calls.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from jtd_ai.errors import ConfigurationError
from jtd_ai_ollama.models import merge_details
from jtd_ai_ollama.protocol import OllamaProtocol

if TYPE_CHECKING:
    from jtd_ai.driver import Driver
    from jtd_ai.modelinfo import ModelInfo
    from jtd_ai.wire import HttpRequest, HttpResponse

__all__ = [
    "adetailed_models",
    "arunning_models",
    "aserver_version",
    "ashow_model",
    "detailed_models",
    "running_models",
    "server_version",
    "show_model",
]


def show_model(driver: Driver, model: str) -> ModelInfo:
    """One model's kind, capabilities and context length (``POST /api/show``)."""
    protocol = _protocol(driver)
    return protocol.parse_show(_send(driver, protocol.show_request(model), "show", model), model)


async def ashow_model(driver: Driver, model: str) -> ModelInfo:
    protocol = _protocol(driver)
    response = await _asend(driver, protocol.show_request(model), "show", model)
    return protocol.parse_show(response, model)


def detailed_models(driver: Driver) -> list[ModelInfo]:
    """Every installed model, each completed by its ``/api/show`` (one call per model)."""
    listed = driver.get_available_models()
    return [merge_details(info, show_model(driver, info.id)) for info in listed]


async def adetailed_models(driver: Driver, *, concurrency: int = 4) -> list[ModelInfo]:
    """Async form of :func:`detailed_models`, at most ``concurrency`` show calls at once."""
    listed = await driver.aget_available_models()
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(info: ModelInfo) -> ModelInfo:
        async with gate:
            return merge_details(info, await ashow_model(driver, info.id))

    return list(await asyncio.gather(*(one(info) for info in listed)))


def running_models(driver: Driver) -> list[ModelInfo]:
    """Models loaded now, with the context length they were loaded with (``/api/ps``)."""
    protocol = _protocol(driver)
    return protocol.parse_running(_send(driver, protocol.running_request(), "ps", None))


async def arunning_models(driver: Driver) -> list[ModelInfo]:
    protocol = _protocol(driver)
    return protocol.parse_running(await _asend(driver, protocol.running_request(), "ps", None))


def server_version(driver: Driver) -> str:
    """The Ollama server's version (``/api/version``)."""
    protocol = _protocol(driver)
    return protocol.parse_version(_send(driver, protocol.credentials_request(), "version", None))


async def aserver_version(driver: Driver) -> str:
    protocol = _protocol(driver)
    response = await _asend(driver, protocol.credentials_request(), "version", None)
    return protocol.parse_version(response)


def _protocol(driver: Driver) -> OllamaProtocol:
    protocol = driver.protocol
    if not isinstance(protocol, OllamaProtocol):
        raise ConfigurationError(
            f"this helper needs an ollama driver; provider {driver.provider!r} uses "
            f"{driver.get_name()!r}"
        )
    return protocol


def _send(driver: Driver, request: HttpRequest, operation: str,
          model: str | None) -> HttpResponse:
    return driver.request(request, operation=operation, model=model)


async def _asend(driver: Driver, request: HttpRequest, operation: str,
                 model: str | None) -> HttpResponse:
    return await driver.arequest(request, operation=operation, model=model)
