"""Model listing, credential checks and rate-limit headers."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from jtd_ai import Capabilities, ModelKind, ProviderUnavailableError, RateLimitInfo
from jtd_ai.testing import ScriptedTransport
from jtd_ai_openai.ratelimit import parse_duration, rate_limit_info
from jtd_ai_openai.testing import error_body

LISTING = {"object": "list", "data": [
    {"id": "gpt-4o-mini-2024-07-18", "object": "model", "created": 1721172741,
     "owned_by": "system"},
    {"id": "gpt-99-experimental", "object": "model", "created": 1800000000,
     "owned_by": "openai", "shutdown_date": None},
    {"id": "text-embedding-3-small", "object": "model", "created": 1705948997,
     "owned_by": "system"},
]}


async def list_models(driver, mode: str):
    if mode == "sync":
        return driver.get_available_models()
    return await driver.aget_available_models()


async def test_listing_fills_in_known_models_only(openai_driver, mode: str) -> None:
    transport = ScriptedTransport(httpx.Response(200, json=LISTING))
    models = await list_models(openai_driver(transport), mode)
    assert transport.requests[0].url.path == "/v1/models"
    known, new, embedding = models
    assert known.id == "gpt-4o-mini-2024-07-18"
    assert known.kind is ModelKind.CHAT
    assert (known.context_length, known.max_output_tokens) == (128_000, 16_384)
    assert known.capabilities.tools is True and known.capabilities.vision is True
    assert known.capabilities.reasoning is False
    assert known.pricing is not None and str(known.pricing.input) == "0.15"
    assert known.created == dt.datetime(2024, 7, 16, 23, 32, 21, tzinfo=dt.UTC)
    assert known.owned_by == "system"
    # A model the tables do not know still lists, with nothing guessed.
    assert new.id == "gpt-99-experimental"
    assert (new.kind, new.context_length, new.max_output_tokens, new.pricing) == (
        ModelKind.UNKNOWN, None, None, None)
    assert new.capabilities == Capabilities()
    assert embedding.kind is ModelKind.EMBEDDING


def test_listing_follows_has_more(openai_driver) -> None:
    transport = ScriptedTransport(
        httpx.Response(200, json={"data": [{"id": "a"}], "has_more": True, "last_id": "a"}),
        httpx.Response(200, json={"data": [{"id": "b"}], "has_more": False}),
    )
    assert [m.id for m in openai_driver(transport).get_available_models()] == ["a", "b"]
    assert transport.requests[1].url.params["after"] == "a"


async def test_validate_credentials(openai_driver, mode: str) -> None:
    good = ScriptedTransport(httpx.Response(200, json={"object": "list", "data": []}))
    bad = ScriptedTransport(httpx.Response(401, json=error_body("Incorrect API key provided",
                                                       code="invalid_api_key")))
    if mode == "sync":
        assert openai_driver(good).validate_credentials() is True
        assert openai_driver(bad).validate_credentials() is False
    else:
        assert await openai_driver(good).avalidate_credentials() is True
        assert await openai_driver(bad).avalidate_credentials() is False
    assert good.requests[0].url.path == "/v1/models"
    assert len(bad.requests) == 1


async def test_validate_credentials_raises_when_unreachable(openai_driver, mode: str) -> None:
    transport = ScriptedTransport(*[httpx.ConnectError("connection refused") for _ in range(3)])
    driver = openai_driver(transport)
    with pytest.raises(ProviderUnavailableError, match="could not connect"):
        if mode == "sync":
            driver.validate_credentials()
        else:
            await driver.avalidate_credentials()


def test_driver_and_model_capabilities(openai_driver) -> None:
    driver = openai_driver(ScriptedTransport())
    assert driver.supports_streaming() is True
    assert driver.get_capabilities().tools is True
    assert driver.get_capabilities("o3-mini").vision is False
    assert driver.get_capabilities("o3-mini").reasoning is True
    assert driver.get_capabilities("no-such-model") == Capabilities()


@pytest.mark.parametrize(("text", "seconds"), [
    ("1s", 1.0), ("6m0s", 360.0), ("12ms", 0.012), ("1h2m3.5s", 3723.5), ("20", 20.0),
    ("0.5s", 0.5), ("soon", None), ("5x", None), ("", None), ("1s 2s", None),
])
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_rate_limit_headers() -> None:
    assert rate_limit_info({"content-type": "application/json"}) is None
    assert rate_limit_info({"x-ratelimit-limit-requests": "60",
                            "x-ratelimit-remaining-tokens": "149984",
                            "x-ratelimit-reset-tokens": "6m0s",
                            "x-ratelimit-remaining-requests": "many"}) == RateLimitInfo(
        limit_requests=60, remaining_tokens=149984, reset_tokens=360.0)
