"""Fixtures of the network suite: real components on loopback, each started here and stopped
after (the toolkit is ``helpers/netkit.py``; drivers and calls are ``helpers/netcalls.py``).

Every test starts from an environment without proxy variables and without SSL_CERT_FILE /
SSL_CERT_DIR (a developer's or CI's own settings must not decide a result); a test that
needs one sets it with ``monkeypatch``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from netcalls import Calls, port_of
from netkit import PROXY_PASSWORD, PROXY_USER, BackgroundLoop, Certs, ProxyPy, TLSRelay

from jtd_ai.testing import FakeProviderServer


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def loop() -> Iterator[BackgroundLoop]:
    """One background event loop for the suite's own servers."""
    running = BackgroundLoop()
    yield running
    running.close()


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProviderServer]:
    """The fake provider server, without an API key of its own (a request without one, as
    after a redirect to another origin, is still answered)."""
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProviderServer) -> Iterator[FakeProviderServer]:
    """The suite's fake server with no faults and no recorded requests left from others."""
    fake_server.clear_faults()
    fake_server.requests.clear()
    yield fake_server
    fake_server.clear_faults()


@pytest.fixture
def calls() -> Iterator[Calls]:
    made = Calls()
    yield made
    made.close()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def tls_front(loop: BackgroundLoop, certs: Certs,
              fake_server: FakeProviderServer) -> Iterator[TLSRelay]:
    """The fake server behind TLS, with a certificate for 127.0.0.1 from the private CA."""
    relay = loop.run(TLSRelay(port_of(fake_server), certs.server_context(certs.good)).start())
    yield relay
    loop.run(relay.stop())


@pytest.fixture(scope="session")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyPy]:
    """A real HTTP proxy (proxy.py) without authentication."""
    running = ProxyPy(tmp_path_factory.mktemp("proxy")).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def auth_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyPy]:
    """A real HTTP proxy (proxy.py) demanding Basic auth."""
    running = ProxyPy(tmp_path_factory.mktemp("auth-proxy"),
                      basic_auth=f"{PROXY_USER}:{PROXY_PASSWORD}").start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def tls_proxy(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[ProxyPy]:
    """A real https:// proxy (proxy.py serving TLS with a certificate from the private CA)."""
    folder = tmp_path_factory.mktemp("tls-proxy")
    running = ProxyPy(folder, tls=certs.write_pair(certs.good, "proxy")).start()
    yield running
    running.stop()
