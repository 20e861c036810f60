"""The Ollama driver end to end against the core's fake provider server (real HTTP on
loopback, in this process): NDJSON framing, details, faults, and a server that is down."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from jtd_ai import (
    AIManager,
    ModelKind,
    ModelNotFoundError,
    ProviderUnavailableError,
    StreamInterruptedError,
    Tool,
)
from jtd_ai.testing import FakeProviderServer, Fault
from jtd_ai_ollama import adetailed_models, arunning_models, running_models, server_version


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as running:
        yield running


@pytest.fixture
def manager(server: FakeProviderServer) -> Iterator[AIManager]:
    settings = {"base_url": server.base_url("ollama"), "default_model": "llama3.2"}
    with AIManager(providers={"ollama": settings}, config_file=False, env={}) as made:
        yield made


def test_chat_and_stream_agree(manager) -> None:
    driver = manager.driver("ollama")
    reply = driver.send_message("hello there")
    stream = driver.stream("hello there")
    assert "".join(c.delta for c in stream) == "echo: hello there"
    assert stream.response is not None
    assert (reply.content, reply.usage) == (stream.response.content, stream.response.usage)


async def test_async_tools_and_details(manager) -> None:
    driver = manager.driver("ollama")
    tool = Tool("search", "Search", {"type": "object", "properties": {"query": {"type": "string"}}})
    chat = manager.conversation("ollama").tools(tool).message("jtd-ai")
    call = (await chat.asend()).tool_calls[0]
    assert call.parsed_arguments() == {"query": "jtd-ai"}
    assert (await chat.tool_result(call.id, "found").asend()).content == "tool said: found"
    models = await adetailed_models(driver)
    assert [(m.id, m.kind, m.context_length) for m in models] == [
        ("llama3.2:latest", ModelKind.CHAT, 131_072), ("qwen3:8b", ModelKind.CHAT, 131_072)]
    await driver.aclose()


def test_missing_model_and_version(manager) -> None:
    driver = manager.driver("ollama")
    with pytest.raises(ModelNotFoundError, match="ollama pull missing-model"):
        driver.send_message("x", model="missing-model")
    assert server_version(driver) == "0.12.0"
    assert driver.validate_credentials() is True


async def test_running_models_over_http(manager, server) -> None:
    driver = manager.driver("ollama")
    (loaded,) = running_models(driver)
    assert (loaded.id, loaded.context_length) == ("llama3.2:latest", 4096)
    assert [m.id for m in await arunning_models(driver)] == ["llama3.2:latest"]
    assert [r.path for r in server.requests] == ["/api/ps", "/api/ps"]
    await driver.aclose()


def test_busy_server_is_retried(manager, server) -> None:
    server.inject(Fault(status=503))
    assert manager.driver("ollama").send_message("hi").content == "echo: hi"


def test_connection_reset_mid_stream_keeps_the_partial(manager, server) -> None:
    server.inject(Fault(reset_after=2))
    with pytest.raises(StreamInterruptedError) as info:
        list(manager.driver("ollama").stream("one two three four"))
    assert info.value.partial is not None
    assert info.value.partial.content == "echo: one"


def test_server_down_names_the_url() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = {"base_url": f"http://127.0.0.1:{port}", "default_model": "llama3.2",
                "retry_attempts": 1}
    with (AIManager(providers={"ollama": settings}, config_file=False, env={}) as manager,
          pytest.raises(ProviderUnavailableError, match=f"http://127.0.0.1:{port}")):
        manager.driver("ollama").validate_credentials()
