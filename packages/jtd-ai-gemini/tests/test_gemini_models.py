"""Gemini's model listing: every page followed, chat models told apart, limits read."""

from __future__ import annotations

import httpx

from jtd_ai import ModelKind
from jtd_ai.wire import HttpResponse


def flash(name: str = "models/gemini-2.5-flash", **extra) -> dict:
    return {"name": name, "version": "001", "displayName": "Gemini 2.5 Flash",
            "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
            "temperature": 1, "topP": 0.95, "thinking": True, **extra}


EMBEDDING = {"name": "models/gemini-embedding-001", "inputTokenLimit": 2048,
             "outputTokenLimit": 1, "supportedGenerationMethods": ["embedContent"]}
IMAGEN = {"name": "models/imagen-4.0-generate-001", "inputTokenLimit": 480,
          "outputTokenLimit": 8192, "supportedGenerationMethods": ["predict"]}
OLD = {"name": "models/gemini-2.0-flash", "inputTokenLimit": 1048576,
       "outputTokenLimit": 8192, "supportedGenerationMethods": ["generateContent"]}


def pages(wire):
    return (wire.ok({"models": [flash(), EMBEDDING], "nextPageToken": "page-2"}),
            wire.ok({"models": [IMAGEN], "nextPageToken": "page-3"}),
            wire.ok({"models": [OLD]}))


def test_listing_follows_every_page(gemini, wire) -> None:
    driver, server = gemini(*pages(wire))
    models = driver.get_available_models()
    assert [m.id for m in models] == ["gemini-2.5-flash", "gemini-embedding-001",
                                      "imagen-4.0-generate-001", "gemini-2.0-flash"]
    assert [dict(r.url.params) for r in server.requests] == [
        {"pageSize": "1000"}, {"pageSize": "1000", "pageToken": "page-2"},
        {"pageSize": "1000", "pageToken": "page-3"}]
    assert all(r.url.path == "/v1beta/models" for r in server.requests)
    assert driver.get_available_models() == models  # cached: no more requests
    assert len(server.requests) == 3


async def test_async_listing_follows_every_page(gemini, wire) -> None:
    driver, server = gemini(*pages(wire))
    models = await driver.aget_available_models()
    assert len(models) == 4 and len(server.requests) == 3
    await driver.aclose()


def test_kinds_limits_and_capabilities(gemini, wire) -> None:
    driver, _ = gemini(*pages(wire))
    by_id = {m.id: m for m in driver.get_available_models()}
    chat = by_id["gemini-2.5-flash"]
    assert chat.kind is ModelKind.CHAT
    assert (chat.context_length, chat.max_output_tokens) == (1048576, 65536)
    assert chat.display_name == "Gemini 2.5 Flash"
    assert chat.capabilities.reasoning is True and chat.capabilities.streaming is True
    assert chat.pricing is not None and str(chat.pricing.output) == "2.50"
    assert by_id["gemini-2.0-flash"].capabilities.reasoning is None  # not said: unknown
    assert by_id["gemini-embedding-001"].kind is ModelKind.EMBEDDING
    assert by_id["gemini-embedding-001"].pricing is None
    assert by_id["imagen-4.0-generate-001"].kind is ModelKind.OTHER
    assert by_id["imagen-4.0-generate-001"].capabilities.streaming is False


def test_page_size_option(gemini, wire) -> None:
    driver, server = gemini(wire.ok({"models": []}), models_page_size=50)
    assert driver.get_available_models() == []
    assert dict(server.requests[0].url.params) == {"pageSize": "50"}


def test_one_model_detail(gemini) -> None:
    driver, _ = gemini()
    protocol = driver.protocol
    request = protocol.model_request("gemini-2.5-pro")
    assert (request.method, request.path) == ("GET", "/models/gemini-2.5-pro")
    body = httpx.Response(200, json=flash("models/gemini-2.5-pro")).content
    info = protocol.parse_model(HttpResponse(200, {}, body))
    assert info.id == "gemini-2.5-pro" and info.kind is ModelKind.CHAT
    assert info.pricing is not None and str(info.pricing.input) == "1.25"


def test_driver_capabilities(gemini) -> None:
    driver, _ = gemini()
    caps = driver.get_capabilities("gemini-2.5-flash")
    assert caps.streaming and caps.tools and caps.vision and caps.structured_output
    assert driver.get_capabilities("gemma-3-27b-it").system_prompt is False
