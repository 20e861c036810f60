"""Credentials in ``base_url`` (``http://user:p%40ss@host``) are sent as Basic auth, decoded,
and the password appears in no error (with its whole cause/context chain), log record (all
loggers, DEBUG) or repr.

A forwarder in front of the fake provider server (helpers/netkit.py) records the headers the
way they arrive (the fake server's own record masks them). The Ollama driver is used: it
sends no Authorization of its own.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import pytest
from netcalls import (
    KINDS,
    MODES,
    REPLY,
    Calls,
    assert_hidden,
    origin,
    secret_forms,
    shown_texts,
)
from netkit import BackgroundLoop, Forwarder

from jtd_ai import ConfigurationError, ProviderUnavailableError
from jtd_ai.testing import FakeProviderServer, Fault

USER = "alice"
PASSWORD = "p@ss-w0rd-5521"  # as the server must receive it
WRITTEN = "p%40ss-w0rd-5521"  # as written in the URL
SECRETS = secret_forms(PASSWORD, user=USER, encoded=WRITTEN)


@pytest.fixture
def front(loop: BackgroundLoop, fake: FakeProviderServer) -> Iterator[Forwarder]:
    made = loop.run(Forwarder(origin(fake)).start())
    yield made
    loop.run(made.stop())


def base_url(front: Forwarder) -> str:
    return f"http://{USER}:{WRITTEN}@127.0.0.1:{front.port}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_credentials_in_base_url_are_sent_as_basic_auth(front: Forwarder, calls: Calls,
                                                        mode: str, kind: str) -> None:
    driver = calls.driver("ollama", base_url(front), mode)
    assert calls.call(driver, mode, kind).ok().content == REPLY
    (seen,) = [s for s in front.seen if s.path == "/api/chat"]
    scheme, _, token = seen.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"{USER}:{PASSWORD}"  # decoded %40
    assert seen.headers["host"] == f"127.0.0.1:{front.port}"  # no user info anywhere else
    assert all(PASSWORD not in value and WRITTEN not in value
               for name, value in seen.headers.items() if name != "authorization")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_the_password_is_never_shown(front: Forwarder, fake: FakeProviderServer, calls: Calls,
                                     caplog: pytest.LogCaptureFixture, mode: str,
                                     kind: str) -> None:
    """A 500 three times (retried, then given up): the error, its chain, every log record
    and the reprs of what the application holds show no form of the password."""
    caplog.set_level(logging.DEBUG)
    fake.inject(Fault(status=500), times=3)
    driver = calls.driver("ollama", base_url(front), mode)
    outcome = calls.call(driver, mode, kind)
    error = outcome.failed(ProviderUnavailableError)
    assert outcome.attempts == 3
    assert len([s for s in front.seen if s.path == "/api/chat"]) == 3
    manager = calls.manager_of(driver)
    texts = shown_texts(error=error, records=caplog.records,
                        objects=[driver, driver.config, manager, driver.transport])
    assert any(f"127.0.0.1:{front.port}" in text for text in texts)  # the URL is shown...
    assert_hidden(SECRETS, texts)  # ...without its password


@pytest.mark.parametrize("mode", MODES)
def test_credentials_in_base_url_beside_an_api_key_are_refused(front: Forwarder, calls: Calls,
                                                               mode: str) -> None:
    """The documented choice: a driver that sends its own Authorization (the API key) and a
    user and password in base_url is a ConfigurationError, before any request."""
    driver = calls.driver("openai", base_url(front) + "/v1", mode)
    outcome = calls.call(driver, mode, "send")
    error = outcome.failed(ConfigurationError)
    assert "base_url" in str(error)
    assert front.seen == []
    assert_hidden(SECRETS, shown_texts(error=error, objects=[driver.config]))
