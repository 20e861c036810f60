"""The reply cache end to end ([plugins.cache] on a manager talking to the fake provider
server over real HTTP, the store a SQLite file): sends, async sends, streams and batches are
answered from the cache once seen (no request reaches the server), marked cached, costing
nothing in the ledger; streams are replayed as chunks; entries expire and are evicted; errors
are never cached; the per-call opt-out; a bad configuration is refused before any request."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import needs
from ledger_helpers import KEY, chat_requests, provider
from ledger_server import no_faults_fixture, server_fixture  # noqa: F401  (the fixtures)

from jtd_ai import AIManager, ConfigurationError, OutputValidationError, ProviderError
from jtd_ai.cache import ReplyCache, bypass
from jtd_ai.structured import output_spec
from jtd_ai.testing import FakeProviderServer, Fault

pytestmark = needs("openai")

PROMPT = "alpha beta gamma"


@pytest.fixture
def made() -> Iterator[list[AIManager]]:
    managers: list[AIManager] = []
    yield managers
    for ai in managers:
        ai.close()


def oldest_first(ai: AIManager) -> list[Any]:
    """The ledger's rows, oldest first."""
    return list(reversed(ai.usage.records()))


@pytest.fixture
def cached(server: FakeProviderServer, tmp_path: Path, made: list[AIManager]) -> Any:
    """``cached(**cache_options)``: a manager with the reply cache on, its store in
    ``tmp_path``; ledger rows written before each call returns."""

    def make(*, driver: str = "openai", **options: Any) -> AIManager:
        ai = AIManager(providers={driver: provider(server, driver)}, default=driver,
                       config_file=False, env={},
                       store={"path": str(tmp_path / "jtd-ai.db"), "background_writes": False},
                       plugins={"cache": {"ttl": "1h", **options}})
        made.append(ai)
        return ai

    return make


def test_a_repeated_send_is_answered_from_the_cache(server, cached) -> None:
    ai = cached()
    before = chat_requests(server)
    first = ai.driver().send_message(PROMPT)
    again = ai.driver().send_message(PROMPT)
    assert chat_requests(server) == before + 1
    assert first.cached is False and first.cost is not None and first.cost > 0
    assert again.cached is True and again.cost == Decimal(0)
    assert (again.content, again.model, again.provider, again.usage, again.finish_reason) == (
        first.content, first.model, first.provider, first.usage, first.finish_reason)
    miss, hit = oldest_first(ai)
    assert (miss.cost, miss.attempts) == (first.cost, 1)
    assert (hit.cost, hit.attempts, hit.status) == (Decimal(0), 0, "ok")
    assert ai.usage.total().cost == first.cost


async def test_an_async_send_is_answered_from_the_cache(server, cached) -> None:
    ai = cached()
    before = chat_requests(server)
    first = await ai.driver().asend_message(PROMPT)
    again = await ai.driver().asend_message(PROMPT)
    assert chat_requests(server) == before + 1
    assert again.cached is True and again.content == first.content
    assert [r.cost for r in oldest_first(ai)] == [first.cost, Decimal(0)]


def test_a_stream_fills_the_cache_and_is_replayed_from_it(server, cached) -> None:
    ai = cached()
    before = chat_requests(server)
    stream = ai.driver().stream(PROMPT)
    streamed = "".join(chunk.delta for chunk in stream)
    assert stream.response is not None and stream.response.cached is False
    replay = ai.driver().stream(PROMPT)
    chunks = list(replay)
    assert chat_requests(server) == before + 1
    assert "".join(c.delta for c in chunks) == streamed == "echo: alpha beta gamma"
    assert chunks[-1].usage == stream.response.usage  # usage and finish reason come last
    assert chunks[-1].finish_reason == stream.response.finish_reason
    assert replay.response is not None and replay.response.cached is True
    assert replay.text == streamed
    # A stream and a send of the same request share the entry.
    assert ai.driver().send_message(PROMPT).cached is True
    assert chat_requests(server) == before + 1
    rows = oldest_first(ai)
    assert [(r.operation, r.cost == 0) for r in rows] == [
        ("stream", False), ("stream", True), ("chat", True)]


async def test_an_async_stream_is_replayed_from_the_cache(server, cached) -> None:
    ai = cached(driver="gemini")
    before = chat_requests(server)
    first = await ai.driver().asend_message(PROMPT)
    stream = ai.driver().astream(PROMPT)
    text = "".join([chunk.delta async for chunk in stream])
    assert chat_requests(server) == before + 1
    assert text == first.content
    assert stream.response is not None and stream.response.cached is True


async def test_an_async_call_uses_the_store_off_its_event_loop(server, cached,
                                                                monkeypatch) -> None:
    """The store is blocking I/O (a network round trip on PostgreSQL): an async call reads
    and writes the cache in a worker thread, never in the event loop's; a sync call in its
    own thread."""
    used: list[tuple[str, int]] = []

    def spying(name: str) -> Any:
        real = getattr(ReplyCache, name)

        def spy(self: ReplyCache, *args: Any) -> Any:
            used.append((name, threading.get_ident()))
            return real(self, *args)

        return spy

    for name in ("get", "put"):
        monkeypatch.setattr(ReplyCache, name, spying(name))
    ai = cached()
    loop = threading.get_ident()
    await ai.driver().asend_message(PROMPT)
    stream = ai.driver().astream(PROMPT)
    assert [chunk async for chunk in stream] and stream.response is not None
    assert stream.response.cached is True
    assert [name for name, _ in used] == ["get", "put", "get"]
    assert loop not in {thread for _, thread in used}
    used.clear()
    ai.driver().send_message("a sync call")
    assert used == [("get", loop), ("put", loop)]


def test_a_batch_is_answered_from_the_cache_item_by_item(server, cached) -> None:
    ai = cached()
    prompts = ["one two", "three four", "five six"]
    before = chat_requests(server)
    first = ai.driver().send_batch(prompts[:2])
    again = ai.driver().send_batch(prompts)
    assert chat_requests(server) == before + 3  # two, then only the new third
    assert [r.cached for r in again] == [True, True, False]  # type: ignore[union-attr]
    assert [r.content for r in again[:2]] == [r.content for r in first]  # type: ignore[union-attr]
    hits = [r for r in ai.usage.records() if r.attempts == 0]
    assert len(hits) == 2 and all(r.cost == 0 and r.batch_id for r in hits)


def test_what_changes_the_reply_is_a_miss(server, cached) -> None:
    ai = cached()
    driver = ai.driver()
    before = chat_requests(server)
    driver.send_message(PROMPT)
    assert driver.send_message(PROMPT, temperature=0.5).cached is False
    assert driver.send_message(PROMPT, model="gpt-4o").cached is False
    assert driver.send_message(PROMPT.upper()).cached is False
    assert driver.send_message(PROMPT, timeout=20).cached is True  # the deadline is not
    assert chat_requests(server) == before + 4


def test_a_reply_expires_after_the_ttl(server, cached) -> None:
    ai = cached(ttl="0.4s")
    before = chat_requests(server)
    ai.driver().send_message(PROMPT)
    assert ai.driver().send_message(PROMPT).cached is True
    time.sleep(0.5)
    assert ai.driver().send_message(PROMPT).cached is False
    assert chat_requests(server) == before + 2


def test_past_max_entries_the_least_recently_used_reply_is_evicted(server, cached) -> None:
    ai = cached(max_entries=2)
    driver = ai.driver()
    driver.send_message("first prompt")
    driver.send_message("second prompt")
    assert driver.send_message("first prompt").cached is True  # now the most recently used
    driver.send_message("third prompt")  # evicts "second prompt"
    before = chat_requests(server)
    assert driver.send_message("first prompt").cached is True
    assert driver.send_message("third prompt").cached is True
    assert driver.send_message("second prompt").cached is False
    assert chat_requests(server) == before + 1


def test_an_error_is_not_cached(server, cached) -> None:
    ai = cached()
    server.inject(Fault(status=500))
    with pytest.raises(ProviderError):
        ai.driver().send_message(PROMPT)
    reply = ai.driver().send_message(PROMPT)
    assert reply.cached is False and reply.content == "echo: alpha beta gamma"


@dataclasses.dataclass
class City:
    name: str
    population: int


NOT_A_CITY = '{"name": "Oslo"}'  # the fake server answers it as is: no population


def test_a_reply_that_does_not_parse_is_not_cached(server, cached) -> None:
    """output=City: a reply that fails parsing is never stored, so asking again asks the
    provider again; one that parses is stored and served parsed."""
    ai = cached()
    driver = ai.driver()
    before = chat_requests(server)
    for _ in range(2):
        with pytest.raises(OutputValidationError) as caught:
            driver.send_message(NOT_A_CITY, output=City)
        assert caught.value.partial is not None and caught.value.partial.cached is False
    with pytest.raises(OutputValidationError), driver.stream(NOT_A_CITY, output=City) as stream:
        list(stream)
    assert chat_requests(server) == before + 3
    assert ReplyCache.of(ai).stats().entries == 0
    first = driver.send_message("Paris", output=City)
    again = driver.send_message("Paris", output=City)
    assert again.cached is True and again.parsed == first.parsed
    assert chat_requests(server) == before + 4


async def test_an_async_reply_that_does_not_parse_is_not_cached(server, cached) -> None:
    ai = cached()
    before = chat_requests(server)
    for _ in range(2):
        with pytest.raises(OutputValidationError):
            await ai.driver().asend_message(NOT_A_CITY, output=City)
    assert chat_requests(server) == before + 2


def test_a_stored_reply_that_does_not_parse_is_dropped_not_served(server, cached) -> None:
    """The same request sent without output= stores its reply; a call with output= that
    rejects it asks the provider again and drops the entry."""
    ai = cached()
    driver = ai.driver()
    response_format = output_spec(City).response_format
    driver.send_message(NOT_A_CITY, response_format=response_format)
    assert driver.send_message(NOT_A_CITY, response_format=response_format).cached is True
    before = chat_requests(server)
    with pytest.raises(OutputValidationError) as caught:
        driver.send_message(NOT_A_CITY, output=City)
    assert caught.value.partial is not None and caught.value.partial.cached is False
    assert chat_requests(server) == before + 1
    assert ReplyCache.of(ai).stats().entries == 0


def test_a_call_can_opt_out(server, cached) -> None:
    ai = cached()
    driver = ai.driver()
    driver.send_message(PROMPT)
    before = chat_requests(server)
    assert driver.send_message(PROMPT, tags={"cache": False}).cached is False
    with bypass():
        assert driver.send_message(PROMPT).cached is False
        assert driver.send_message("not stored").cached is False
    assert chat_requests(server) == before + 3
    assert driver.send_message("not stored").cached is False  # bypass stored nothing
    assert driver.send_message(PROMPT).cached is True


def test_the_store_never_holds_the_key(server, cached, tmp_path) -> None:
    ai = cached()
    ai.driver().send_message(PROMPT)
    ai.close()
    for path in tmp_path.iterdir():
        assert KEY.encode() not in path.read_bytes(), path.name


@pytest.mark.parametrize("options", [{"ttl": "soon"}, {"ttl": 0}, {"ttl": "1y"},
                                     {"max_entries": 0}, {"colour": "blue"}])
def test_a_bad_cache_configuration_is_refused_before_any_request(server, cached,
                                                                 options) -> None:
    ai = cached(**options)
    before = chat_requests(server)
    with pytest.raises(ConfigurationError, match=r"plugins\.cache"):
        ai.driver().send_message(PROMPT)
    assert chat_requests(server) == before


def test_the_cache_needs_the_store(server, made) -> None:
    ai = AIManager(providers={"openai": provider(server)}, config_file=False, env={},
                   store={"enabled": False}, plugins={"cache": {}})
    made.append(ai)
    with pytest.raises(ConfigurationError, match=r"\[plugins.cache\] keeps replies"):
        ai.driver("openai")


def test_faked_calls_neither_read_nor_fill_the_cache(server, cached) -> None:
    ai = cached()
    ai.driver().send_message(PROMPT)  # stored for real
    with ai.fake(["scripted one", "scripted two"]):
        first = ai.driver().send_message(PROMPT)
        second = ai.driver().send_message(PROMPT)
    assert (first.content, second.content) == ("scripted one", "scripted two")
    assert not first.cached and not second.cached
    assert ReplyCache.of(ai).stats().entries == 1
