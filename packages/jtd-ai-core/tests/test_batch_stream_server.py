"""The drivers' streaming batches against the fake provider server over real HTTP, on the
default backends (aiohttp, one session per event loop; httpx for sync calls): results,
stopping early, and what a sync batch's helper loop closes when it ends (its own async
connections, never the sync client other threads are using).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_helpers import chat_requests, manager, wait_until

from jtd_ai import AIError, AIManager, Response
from jtd_ai.errors import BatchCancelledError, ProviderError
from jtd_ai.testing.server import FakeProviderServer, Fault


class Counted:
    """An endless input that counts how many items were taken from it."""

    def __init__(self) -> None:
        self.taken = 0

    def __iter__(self) -> Iterator[str]:
        for i in itertools.count():
            self.taken += 1
            yield f"p{i}"


@pytest.fixture
def ai(fake_provider_server: FakeProviderServer, tmp_path: Path) -> Iterator[AIManager]:
    made = manager(fake_provider_server, tmp_path / "jtd-ai.db")
    yield made
    made.close()


def test_sync_stream_batch_over_http(ai: AIManager,
                                     fake_provider_server: FakeProviderServer) -> None:
    fake_provider_server.inject(Fault(status=400, body_contains="bad-one"))
    with ai.driver().stream_batch([f"q{i}" for i in range(6)] + ["bad-one"], concurrency=3,
                                  ordered=True) as results:
        got = list(results)
    assert [i for i, _ in got] == list(range(7))
    assert [r.content for _, r in got[:6]] == [  # type: ignore[union-attr]
        f"echo: q{i}" for i in range(6)]
    assert isinstance(got[6][1], ProviderError) and got[6][1].status == 400
    assert chat_requests(fake_provider_server) == 7


async def test_async_stream_batch_over_http(ai: AIManager) -> None:
    driver = ai.driver()
    got = {i: r async for i, r in driver.astream_batch(iter(["a", "b", "c"]), concurrency=2)}
    assert {i: r.content for i, r in got.items()} == {  # type: ignore[union-attr]
        0: "echo: a", 1: "echo: b", 2: "echo: c"}
    # the loop's session is still there for the next call on this loop
    assert (await driver.asend_message("after")).content == "echo: after"
    await driver.aclose()


async def test_async_stream_abandoned_mid_way(ai: AIManager,
                                              fake_provider_server: FakeProviderServer) -> None:
    driver = ai.driver()
    source = Counted()
    got: list[Response | AIError] = []
    async with contextlib.aclosing(driver.astream_batch(source, concurrency=2,
                                                        window=4)) as results:
        async for _, result in results:
            got.append(result)
            if len(got) == 3:
                break
    taken = source.taken
    assert taken <= 3 + 4  # never more than the window ahead
    assert all(isinstance(r, Response) for r in got)
    await asyncio.sleep(0.05)
    assert source.taken == taken  # closed: nothing more is read or sent
    assert chat_requests(fake_provider_server) <= taken
    assert (await driver.asend_message("still here")).content == "echo: still here"
    await driver.aclose()


def test_sync_stream_abandoned_mid_way(ai: AIManager,
                                       fake_provider_server: FakeProviderServer) -> None:
    driver = ai.driver()
    before = set(threading.enumerate())
    source = Counted()
    with driver.stream_batch(source, concurrency=2, window=4) as results:
        first = [r for _, r in itertools.islice(results, 3)]
    assert all(isinstance(r, Response) for r in first)
    taken = source.taken
    assert taken <= 3 + 4
    assert not [t for t in set(threading.enumerate()) - before if t.name == "jtd-ai-batch"]
    sent = chat_requests(fake_provider_server)
    assert sent <= taken
    # the driver goes on working, sync and in a second batch
    assert driver.send_message("again").content == "echo: again"
    assert [r.content for _, r in driver.stream_batch(["x"])] == [  # type: ignore[union-attr]
        "echo: x"]
    assert source.taken == taken


def test_sync_stream_batch_leaves_other_threads_sync_calls_alone(
        ai: AIManager, fake_provider_server: FakeProviderServer) -> None:
    """A sync batch ending closes its own loop's connections, not the driver's sync client
    that a call in another thread is using at that moment."""
    driver = ai.driver()
    fake_provider_server.inject(Fault(delay=1.0, body_contains="slow-one"))
    outcome: list[object] = []

    def slow() -> None:
        try:
            outcome.append(driver.send_message("slow-one").content)
        except AIError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    wait_until(lambda: chat_requests(fake_provider_server) == 1, 5, "the slow call to start")
    got = [r for _, r in driver.stream_batch([f"p{i}" for i in range(4)], concurrency=2)]
    assert all(isinstance(r, Response) for r in got)
    thread.join(10)
    assert outcome == ["echo: slow-one"]


def test_a_cancelled_sync_stream_over_http(ai: AIManager) -> None:
    cancel = threading.Event()
    got: list[Response | AIError] = []
    source = Counted()
    with ai.driver().stream_batch(source, concurrency=2, window=4, cancel=cancel) as results:
        for _, result in results:
            got.append(result)
            if len(got) == 4:
                cancel.set()
    assert 4 <= len(got) <= 4 + 4
    assert all(isinstance(r, Response | BatchCancelledError) for r in got)
    assert source.taken <= len(got) + 1
