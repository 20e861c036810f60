"""A server that closes idle kept-alive connections without notice (no ``Connection: close``),
as llama.cpp's server does about 10 ms after a reply: 30 sequential calls with pauses of
20-50 ms, sync and async, with ``retry_attempts = 1`` so a reused dead connection would be a
user-visible failure. Expected: none.

The server is a forwarder in front of the fake provider server (helpers/netkit.py) that
closes each connection 10 ms after its reply went idle: ``fin`` by aiohttp.web's keep-alive
timeout (an orderly close), ``rst`` by aborting the socket (a reset). That every call came on
a new connection (30 client ports, give or take a timer late on a loaded machine) shows the
server really closed each one before the next call, so the client had to notice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator

import pytest
from netcalls import MODES, PROMPT, REPLY, Calls, origin
from netkit import BackgroundLoop, Forwarder

from jtd_ai import AIError, Driver
from jtd_ai.testing import FakeProviderServer

CALLS = 30
IDLE_CLOSE = 0.010  # seconds after a reply before the server closes the idle connection
PAUSES = (0.020, 0.050)


@pytest.fixture(params=["fin", "rst"])
def closing_server(request: pytest.FixtureRequest, loop: BackgroundLoop,
                   fake: FakeProviderServer) -> Iterator[Forwarder]:
    if request.param == "fin":
        front = Forwarder(origin(fake), keepalive_timeout=IDLE_CLOSE)
    else:
        front = Forwarder(origin(fake), abort_idle=IDLE_CLOSE)
    loop.run(front.start())
    yield front
    loop.run(front.stop())


def _kind(i: int) -> str:
    return "stream" if i % 2 else "send"


def _sync_calls(driver: Driver, pauses: list[float]) -> list[str]:
    failures = []
    for i, pause in enumerate(pauses):
        time.sleep(pause)
        try:
            if _kind(i) == "send":
                text = driver.send_message(PROMPT).content
            else:
                with driver.stream(PROMPT) as stream:
                    text = "".join(chunk.delta for chunk in stream)
            assert text == REPLY
        except AIError as exc:
            failures.append(f"call {i} ({_kind(i)}): {type(exc).__name__}: {exc}")
    return failures


async def _async_calls(driver: Driver, pauses: list[float]) -> list[str]:
    """All in one event loop, so the pool (and its connections) lives across the calls."""
    failures = []
    try:
        for i, pause in enumerate(pauses):
            await asyncio.sleep(pause)
            try:
                if _kind(i) == "send":
                    text = (await driver.asend_message(PROMPT)).content
                else:
                    async with driver.astream(PROMPT) as stream:
                        text = "".join([chunk.delta async for chunk in stream])
                assert text == REPLY
            except AIError as exc:
                failures.append(f"call {i} ({_kind(i)}): {type(exc).__name__}: {exc}")
    finally:
        await driver.aclose()
    return failures


@pytest.mark.parametrize("mode", MODES)
def test_connections_closed_while_idle_never_fail_a_call(closing_server: Forwarder,
                                                         calls: Calls, mode: str) -> None:
    driver = calls.driver("openai", closing_server.url + "/v1", mode, retry_attempts=1)
    pauses = [random.Random(i).uniform(*PAUSES) for i in range(CALLS)]
    if mode == "sync":
        failures = _sync_calls(driver, pauses)
    else:
        failures = asyncio.run(_async_calls(driver, pauses))
    assert failures == [], f"{len(failures)}/{CALLS} calls failed:\n" + "\n".join(failures)
    chats = [seen for seen in closing_server.seen if seen.path == "/v1/chat/completions"]
    assert len(chats) == CALLS  # each call sent once: retry_attempts = 1
    assert all("close" not in seen.headers.get("connection", "").lower() for seen in chats)
    # Each call on a new connection: the server had closed the previous one while idle, so
    # the client had to notice. (A few may have been reused when a loaded machine ran the
    # server's 10 ms timer after the client's next call: those prove nothing, and do no harm.)
    reused = CALLS - len({seen.peer_port for seen in chats})
    assert reused <= 3, (f"{reused} calls reused a connection: the server did not close them, "
                         f"so this test proved less than it claims")
