"""Error replies: each becomes its typed error, retried only when waiting can help."""

from __future__ import annotations

import json

import httpx
import pytest

from jtd_ai import (
    ContentFilteredError,
    InvalidCredentialsError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitError,
    RateLimitInfo,
)
from jtd_ai.testing import ScriptedTransport
from jtd_ai_openai.testing import completion, error_body

LIMIT_HEADERS = {"retry-after": "2", "x-request-id": "req_429",
                 "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
                 "x-ratelimit-reset-requests": "1s", "x-ratelimit-limit-tokens": "150000",
                 "x-ratelimit-remaining-tokens": "149984", "x-ratelimit-reset-tokens": "6m0s"}


def reply(status: int, body: dict | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def ok() -> httpx.Response:
    return reply(200, completion("fine"))


async def send(driver, mode: str):
    if mode == "sync":
        return driver.send_message("hi")
    return await driver.asend_message("hi")


async def test_bad_key_is_not_retried(openai_driver, mode: str) -> None:
    body = error_body("Incorrect API key provided: sk-abc***wxyz.", code="invalid_api_key")
    transport = ScriptedTransport(
        httpx.Response(401, json=body, headers={"x-request-id": "req_1"}), ok())
    with pytest.raises(InvalidCredentialsError, match="OPENAI_API_KEY") as info:
        await send(openai_driver(transport), mode)
    assert (info.value.status, info.value.code, info.value.request_id) == (
        401, "invalid_api_key", "req_1")
    assert len(transport.requests) == 1


async def test_unknown_model(openai_driver, mode: str) -> None:
    body = error_body("The model `gpt-9` does not exist or you do not have access to it.",
                      code="model_not_found")
    transport = ScriptedTransport(reply(404, body), ok())
    with pytest.raises(ModelNotFoundError, match="gpt-9"):
        await send(openai_driver(transport), mode)
    assert len(transport.requests) == 1


async def test_rate_limit_is_retried_after_retry_after(openai_driver, mode: str) -> None:
    body = error_body("Rate limit reached for requests", type="requests",
                      code="rate_limit_exceeded")
    transport = ScriptedTransport(reply(429, body, **LIMIT_HEADERS), ok())
    assert (await send(openai_driver(transport), mode)).content == "fine"
    assert len(transport.requests) == 2


async def test_rate_limit_gives_up_with_its_wait_and_limits(openai_driver, mode: str) -> None:
    body = error_body("Rate limit reached for requests", type="requests",
                      code="rate_limit_exceeded")
    transport = ScriptedTransport(*[reply(429, body, **LIMIT_HEADERS) for _ in range(3)])
    with pytest.raises(RateLimitError) as info:
        await send(openai_driver(transport), mode)
    assert not isinstance(info.value, QuotaExceededError)
    assert info.value.retry_after == 2.0
    assert info.value.rate_limit == RateLimitInfo(60, 0, 1.0, 150000, 149984, 360.0)
    assert len(transport.requests) == 3


def test_rate_limit_wait_read_from_the_message(openai_driver) -> None:
    body = error_body("Rate limit reached for gpt-4 on tokens per min (TPM): Limit 10000. "
                      "Please try again in 26.604s. Visit ...", type="tokens",
                      code="rate_limit_exceeded")
    transport = ScriptedTransport(reply(429, body), reply(429, body))
    with pytest.raises(RateLimitError) as info:
        openai_driver(transport, retry_attempts=2).send_message("hi")
    assert info.value.retry_after == pytest.approx(26.604)


async def test_insufficient_quota_is_not_retried(openai_driver, mode: str) -> None:
    body = error_body("You exceeded your current quota, please check your plan.",
                      type="insufficient_quota", code="insufficient_quota")
    transport = ScriptedTransport(reply(429, body), ok())
    with pytest.raises(QuotaExceededError, match="retrying will not help") as info:
        await send(openai_driver(transport), mode)
    assert info.value.retryable is False
    assert len(transport.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(openai_driver, mode: str, status: int) -> None:
    body = error_body("The server had an error processing your request.", type="server_error")
    transport = ScriptedTransport(reply(status, body), reply(503, body), ok())
    assert (await send(openai_driver(transport), mode)).content == "fine"
    assert len(transport.requests) == 3


async def test_server_errors_end_as_provider_unavailable(openai_driver, mode: str) -> None:
    body = error_body("That model is currently overloaded with other requests.",
                      type="server_error")
    transport = ScriptedTransport(*[reply(503, body) for _ in range(3)])
    with pytest.raises(ProviderUnavailableError, match="overloaded") as info:
        await send(openai_driver(transport), mode)
    assert info.value.status == 503
    assert len(transport.requests) == 3


def test_a_proxy_page_instead_of_json(openai_driver) -> None:
    page = httpx.Response(502, content=b"<html><body>502 Bad Gateway</body></html>")
    with pytest.raises(ProviderUnavailableError, match="502 Bad Gateway"):
        openai_driver(ScriptedTransport(page), retry_attempts=1).send_message("hi")


def test_x_should_retry_false_is_honoured(openai_driver) -> None:
    transport = ScriptedTransport(httpx.Response(500, json=error_body("no", type="server_error"),
                                        headers={"x-should-retry": "false"}), ok())
    with pytest.raises(ProviderUnavailableError):
        openai_driver(transport).send_message("hi")
    assert len(transport.requests) == 1


def test_bad_request_is_a_plain_provider_error(openai_driver) -> None:
    body = error_body("Invalid value for 'temperature'.", param="temperature",
                      code="invalid_value")
    transport = ScriptedTransport(reply(400, body), ok())
    with pytest.raises(ProviderError, match="Invalid value") as info:
        openai_driver(transport).send_message("hi")
    assert type(info.value) is ProviderError
    assert info.value.code == "invalid_value"
    assert len(transport.requests) == 1


def test_content_policy_refusal(openai_driver) -> None:
    body = error_body("Your request was rejected by the safety system.",
                      code="content_policy_violation")
    with pytest.raises(ContentFilteredError):
        openai_driver(ScriptedTransport(reply(400, body))).send_message("hi")


@pytest.mark.parametrize(("status", "body"), [
    (401, error_body("Incorrect API key provided: {key}.", code="invalid_api_key")),
    (429, error_body("Quota gone for {key}", code="insufficient_quota")),
    (500, error_body("failed for Bearer {key}", type="server_error")),
    (400, {"error": "weird {key} shape"}),
])
async def test_the_key_never_shows(openai_driver, key: str, status: int, body: dict) -> None:
    echoed = httpx.Response(status, content=json.dumps(body).replace("{key}", key).encode(),
                            headers={"x-echo": key})
    transport = ScriptedTransport(*[echoed for _ in range(3)])
    driver = openai_driver(transport)
    with pytest.raises(ProviderError) as info:
        await driver.asend_message("hi")
    error = info.value
    for text in (str(error), repr(error), error.message, error.body_excerpt or "",
                 repr(driver), repr(driver.config), str(transport.requests[0].url)):
        assert key not in text
    assert transport.requests[0].headers["authorization"] == f"Bearer {key}"  # it was sent
