"""xAI's flat error bodies: a wrong key is a 400, and a 429 may mean no credits left."""

from __future__ import annotations

import json

import httpx
import pytest

from jtd_ai import (
    InvalidCredentialsError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitError,
)
from jtd_ai.testing import ScriptedTransport
from jtd_ai_openai.testing import completion

# Written from xAI's documented shape: {"code": <gRPC status text>, "error": <message>}.
BAD_KEY = {"code": "Client specified an invalid argument",
           "error": "Incorrect API key provided: xa***9z. You can obtain an API key from "
                    "https://console.x.ai."}
BAD_FIELD = {"code": "Client specified an invalid argument",
             "error": "temperature must be between 0 and 2"}
NO_MODEL = {"code": "Some requested entity was not found",
            "error": "The model grok-0 does not exist or your team does not have access to it."}
NO_CREDITS = {"code": "Some resource has been exhausted",
              "error": "Your team has either used all available credits or reached its "
                       "monthly spending limit."}
TOO_FAST = {"code": "Some resource has been exhausted", "error": "Too many requests."}


def reply(status: int, body: dict, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def ok() -> httpx.Response:
    return reply(200, completion("fine", model="grok-3"))


async def send(driver, mode: str):
    if mode == "sync":
        return driver.send_message("hi")
    return await driver.asend_message("hi")


async def test_wrong_key_is_a_400(xai_driver, mode: str) -> None:
    transport = ScriptedTransport(reply(400, BAD_KEY), ok())
    with pytest.raises(InvalidCredentialsError, match="XAI_API_KEY") as info:
        await send(xai_driver(transport), mode)
    assert info.value.status == 400
    assert info.value.code == "Client specified an invalid argument"
    assert len(transport.requests) == 1


async def test_validate_credentials_reads_the_400(xai_driver, mode: str) -> None:
    bad = ScriptedTransport(reply(400, BAD_KEY))
    good = ScriptedTransport(reply(200, {"models": []}))
    if mode == "sync":
        assert xai_driver(bad).validate_credentials() is False
        assert xai_driver(good).validate_credentials() is True
    else:
        assert await xai_driver(bad).avalidate_credentials() is False
        assert await xai_driver(good).avalidate_credentials() is True
    assert good.requests[0].url.path == "/v1/language-models"


async def test_validate_credentials_raises_when_unreachable(xai_driver, mode: str) -> None:
    transport = ScriptedTransport(*[httpx.ConnectError("refused") for _ in range(3)])
    with pytest.raises(ProviderUnavailableError):
        if mode == "sync":
            xai_driver(transport).validate_credentials()
        else:
            await xai_driver(transport).avalidate_credentials()


def test_other_invalid_arguments_stay_plain(xai_driver) -> None:
    transport = ScriptedTransport(reply(400, BAD_FIELD), ok())
    with pytest.raises(ProviderError, match="temperature must be") as info:
        xai_driver(transport).send_message("hi")
    assert type(info.value) is ProviderError
    assert len(transport.requests) == 1


async def test_unknown_model(xai_driver, mode: str) -> None:
    with pytest.raises(ModelNotFoundError, match="grok-0"):
        await send(xai_driver(ScriptedTransport(reply(404, NO_MODEL))), mode)


async def test_out_of_credits_is_not_retried(xai_driver, mode: str) -> None:
    transport = ScriptedTransport(reply(429, NO_CREDITS), ok())
    with pytest.raises(QuotaExceededError, match="retrying will not help"):
        await send(xai_driver(transport), mode)
    assert len(transport.requests) == 1


async def test_rate_limit_is_retried(xai_driver, mode: str) -> None:
    transport = ScriptedTransport(reply(429, TOO_FAST, **{"retry-after": "1"}), ok())
    assert (await send(xai_driver(transport), mode)).content == "fine"
    assert len(transport.requests) == 2
    exhausted = ScriptedTransport(*[reply(429, TOO_FAST) for _ in range(3)])
    with pytest.raises(RateLimitError) as info:
        await send(xai_driver(exhausted), mode)
    assert type(info.value) is RateLimitError


async def test_server_errors_are_retried_then_reported(xai_driver, mode: str) -> None:
    down = {"code": "Internal error", "error": "Service temporarily unavailable"}
    transport = ScriptedTransport(reply(500, down), reply(503, down), ok())
    assert (await send(xai_driver(transport), mode)).content == "fine"
    failing = ScriptedTransport(*[reply(503, down) for _ in range(3)])
    with pytest.raises(ProviderUnavailableError, match="temporarily unavailable"):
        await send(xai_driver(failing), mode)
    assert len(failing.requests) == 3


async def test_the_key_never_shows(xai_driver, key: str) -> None:
    echoed = dict(BAD_KEY, error=f"Incorrect API key provided: {key}.")
    transport = ScriptedTransport(httpx.Response(400, content=json.dumps(echoed).encode()))
    driver = xai_driver(transport)
    with pytest.raises(InvalidCredentialsError) as info:
        await driver.asend_message("hi")
    error = info.value
    for text in (str(error), repr(error), error.message, error.body_excerpt or "",
                 repr(driver), repr(driver.config), str(transport.requests[0].url)):
        assert key not in text
