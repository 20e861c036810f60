"""A name that resolves to ::1 first and 127.0.0.1 second, where only 127.0.0.1 serves (the
fake provider server listens there alone): the call must fall through to the address that
works, promptly.

No system file is edited: ``socket.getaddrinfo`` is replaced in this process for one made-up
name. Both libraries resolve through it: httpx's sync connect calls
``socket.create_connection``, which calls ``socket.getaddrinfo``; aiohttp's default resolver
(ThreadedResolver, as aiodns is not installed) and anyio's (httpx async) call
``loop.getaddrinfo``, which runs ``socket.getaddrinfo`` in a thread. The stub counts its
answers, so a test also shows the name was resolved through it.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from netcalls import KINDS, MODES, REPLY, Calls, port_of
from netkit import Listening

from jtd_ai.testing import FakeProviderServer

NAME = "dualstack.test"
#: Falling through a refused first address must be quick.
PROMPT_FALL_THROUGH = 2.0
#: The connect timeout of the test with a first address that never answers.
CONNECT_TIMEOUT = 1.0


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _ipv6_loopback(),
                                reason="IPv6 loopback (::1) is not available on this machine")


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Makes NAME resolve to [::1, 127.0.0.1] in this process; returns the stub's answers."""
    real = socket.getaddrinfo
    answers: list[Any] = []

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                    flags: int = 0) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name != NAME:
            return real(host, port, family, type, proto, flags)
        number = int(port or 0)
        both = [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                 ("::1", number, 0, 0)),
                (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                 ("127.0.0.1", number))]
        answer = [entry for entry in both if family in (0, entry[0])]
        answers.append(answer)
        return answer

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def refused_v6(fake: FakeProviderServer) -> None:
    """[::1] at the fake server's port refuses connections (nobody listens there)."""
    with socket.socket(socket.AF_INET6) as probe:
        probe.settimeout(2)
        result = probe.connect_ex(("::1", port_of(fake)))
    if result != errno.ECONNREFUSED:
        pytest.skip(f"[::1]:{port_of(fake)} does not refuse connections (connect_ex: {result})")


@pytest.fixture
def silent_v6(fake: FakeProviderServer) -> Iterator[None]:
    """[::1] at the fake server's port never answers a connect: a socket listens there with
    its accept queue full, so the kernel drops each new SYN, as for a host that is down."""
    sock = socket.socket(socket.AF_INET6)
    try:
        sock.bind(("::1", port_of(fake)))
    except OSError as exc:
        sock.close()
        pytest.skip(f"cannot listen on [::1]:{port_of(fake)}: {exc}")
    sock.listen(0)
    silent = Listening(sock)
    try:
        filler = socket.socket(socket.AF_INET6)
        filler.settimeout(2)
        filler.connect(("::1", port_of(fake)))  # fills the queue: never accepted
        silent.fillers.append(filler)
        probe = socket.socket(socket.AF_INET6)
        silent.fillers.append(probe)
        probe.settimeout(0.3)
        try:
            probe.connect(("::1", port_of(fake)))
        except TimeoutError:
            pass
        else:
            pytest.skip("this kernel accepts connections past a full accept queue")
        yield
    finally:
        silent.close()


@pytest.mark.usefixtures("refused_v6")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_a_refused_first_address_falls_through_to_the_next(
        fake: FakeProviderServer, resolved: list[Any], calls: Calls, mode: str,
        kind: str) -> None:
    driver = calls.driver("openai", f"http://{NAME}:{port_of(fake)}/v1", mode, retry_attempts=1)
    outcome = calls.call(driver, mode, kind)
    assert outcome.ok().content == REPLY
    assert resolved, "the name was not resolved through the stub"
    assert outcome.elapsed < PROMPT_FALL_THROUGH, f"{outcome.elapsed:.2f} s"
    assert outcome.attempts == 1


@pytest.mark.usefixtures("silent_v6")
@pytest.mark.parametrize("mode", MODES)
def test_a_silent_first_address_falls_through_to_the_next(
        fake: FakeProviderServer, resolved: list[Any], calls: Calls, mode: str) -> None:
    """A first address that never answers. Async calls race the next address after 250 ms
    (happy eyeballs: aiohttp's, and anyio's under httpx): well under 2 s. Sync calls (httpx,
    ``socket.create_connection``) try the addresses one after the other, each for the
    connect timeout: they succeed after about ``connect_timeout``, as httpx does."""
    driver = calls.driver("openai", f"http://{NAME}:{port_of(fake)}/v1", mode, retry_attempts=1,
                          connect_timeout=CONNECT_TIMEOUT)
    outcome = calls.call(driver, mode, "send")
    assert outcome.ok().content == REPLY
    assert resolved
    bound = CONNECT_TIMEOUT + 1.0 if mode == "sync" else PROMPT_FALL_THROUGH
    assert outcome.elapsed < bound, f"{outcome.elapsed:.2f} s"
    assert outcome.attempts == 1
