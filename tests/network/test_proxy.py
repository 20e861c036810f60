"""Through a real HTTP proxy: ``proxy.py`` (PyPI) started in a subprocess on 127.0.0.1 by the
suite's fixtures (helpers/netkit.py, ``ProxyPy``): without auth, with Basic auth (its password
holds "@" and ":", percent-encoded in the proxy URL), and serving TLS (an https:// proxy).
The proxy is named by the ``proxy`` setting or by HTTP_PROXY / HTTPS_PROXY / ALL_PROXY (and
lower-case forms), minus NO_PROXY.

What proves the traffic went through the proxy: for plain http, the fake provider server sees
the ``Via: 1.1 proxy.py`` header the proxy adds; for https, the proxy's access log has the
``CONNECT`` line for the TLS server (written when the tunnel closes, so the client's
connections are closed first); and a stopped proxy makes the call fail. Where a proxy must
NOT be used, the environment names a dead one (a closed port), so using it would fail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from netcalls import (
    KINDS,
    MODES,
    REPLY,
    Calls,
    assert_hidden,
    port_of,
    secret_forms,
    shown_texts,
)
from netkit import PROXY_PASSWORD, PROXY_USER, Certs, ProxyPy, TLSRelay, closed_port

from jtd_ai import ProviderError, ProviderUnavailableError
from jtd_ai.testing import FakeProviderServer

CHAT = "/v1/chat/completions"
WRONG_PASSWORD = "wr0ng-Pa55-8812"
def dead_proxy() -> str:
    return f"http://127.0.0.1:{closed_port()}"


def proxied_chats(fake: FakeProviderServer) -> list[str]:
    """The ``via`` header of each chat request the fake server received ("" if none)."""
    return [r.headers.get("via", "") for r in fake.requests
            if r.method == "POST" and r.path == CHAT]


def expect_via_proxy(fake: FakeProviderServer, proxy: ProxyPy, mark: int,
                     calls: Calls) -> None:
    assert len(proxied_chats(fake)) == 1
    assert "proxy.py" in proxied_chats(fake)[0], "the request did not come through the proxy"
    calls.close()  # the proxy writes its access line when the client's connection closes
    assert proxy.wait_access(mark, f"POST 127.0.0.1:{port_of(fake)}{CHAT}")


def expect_tunnel(proxy: ProxyPy, mark: int, relay: TLSRelay, calls: Calls) -> None:
    calls.close()
    assert proxy.wait_access(mark, f"CONNECT 127.0.0.1:{relay.port}"), (
        "no CONNECT through the proxy to the TLS server")


# -- plain http ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_the_proxy_setting_carries_plain_http(proxy: ProxyPy, fake: FakeProviderServer,
                                              calls: Calls, mode: str, kind: str) -> None:
    mark = proxy.mark()
    driver = calls.driver("openai", fake.base_url("openai"), mode, proxy=proxy.url)
    assert calls.call(driver, mode, kind).ok().content == REPLY
    expect_via_proxy(fake, proxy, mark, calls)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_a_proxy_from_the_environment_carries_plain_http(
        proxy: ProxyPy, fake: FakeProviderServer, calls: Calls,
        monkeypatch: pytest.MonkeyPatch, variable: str, mode: str, kind: str) -> None:
    monkeypatch.setenv(variable, proxy.url)
    if variable.lower() == "http_proxy":
        monkeypatch.setenv("HTTPS_PROXY", dead_proxy())  # for https only: must not be used
    mark = proxy.mark()
    driver = calls.driver("openai", fake.base_url("openai"), mode)
    assert calls.call(driver, mode, kind).ok().content == REPLY
    expect_via_proxy(fake, proxy, mark, calls)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("variable", ["NO_PROXY", "no_proxy"])
def test_no_proxy_exempts_a_host(fake: FakeProviderServer, calls: Calls,
                                 monkeypatch: pytest.MonkeyPatch, variable: str,
                                 mode: str) -> None:
    monkeypatch.setenv("HTTP_PROXY", dead_proxy())
    monkeypatch.setenv(variable, "localhost,127.0.0.1")
    driver = calls.driver("openai", fake.base_url("openai"), mode)
    assert calls.call(driver, mode, "send").ok().content == REPLY
    assert proxied_chats(fake) == [""]  # straight to the server


@pytest.mark.parametrize("mode", MODES)
def test_a_proxy_from_the_environment_is_really_used_and_an_empty_setting_turns_it_off(
        fake: FakeProviderServer, calls: Calls, monkeypatch: pytest.MonkeyPatch,
        mode: str) -> None:
    """The control for the NO_PROXY test: the same dead proxy, not exempted, fails the
    call; ``proxy = ""`` ignores the environment."""
    monkeypatch.setenv("HTTP_PROXY", dead_proxy())
    driver = calls.driver("openai", fake.base_url("openai"), mode, retry_attempts=1)
    calls.call(driver, mode, "send").failed(ProviderUnavailableError)
    assert proxied_chats(fake) == []
    direct = calls.driver("openai", fake.base_url("openai"), mode, proxy="")
    assert calls.call(direct, mode, "send").ok().content == REPLY


@pytest.fixture
def own_proxy(tmp_path: Path) -> Iterator[ProxyPy]:
    """A proxy of the test's own, which the test may stop early."""
    running = ProxyPy(tmp_path / "own-proxy").start()
    yield running
    running.stop()


@pytest.mark.parametrize("mode", MODES)
def test_a_stopped_proxy_fails_the_call(fake: FakeProviderServer, calls: Calls,
                                        own_proxy: ProxyPy, mode: str) -> None:
    own = own_proxy
    driver = calls.driver("openai", fake.base_url("openai"), mode, proxy=own.url,
                          retry_attempts=1)
    assert calls.call(driver, mode, "send").ok().content == REPLY
    assert "proxy.py" in proxied_chats(fake)[0]
    calls.close()
    own.stop()
    assert not own.running
    again = calls.driver("openai", fake.base_url("openai"), mode, proxy=own.url,
                         retry_attempts=1)
    calls.call(again, mode, "send").failed(ProviderUnavailableError)
    assert len(proxied_chats(fake)) == 1  # only the call made while the proxy ran


# -- https through CONNECT -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", ["setting", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_https_goes_through_a_connect_tunnel(proxy: ProxyPy, tls_front: TLSRelay,
                                             certs: Certs, calls: Calls,
                                             monkeypatch: pytest.MonkeyPatch, source: str,
                                             mode: str, kind: str) -> None:
    settings: dict[str, object] = {"ca_bundle": str(certs.ca_file)}
    if source == "setting":
        settings["proxy"] = proxy.url
    else:
        monkeypatch.setenv(source, proxy.url)
        if source != "ALL_PROXY":
            monkeypatch.setenv("HTTP_PROXY", dead_proxy())  # for http only: must not be used
    mark = proxy.mark()
    driver = calls.driver("openai", tls_front.url + "/v1", mode, **settings)
    assert calls.call(driver, mode, kind).ok().content == REPLY
    expect_tunnel(proxy, mark, tls_front, calls)


@pytest.mark.parametrize("mode", MODES)
def test_tls_inside_the_tunnel_is_still_verified(proxy: ProxyPy, tls_front: TLSRelay,
                                                 calls: Calls, mode: str) -> None:
    """Through the proxy, without ca_bundle: the private CA is rejected end to end (the
    proxy only carries bytes), with the same non-retried TLS error as without a proxy."""
    connections = tls_front.connections
    driver = calls.driver("openai", tls_front.url + "/v1", mode, proxy=proxy.url)
    outcome = calls.call(driver, mode, "send")
    error = outcome.failed(ProviderUnavailableError)
    assert error.retryable is False
    assert "certificate verify failed" in str(error) and "ca_bundle" in str(error)
    assert outcome.attempts == 1
    assert tls_front.connections - connections == 1  # one tunnel, once


# -- proxy credentials -----------------------------------------------------------------------

SECRETS = [*secret_forms(PROXY_PASSWORD, user=PROXY_USER, encoded=quote(PROXY_PASSWORD, safe="")),
           *secret_forms(WRONG_PASSWORD, user=PROXY_USER)]


def credentials_params() -> list[object]:
    params: list[object] = []
    for target in ("http", "https"):
        for source in ("setting", "environment"):
            for mode in MODES:
                marks: list[pytest.MarkDecorator] = []
                params.append(pytest.param(target, source, mode, marks=marks,
                                           id=f"{target}-{source}-{mode}"))
    return params


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("target", "source", "mode"), credentials_params())
def test_an_authenticating_proxy_takes_the_credentials_in_its_url(
        auth_proxy: ProxyPy, fake: FakeProviderServer, tls_front: TLSRelay, certs: Certs,
        calls: Calls, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        target: str, source: str, mode: str, kind: str) -> None:
    caplog.set_level(logging.DEBUG)
    proxy_url = auth_proxy.url_with(PROXY_USER, PROXY_PASSWORD)
    settings: dict[str, object] = {"ca_bundle": str(certs.ca_file)}
    if source == "setting":
        settings["proxy"] = proxy_url
    else:
        monkeypatch.setenv("HTTPS_PROXY" if target == "https" else "HTTP_PROXY", proxy_url)
    base = tls_front.url + "/v1" if target == "https" else fake.base_url("openai")
    mark = auth_proxy.mark()
    driver = calls.driver("openai", base, mode, **settings)
    outcome = calls.call(driver, mode, kind)
    texts = shown_texts(error=outcome.error, records=caplog.records,
                        objects=[driver, driver.config, calls.manager_of(driver)])
    assert_hidden(SECRETS, texts)
    assert outcome.ok().content == REPLY
    if target == "https":
        expect_tunnel(auth_proxy, mark, tls_front, calls)
    else:
        expect_via_proxy(fake, auth_proxy, mark, calls)


def hiding_params() -> list[object]:
    params: list[object] = []
    for target in ("http", "https"):
        for mode in MODES:
            marks: list[pytest.MarkDecorator] = []
            params.append(pytest.param(target, mode, marks=marks, id=f"{target}-{mode}"))
    return params


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", ["http", "https"])
def test_wrong_proxy_credentials_are_a_typed_error_not_retried(
        auth_proxy: ProxyPy, fake: FakeProviderServer, tls_front: TLSRelay, certs: Certs,
        calls: Calls, target: str, mode: str) -> None:
    """407 from the proxy: a ProviderError (for https, the refused CONNECT is a
    ProviderUnavailableError) that is not retried; nothing reached the provider."""
    base = tls_front.url + "/v1" if target == "https" else fake.base_url("openai")
    connections = tls_front.connections
    driver = calls.driver("openai", base, mode, ca_bundle=str(certs.ca_file),
                          proxy=auth_proxy.url_with(PROXY_USER, WRONG_PASSWORD))
    outcome = calls.call(driver, mode, "send")
    error = outcome.failed(ProviderUnavailableError if target == "https" else ProviderError)
    assert error.retryable is False
    assert "proxy" in str(error).lower()
    assert "407" in str(error) or error.status == 407
    assert outcome.attempts == 1
    assert proxied_chats(fake) == [] and tls_front.connections == connections


@pytest.mark.parametrize(("target", "mode"), hiding_params())
def test_wrong_proxy_credentials_show_no_password(
        auth_proxy: ProxyPy, fake: FakeProviderServer, tls_front: TLSRelay, certs: Certs,
        calls: Calls, caplog: pytest.LogCaptureFixture, target: str, mode: str) -> None:
    """Neither the wrong password nor its Basic token is in the error, its cause/context
    chain, a log record (DEBUG, every logger) or a repr."""
    caplog.set_level(logging.DEBUG)
    base = tls_front.url + "/v1" if target == "https" else fake.base_url("openai")
    driver = calls.driver("openai", base, mode, ca_bundle=str(certs.ca_file),
                          proxy=auth_proxy.url_with(PROXY_USER, WRONG_PASSWORD))
    error = calls.call(driver, mode, "send").failed(ProviderError)
    texts = shown_texts(error=error, records=caplog.records,
                        objects=[driver, driver.config, calls.manager_of(driver)])
    assert_hidden(SECRETS, texts)


@pytest.mark.parametrize(("target", "mode"), hiding_params())
def test_the_proxy_password_is_never_shown_when_the_call_fails_behind_the_proxy(
        auth_proxy: ProxyPy, calls: Calls, certs: Certs, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, target: str, mode: str) -> None:
    """Right credentials, from the environment, and a provider that is down behind the proxy
    (it answers 502, retried for http): nothing shown holds the password."""
    caplog.set_level(logging.DEBUG)
    proxy_url = auth_proxy.url_with(PROXY_USER, PROXY_PASSWORD)
    monkeypatch.setenv("HTTPS_PROXY" if target == "https" else "HTTP_PROXY", proxy_url)
    driver = calls.driver("openai", f"{target}://127.0.0.1:{closed_port()}/v1", mode,
                          ca_bundle=str(certs.ca_file))
    outcome = calls.call(driver, mode, "send")
    error = outcome.failed(ProviderError)
    texts = shown_texts(error=error, records=caplog.records,
                        objects=[driver, driver.config, calls.manager_of(driver)])
    assert_hidden(SECRETS, texts)


# -- an https:// proxy -------------------------------------------------------------------------

def https_proxy_params() -> list[object]:
    return [pytest.param(mode, id=mode)
            for mode in MODES]


@pytest.mark.parametrize("mode", https_proxy_params())
def test_an_https_proxy_is_verified_with_the_providers_tls_settings(
        tls_proxy: ProxyPy, fake: FakeProviderServer, certs: Certs, calls: Calls,
        mode: str) -> None:
    """``proxy = "https://..."`` whose certificate comes from the private CA named by
    ``ca_bundle``: one TLS policy per provider (the design) covers the proxy too."""
    driver = calls.driver("openai", fake.base_url("openai"), mode, proxy=tls_proxy.url,
                          ca_bundle=str(certs.ca_file), retry_attempts=1)
    assert calls.call(driver, mode, "send").ok().content == REPLY
    assert "proxy.py" in proxied_chats(fake)[0]
