"""Ollama's models: the /api/tags listing, /api/show details, /api/ps, /api/version."""

from __future__ import annotations

import datetime as dt

import httpx

from jtd_ai import Capabilities, ModelKind
from jtd_ai_ollama import (
    adetailed_models,
    ashow_model,
    detailed_models,
    running_models,
    server_version,
    show_model,
)


def tag(name: str, **fields) -> dict:
    return {"name": name, "model": name, "modified_at": "2025-05-04T17:37:44.706015396-07:00",
            "size": 2019393189, "digest": "a80c4f17", "details": {
                "parent_model": "", "format": "gguf", "family": "llama",
                "families": ["llama"], "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M"}, **fields}


TAGS = {"models": [tag("llama3.2:latest"), tag("nomic-embed-text:latest"),
                   tag("me/tuned:7b", capabilities=["completion", "tools"])]}


def show(*capabilities: str, arch: str = "llama", context: int | None = 131072) -> dict:
    info: dict = {"general.architecture": arch, "general.parameter_count": 3212749888}
    if context is not None:
        info[f"{arch}.context_length"] = context
    return {"capabilities": list(capabilities), "model_info": info,
            "details": {"family": arch}, "parameters": "temperature 0.7",
            "modified_at": "2025-08-14T15:49:43.634137516-07:00"}


def test_listing_from_tags(ollama, wire) -> None:
    driver, server = ollama(wire.ok(TAGS))
    models = driver.get_available_models()
    assert server.requests[0].url.path == "/api/tags" and len(server.requests) == 1
    assert [m.id for m in models] == ["llama3.2:latest", "nomic-embed-text:latest", "me/tuned:7b"]
    llama = models[0]
    assert llama.kind is ModelKind.UNKNOWN  # tags alone does not say
    assert llama.capabilities == Capabilities()
    assert llama.created == dt.datetime(2025, 5, 4, 17, 37, 44, 706015,
                                        tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    assert llama.owned_by == "library" and models[2].owned_by == "me"
    assert models[2].kind is ModelKind.CHAT and models[2].capabilities.tools is True
    assert models[2].capabilities.vision is False
    assert llama.pricing is not None and llama.pricing.input == 0


async def test_async_listing(ollama, wire) -> None:
    driver, _ = ollama(wire.ok(TAGS))
    assert len(await driver.aget_available_models()) == 3
    await driver.aclose()


def test_show_model_reads_capabilities_and_context(ollama, wire) -> None:
    driver, server = ollama(wire.ok(show("completion", "tools", "thinking")))
    info = show_model(driver, "qwen3:8b")
    assert server.requests[0].url.path == "/api/show"
    assert server.bodies[0] == {"model": "qwen3:8b"}
    assert info.id == "qwen3:8b" and info.kind is ModelKind.CHAT
    assert info.context_length == 131072
    caps = info.capabilities
    assert (caps.tools, caps.vision, caps.reasoning, caps.streaming) == (True, False, True, True)


def test_detailed_models_merges_tags_and_show(ollama, wire) -> None:
    driver, server = ollama(wire.ok(TAGS), wire.ok(show("completion", "vision")),
                            wire.ok(show("embedding", arch="nomic-bert", context=2048)),
                            wire.ok(show("completion", "tools", context=None)))
    models = detailed_models(driver)
    assert [r.url.path for r in server.requests] == ["/api/tags"] + ["/api/show"] * 3
    assert [b["model"] for b in server.bodies[1:]] == [m.id for m in models]
    llama, embed, tuned = models
    assert (llama.kind, llama.context_length, llama.capabilities.vision) == (
        ModelKind.CHAT, 131072, True)
    assert (embed.kind, embed.context_length) == (ModelKind.EMBEDDING, 2048)
    assert tuned.context_length is None and tuned.created is not None


async def test_async_details(ollama, wire) -> None:
    driver, _ = ollama(wire.ok({"models": [tag("llama3.2:latest")]}),
                       wire.ok(show("completion")), wire.ok(show("completion", "tools")))
    (detailed,) = await adetailed_models(driver)
    assert detailed.kind is ModelKind.CHAT
    assert (await ashow_model(driver, "llama3.2")).capabilities.tools is True
    await driver.aclose()


def test_running_models_and_version(ollama, wire) -> None:
    ps = {"models": [{"name": "gemma3:4b", "model": "gemma3:4b", "size": 6591830464,
                      "size_vram": 5333539264, "context_length": 4096,
                      "expires_at": "2025-10-17T16:47:07.93355-07:00"}]}
    driver, server = ollama(wire.ok(ps), wire.ok({"version": "0.12.6"}))
    (running,) = running_models(driver)
    assert (running.id, running.context_length) == ("gemma3:4b", 4096)
    assert server_version(driver) == "0.12.6"
    assert [r.url.path for r in server.requests] == ["/api/ps", "/api/version"]


def test_validate_credentials_checks_the_server_is_up(ollama, wire) -> None:
    driver, server = ollama(wire.ok({"version": "0.12.6"}))
    assert driver.validate_credentials() is True
    assert (server.requests[0].method, server.requests[0].url.path) == ("GET", "/api/version")


async def test_async_validate_credentials(ollama, wire) -> None:
    driver, _ = ollama(wire.ok({"version": "0.12.6"}))
    assert await driver.avalidate_credentials() is True
    await driver.aclose()


def test_capabilities_follow_show_model(ollama, wire) -> None:
    driver, _ = ollama(wire.ok(show("completion", "thinking")))
    before = driver.get_capabilities("qwen3:8b")
    assert (before.streaming, before.tools, before.json_mode) == (True, True, True)
    assert before.reasoning is None
    show_model(driver, "qwen3:8b")
    after = driver.get_capabilities("qwen3:8b")
    assert (after.tools, after.vision, after.reasoning) == (False, False, True)
    assert driver.get_capabilities("llama3.2").tools is True  # not shown: what the driver sends


def test_empty_or_null_model_lists(ollama) -> None:
    driver, _ = ollama(httpx.Response(200, json={"models": None}))
    assert driver.get_available_models() == []
