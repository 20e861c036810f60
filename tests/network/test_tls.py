"""TLS against servers with certificates from a private CA (trustme): rejected by default
(certifi's bundle), accepted through each documented option (``ca_bundle``, SSL_CERT_FILE,
``trust_store = "system"``, ``verify = false``), a wrong hostname and an expired certificate
rejected, a missing ``ca_bundle`` a ConfigurationError naming it.

The servers are TLS terminators (helpers/netkit.py, ``TLSRelay``) in front of the fake
provider server; each counts the TCP connections it accepted, so "not retried" is what the
wire saw: one connection for one attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from netcalls import KEY, KINDS, MODES, REPLY, Calls, assert_hidden, port_of, shown_texts
from netkit import BackgroundLoop, Certs, TLSRelay

from jtd_ai import ConfigurationError, ProviderUnavailableError
from jtd_ai.testing import FakeProviderServer


@pytest.fixture(scope="module")
def wrong_host(loop: BackgroundLoop, certs: Certs,
               fake_server: FakeProviderServer) -> Iterator[TLSRelay]:
    """A certificate from the private CA, for other.test, served at 127.0.0.1."""
    relay = loop.run(TLSRelay(port_of(fake_server), certs.server_context(certs.wrong_host)).start())
    yield relay
    loop.run(relay.stop())


@pytest.fixture(scope="module")
def expired(loop: BackgroundLoop, certs: Certs,
            fake_server: FakeProviderServer) -> Iterator[TLSRelay]:
    """A certificate from the private CA for 127.0.0.1 that ran out yesterday."""
    relay = loop.run(TLSRelay(port_of(fake_server), certs.server_context(certs.expired)).start())
    yield relay
    loop.run(relay.stop())


def expect_rejected(calls: Calls, relay: TLSRelay, mode: str, kind: str = "send",
                    **settings: object) -> ProviderUnavailableError:
    """The call fails with a non-retryable TLS error that says what to set, after exactly one
    connection (retries are on: ``retry_attempts = 3``)."""
    before = relay.connections
    driver = calls.driver("openai", relay.url + "/v1", mode, **settings)
    outcome = calls.call(driver, mode, kind)
    error = outcome.failed(ProviderUnavailableError)
    assert error.retryable is False
    assert "TLS" in str(error)
    assert "ca_bundle" in str(error) and "trust_store" in str(error)
    assert outcome.attempts == 1
    assert relay.connections - before == 1, "the server saw more than one attempt"
    assert_hidden([KEY], shown_texts(error=error))
    return error


def expect_accepted(calls: Calls, relay: TLSRelay, mode: str, kind: str = "send",
                    **settings: object) -> None:
    before = relay.handshakes
    driver = calls.driver("openai", relay.url + "/v1", mode, **settings)
    assert calls.call(driver, mode, kind).ok().content == REPLY
    assert relay.handshakes > before  # it was TLS, through this server


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_a_private_ca_is_rejected_by_default(tls_front: TLSRelay, calls: Calls, mode: str,
                                             kind: str) -> None:
    error = expect_rejected(calls, tls_front, mode, kind)
    assert "certificate verify failed" in str(error)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_a_private_ca_is_accepted_with_ca_bundle(tls_front: TLSRelay, certs: Certs,
                                                 calls: Calls, mode: str, kind: str) -> None:
    expect_accepted(calls, tls_front, mode, kind, ca_bundle=str(certs.ca_file))


@pytest.mark.parametrize("mode", MODES)
def test_a_private_ca_is_accepted_through_ssl_cert_file(
        tls_front: TLSRelay, certs: Certs, calls: Calls, monkeypatch: pytest.MonkeyPatch,
        mode: str) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))
    expect_accepted(calls, tls_front, mode)


@pytest.mark.parametrize("mode", MODES)
def test_trust_store_system_uses_the_operating_systems_store(
        tls_front: TLSRelay, certs: Certs, calls: Calls, monkeypatch: pytest.MonkeyPatch,
        mode: str) -> None:
    """``trust_store = "system"`` goes through truststore, which on Linux verifies with
    OpenSSL's default verify paths: the system store, whose file SSL_CERT_FILE names when it
    is set (truststore/_openssl.py: ``ssl.get_default_verify_paths()`` then
    ``set_default_verify_paths()``, on every connection). So, without editing the machine's
    store: the private CA is rejected while the system store does not hold it, and accepted
    once OpenSSL's default file is the CA. This proves the option reaches the OS-store
    verifier both backends use, not that every OS store works."""
    import truststore

    expect_rejected(calls, tls_front, mode, trust_store="system")
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))
    expect_accepted(calls, tls_front, mode, trust_store="system")
    context = calls.managers[-1].driver("p").transport.network.ssl_context()
    assert isinstance(context, truststore.SSLContext)


@pytest.mark.parametrize("mode", MODES)
def test_verify_false_accepts_any_certificate_with_a_warning(
        wrong_host: TLSRelay, calls: Calls, caplog: pytest.LogCaptureFixture,
        mode: str) -> None:
    """A certificate for another name, from a CA nobody trusts: accepted, and a WARNING says
    the traffic is not protected."""
    caplog.set_level(logging.WARNING)
    expect_accepted(calls, wrong_host, mode, verify=False)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and "verify = false" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert "NOT checked" in warnings[0].getMessage()


@pytest.mark.parametrize("mode", MODES)
def test_a_wrong_hostname_is_rejected(wrong_host: TLSRelay, certs: Certs, calls: Calls,
                                      mode: str) -> None:
    error = expect_rejected(calls, wrong_host, mode, ca_bundle=str(certs.ca_file))
    assert "mismatch" in str(error) or "not valid for" in str(error)


@pytest.mark.parametrize("mode", MODES)
def test_an_expired_certificate_is_rejected(expired: TLSRelay, certs: Certs, calls: Calls,
                                            mode: str) -> None:
    error = expect_rejected(calls, expired, mode, ca_bundle=str(certs.ca_file))
    assert "expired" in str(error)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_a_missing_ca_bundle_is_a_configuration_error_naming_it(
        tls_front: TLSRelay, calls: Calls, tmp_path: Path, mode: str, kind: str) -> None:
    missing = tmp_path / "no-such-ca.pem"
    before = tls_front.connections
    driver = calls.driver("openai", tls_front.url + "/v1", mode, ca_bundle=str(missing))
    error = calls.call(driver, mode, kind).failed(ConfigurationError)
    assert str(missing) in str(error)
    assert "ca_bundle" in str(error)
    assert tls_front.connections == before  # nothing was sent
