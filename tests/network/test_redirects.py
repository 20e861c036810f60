"""Redirects, answered by real servers on loopback: forwarders in front of the fake provider
server (helpers/netkit.py) that redirect by their path, record every request they receive
(headers unmasked) and forward the rest.

Paths of the front (``A``):

- ``/r/STATUS/N/rest``: N > 0 redirects with STATUS to ``/r/STATUS/N-1/rest`` (a relative
  Location, same origin); N = 0 forwards ``/rest`` to the fake server;
- ``/to/STATUS/PORT/rest``: redirects with STATUS to ``http://127.0.0.1:PORT/rest`` (another
  origin: the second forwarder ``B``).

The fake server has no key of its own, so a request that lost its Authorization is still
answered: what matters is what each server saw.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp import web
from netcalls import KEY, KINDS, MODES, PROMPT, REPLY, Calls, assert_hidden, origin, shown_texts
from netkit import BackgroundLoop, Certs, Forwarder, Seen, TLSRelay, redirect

from jtd_ai import ProviderError
from jtd_ai.testing import FakeProviderServer

CHAT = "/v1/chat/completions"


def rule(seen: Seen) -> web.StreamResponse | str | None:
    parts = seen.path.split("/", 4)
    if len(parts) == 5 and parts[1] == "r":
        status, left, rest = int(parts[2]), int(parts[3]), parts[4]
        if left > 0:
            return redirect(status, f"/r/{status}/{left - 1}/{rest}")
        return "/" + rest
    if len(parts) == 5 and parts[1] == "to":
        status, port, rest = int(parts[2]), int(parts[3]), parts[4]
        return redirect(status, f"http://127.0.0.1:{port}/{rest}")
    return None


@pytest.fixture
def front(loop: BackgroundLoop, fake: FakeProviderServer) -> Iterator[Forwarder]:
    """``A``: redirects by its path, forwards the rest to the fake server."""
    made = loop.run(Forwarder(origin(fake), rule=rule).start())
    yield made
    loop.run(made.stop())


@pytest.fixture
def other(loop: BackgroundLoop, fake: FakeProviderServer) -> Iterator[Forwarder]:
    """``B``: another origin (another port), forwarding everything to the fake server."""
    made = loop.run(Forwarder(origin(fake)).start())
    yield made
    loop.run(made.stop())


def chat_bodies(fake: FakeProviderServer) -> list[bytes]:
    return [r.body for r in fake.requests if r.method == "POST" and r.path == CHAT]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [307, 308])
def test_307_and_308_on_post_are_followed_with_method_and_body(
        front: Forwarder, fake: FakeProviderServer, calls: Calls, status: int, mode: str,
        kind: str) -> None:
    driver = calls.driver("openai", f"{front.url}/r/{status}/1/v1", mode)
    calls.call(driver, mode, kind).ok()
    first, second = front.seen
    assert (first.method, first.path) == ("POST", f"/r/{status}/1{CHAT}")
    assert (second.method, second.path) == ("POST", f"/r/{status}/0{CHAT}")
    assert second.body == first.body and PROMPT.encode() in first.body
    # The same origin: the key goes along.
    assert first.headers["authorization"] == second.headers["authorization"] == f"Bearer {KEY}"
    assert chat_bodies(fake) == [first.body]


@pytest.mark.parametrize("mode", MODES)
def test_five_hops_are_followed_and_a_sixth_is_refused(front: Forwarder,
                                                       fake: FakeProviderServer,
                                                       calls: Calls, mode: str) -> None:
    five = calls.driver("openai", f"{front.url}/r/307/5/v1", mode)
    assert calls.call(five, mode, "send").ok().content == REPLY
    assert len(front.seen) == 6  # the request and 5 redirected ones
    front.seen.clear()
    fake.requests.clear()
    six = calls.driver("openai", f"{front.url}/r/307/6/v1", mode)
    outcome = calls.call(six, mode, "send")
    error = outcome.failed(ProviderError)
    assert "redirect" in str(error)
    assert len(front.seen) == 6  # the sixth redirect was not followed, nor the call retried
    assert chat_bodies(fake) == []
    assert outcome.attempts == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_to_another_origin_drops_the_authorization(
        front: Forwarder, other: Forwarder, fake: FakeProviderServer, calls: Calls,
        status: int, mode: str, kind: str) -> None:
    driver = calls.driver("openai", f"{front.url}/to/{status}/{other.port}/v1", mode)
    assert calls.call(driver, mode, kind).ok().content == REPLY
    (first,) = front.seen
    (moved,) = other.seen
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert "authorization" not in moved.headers  # the other origin never sees the key
    assert all(KEY not in value for value in moved.headers.values())
    assert (moved.method, moved.path, moved.body) == ("POST", CHAT, first.body)


@pytest.fixture
def tls_redirector(loop: BackgroundLoop, certs: Certs, front: Forwarder) -> Iterator[TLSRelay]:
    """``A`` behind TLS."""
    relay = loop.run(TLSRelay(front.port, certs.server_context(certs.good)).start())
    yield relay
    loop.run(relay.stop())


@pytest.mark.parametrize("mode", MODES)
def test_a_redirect_from_https_to_http_is_refused(tls_redirector: TLSRelay, front: Forwarder,
                                                  other: Forwarder, certs: Certs,
                                                  calls: Calls, mode: str) -> None:
    driver = calls.driver("openai", f"{tls_redirector.url}/to/307/{other.port}/v1", mode,
                          ca_bundle=str(certs.ca_file))
    outcome = calls.call(driver, mode, "send")
    error = outcome.failed(ProviderError)
    assert f"http://127.0.0.1:{other.port}{CHAT}" in str(error)
    assert "https" in str(error)
    assert len(front.seen) == 1  # through TLS, once
    assert other.seen == []  # nothing went out in the clear
    assert outcome.attempts == 1
    assert_hidden([KEY], shown_texts(error=error))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [301, 302, 303])
def test_301_302_303_answering_a_post_is_an_error_naming_the_location(
        front: Forwarder, fake: FakeProviderServer, calls: Calls, status: int, mode: str,
        kind: str) -> None:
    driver = calls.driver("openai", f"{front.url}/r/{status}/1/v1", mode)
    outcome = calls.call(driver, mode, kind)
    error = outcome.failed(ProviderError)
    assert f"{front.url}/r/{status}/0{CHAT}" in str(error)  # where it should point instead
    assert getattr(error, "status", None) == status
    assert len(front.seen) == 1  # not followed (as a GET, dropping the body), not retried
    assert chat_bodies(fake) == []
    assert outcome.attempts == 1
    assert_hidden([KEY], shown_texts(error=error))


@pytest.mark.parametrize("mode", MODES)
def test_a_models_listing_follows_a_301(front: Forwarder, calls: Calls, mode: str) -> None:
    driver = calls.driver("openai", f"{front.url}/r/301/1/v1", mode)
    models = calls.models(driver, mode)
    assert "gpt-4o-mini" in {model.id for model in models}
    assert [(seen.method, seen.path) for seen in front.seen] == [
        ("GET", "/r/301/1/v1/models"), ("GET", "/r/301/0/v1/models")]


@pytest.mark.parametrize("mode", MODES)
def test_a_redirect_to_another_origin_drops_basic_auth_from_base_url(
        front: Forwarder, other: Forwarder, calls: Calls, mode: str) -> None:
    """Credentials written in base_url are for its origin only, like an API key."""
    driver = calls.driver("ollama", f"http://alice:s3cret-pw-0042@127.0.0.1:{front.port}"
                                    f"/to/307/{other.port}", mode)
    assert calls.call(driver, mode, "send").ok().content == REPLY
    (first,) = front.seen
    (moved,) = other.seen
    assert first.headers["authorization"].startswith("Basic ")
    assert "authorization" not in moved.headers
    assert (moved.method, moved.path, moved.body) == ("POST", "/api/chat", first.body)
