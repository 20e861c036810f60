"""Ollama errors: a model not pulled, a wrong base_url, a busy server, a server that is down."""

from __future__ import annotations

import httpx
import pytest

from jtd_ai import (
    InvalidCredentialsError,
    ModelNotFoundError,
    ProviderError,
    ProviderUnavailableError,
)


def test_model_not_pulled_says_how_to_pull_it(ollama) -> None:
    driver, server = ollama(httpx.Response(404, json={"error": "model 'llama3.2' not found"}))
    with pytest.raises(ModelNotFoundError) as info:
        driver.send_message("hi")
    assert "ollama pull llama3.2" in str(info.value)
    assert len(server.requests) == 1


def test_scheduler_wording_of_model_not_found(ollama) -> None:
    driver, _ = ollama(httpx.Response(
        404, json={"error": 'model "qwen3:8b" not found, try pulling it first'}))
    with pytest.raises(ModelNotFoundError, match="ollama pull qwen3:8b"):
        driver.send_message("hi", model="qwen3:8b")


async def test_async_model_not_found(ollama) -> None:
    driver, _ = ollama(httpx.Response(404, json={"error": "model 'x' not found"}))
    with pytest.raises(ModelNotFoundError, match="ollama pull x"):
        await driver.asend_message("hi", model="x")
    await driver.aclose()


def test_not_found_in_a_stream_request(ollama) -> None:
    driver, _ = ollama(httpx.Response(404, json={"error": "model 'llama3.2' not found"}))
    with pytest.raises(ModelNotFoundError, match="ollama pull"):
        list(driver.stream("hi"))


def test_a_404_page_means_a_wrong_base_url(ollama) -> None:
    driver, _ = ollama(httpx.Response(404, text="404 page not found"))
    with pytest.raises(ProviderError, match="base_url") as info:
        driver.send_message("hi")
    assert not isinstance(info.value, ModelNotFoundError)


def test_bad_request_is_not_retried(ollama) -> None:
    driver, server = ollama(httpx.Response(
        400, json={"error": "\"llama3.2\" does not support thinking"}))
    with pytest.raises(ProviderError, match="does not support thinking") as info:
        driver.send_message("hi", extra={"think": True})
    assert info.value.status == 400 and not info.value.retryable
    assert len(server.requests) == 1


def test_busy_server_is_retried(ollama, wire) -> None:
    busy = httpx.Response(503, json={"error": "server busy, please try again.  maximum "
                                              "pending requests exceeded"})
    driver, server = ollama(busy, wire.ok(wire.final("ok")))
    assert driver.send_message("hi").content == "ok"
    assert len(server.requests) == 2


def test_busy_until_the_attempts_run_out(ollama) -> None:
    driver, server = ollama(*(httpx.Response(503, json={"error": "server busy"})
                              for _ in range(2)), retry_attempts=2)
    with pytest.raises(ProviderUnavailableError, match="server busy"):
        driver.send_message("hi")
    assert len(server.requests) == 2


def test_unauthorized_cloud_model(ollama) -> None:
    driver, _ = ollama(httpx.Response(401, json={"error": "unauthorized",
                                                 "signin_url": "https://ollama.com/connect"}))
    with pytest.raises(InvalidCredentialsError, match="ollama signin"):
        driver.send_message("hi", model="gpt-oss:120b-cloud")


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def test_server_down_names_the_url(ollama) -> None:
    driver, server = ollama(refused, refused, refused)
    with pytest.raises(ProviderUnavailableError) as info:
        driver.send_message("hi")
    assert "http://localhost:11434" in str(info.value)
    assert len(server.requests) == 3  # connection failures are retried


def test_server_down_validate_credentials_raises(ollama_ai) -> None:
    manager, _ = ollama_ai(refused, refused, refused, env={"OLLAMA_HOST": "10.0.0.9:11434"})
    with pytest.raises(ProviderUnavailableError, match=r"http://10\.0\.0\.9:11434"):
        manager.driver("ollama").validate_credentials()


async def test_async_server_down_names_the_url(ollama) -> None:
    driver, _ = ollama(refused, refused, refused)
    with pytest.raises(ProviderUnavailableError, match="localhost:11434"):
        await driver.asend_message("hi")
    await driver.aclose()
