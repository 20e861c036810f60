"""API keys never show up in a repr, a log line, an exception message or a URL."""

from __future__ import annotations

import logging
import pickle

import httpx
import pytest

from jtd_ai import AIManager, InvalidCredentialsError, ProviderError, Secret

KEY = "sk-test-abcdefghijklmnopqrstuvwxyz0123"


def test_secret_hides_its_value_everywhere_but_reveal() -> None:
    secret = Secret(KEY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % (secret,)):  # noqa: UP031
        assert KEY not in text
    assert secret.reveal() == KEY
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_provider_config_repr_hides_the_key() -> None:
    manager = AIManager(providers={"p": {"driver": "echo", "api_key": KEY}},
                        config_file=False, env={})
    config = manager.provider_config("p")
    assert config.api_key is not None and config.api_key.reveal() == KEY
    assert KEY not in repr(config)
    assert KEY not in repr(manager.driver("p"))


def test_error_text_strips_a_key_the_provider_echoes_back(manager_with) -> None:
    body = {"error": f"Incorrect API key provided: {KEY}. Find your key at ..."}
    transport = httpx.MockTransport(lambda request: httpx.Response(401, json=body))
    manager = manager_with(transport, api_key=KEY)
    with pytest.raises(InvalidCredentialsError) as info:
        manager.driver().send_message("hi")
    error = info.value
    assert error.status == 401
    for text in (str(error), repr(error), error.message, error.body_excerpt or ""):
        assert KEY not in text
    assert "[REDACTED]" in (error.body_excerpt or "")


def test_key_shaped_tokens_are_stripped_even_when_never_configured() -> None:
    error = ProviderError("bad key sk-proj-ZZZZZZZZZZZZZZZZZZZZ and AIzaSyA1234567890123456789012345")
    assert "ZZZZZZZZ" not in str(error)
    assert "AIzaSyA123" not in str(error)


def test_logs_of_a_failing_call_never_carry_the_key(manager_with, caplog) -> None:
    body = {"error": f"key {KEY} is revoked"}
    transport = httpx.MockTransport(lambda request: httpx.Response(401, json=body))
    manager = manager_with(transport, api_key=KEY)
    caplog.set_level(logging.DEBUG, logger="jtd_ai")
    with pytest.raises(InvalidCredentialsError):
        manager.driver().send_message("hi")
    assert caplog.records, "the failed call should have been logged"
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(getattr(record, "jtd_ai", ""))


def test_the_key_travels_in_a_header_not_the_url(manager_with) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"model": "echo-1", "content": "ok",
                                         "finish_reason": "stop",
                                         "usage": {"input": 1, "output": 1}})

    manager_with(httpx.MockTransport(handler), api_key=KEY).driver().send_message("hi")
    assert KEY not in str(seen[0].url)
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
