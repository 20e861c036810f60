"""Gemini's error envelope mapped to our typed errors, and what the retry loop does with them."""

from __future__ import annotations

import httpx
import pytest

from jtd_ai import (
    InvalidCredentialsError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExceededError,
    RateLimitError,
    TimeoutError,
)

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA = "type.googleapis.com/google.rpc.QuotaFailure"


def failing(wire, code: int, status: str, message: str, *details) -> httpx.Response:
    return httpx.Response(code, json=wire.error(code, status, message, *details))


def test_invalid_key_is_a_400_with_api_key_invalid(gemini, wire) -> None:
    bad = failing(wire, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                  {"@type": ERROR_INFO, "reason": "API_KEY_INVALID",
                   "domain": "googleapis.com"})
    driver, server = gemini(bad)
    with pytest.raises(InvalidCredentialsError) as info:
        driver.send_message("hi")
    assert "GEMINI_API_KEY" in str(info.value)
    assert info.value.status == 400 and info.value.code == "INVALID_ARGUMENT"
    assert len(server.requests) == 1  # never retried


def test_validate_credentials(gemini, wire) -> None:
    bad = failing(wire, 400, "INVALID_ARGUMENT", "API key not valid.",
                  {"@type": ERROR_INFO, "reason": "API_KEY_INVALID"})
    driver, server = gemini(wire.ok({"models": []}), bad)
    assert driver.validate_credentials() is True
    assert driver.validate_credentials() is False
    assert server.requests[0].url.path == "/v1beta/models"


async def test_async_validate_credentials(gemini, wire) -> None:
    bad = failing(wire, 400, "INVALID_ARGUMENT", "API key not valid.",
                  {"@type": ERROR_INFO, "reason": "API_KEY_INVALID"})
    driver, _ = gemini(bad)
    assert await driver.avalidate_credentials() is False
    await driver.aclose()


def test_other_invalid_argument_is_a_plain_provider_error(gemini, wire) -> None:
    driver, server = gemini(failing(wire, 400, "INVALID_ARGUMENT",
                                    "* GenerateContentRequest.contents: must not be empty"))
    with pytest.raises(ProviderError) as info:
        driver.send_message("hi")
    assert type(info.value) is ProviderError
    assert "contents: must not be empty" in str(info.value)
    assert len(server.requests) == 1


def test_permission_denied(gemini, wire) -> None:
    driver, _ = gemini(failing(wire, 403, "PERMISSION_DENIED",
                               "Method doesn't allow unregistered callers."))
    with pytest.raises(InvalidCredentialsError, match="refused access"):
        driver.send_message("hi")


def test_unknown_model(gemini, wire) -> None:
    driver, _ = gemini(failing(wire, 404, "NOT_FOUND",
                               "models/gemini-0 is not found for API version v1beta"))
    with pytest.raises(ModelNotFoundError, match="models/gemini-0"):
        driver.send_message("hi", model="gemini-0")


def test_rate_limit_honours_retry_info_and_is_retried(gemini, wire, monkeypatch) -> None:
    limited = failing(wire, 429, "RESOURCE_EXHAUSTED", "Quota exceeded",
                      {"@type": QUOTA, "violations": [
                          {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
                      {"@type": RETRY_INFO, "retryDelay": "12s"})
    driver, server = gemini(limited, wire.ok(wire.reply({"text": "ok"})))
    waits: list[float] = []
    from jtd_ai.retry import RetryState

    original = RetryState.backoff

    def spy(self, exc):  # type: ignore[no-untyped-def]
        wait = original(self, exc)
        waits.append(wait)
        return wait

    monkeypatch.setattr(RetryState, "backoff", spy)
    assert driver.send_message("hi").content == "ok"
    assert len(server.requests) == 2
    assert waits == [12.0]


def test_rate_limit_error_carries_fractional_retry_delay(gemini, wire) -> None:
    limited = failing(wire, 429, "RESOURCE_EXHAUSTED", "Please retry in 45.8s.",
                      {"@type": RETRY_INFO, "retryDelay": "45.837906927s"})
    driver, _ = gemini(limited, retry_attempts=1)
    with pytest.raises(RateLimitError) as info:
        driver.send_message("hi")
    assert info.value.retry_after == pytest.approx(45.837906927)
    assert info.value.retryable is True


def test_daily_quota_is_not_retried(gemini, wire) -> None:
    exhausted = failing(wire, 429, "RESOURCE_EXHAUSTED", "You exceeded your current quota",
                        {"@type": QUOTA, "violations": [
                            {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
                        {"@type": RETRY_INFO, "retryDelay": "30s"})
    driver, server = gemini(exhausted)
    with pytest.raises(QuotaExceededError):
        driver.send_message("hi")
    assert len(server.requests) == 1


@pytest.mark.parametrize(("code", "status", "kind"), [
    (503, "UNAVAILABLE", ProviderUnavailableError),
    (500, "INTERNAL", ProviderUnavailableError),
    (504, "DEADLINE_EXCEEDED", TimeoutError),
])
def test_server_side_failures_are_retried_then_raised(gemini, wire, code, status, kind) -> None:
    driver, server = gemini(*(failing(wire, code, status, "The model is overloaded.")
                              for _ in range(3)))
    with pytest.raises(kind):
        driver.send_message("hi")
    assert len(server.requests) == 3  # retry_attempts defaults to 3


async def test_async_errors_match_sync(gemini, wire) -> None:
    driver, _ = gemini(failing(wire, 404, "NOT_FOUND", "models/x is not found"))
    with pytest.raises(ModelNotFoundError):
        await driver.asend_message("hi", model="x")
    await driver.aclose()


def test_non_json_error_body_falls_back_to_the_status(gemini, wire) -> None:
    driver, _ = gemini(*(httpx.Response(502, text="<html>Bad Gateway</html>") for _ in range(3)))
    with pytest.raises(ProviderUnavailableError, match="Bad Gateway"):
        driver.send_message("hi")
