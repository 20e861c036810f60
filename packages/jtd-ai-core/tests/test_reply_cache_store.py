"""The reply cache's storage (jtd_ai.cache.ReplyCache on a real SQLite file and a real
PostgreSQL database): the request digest, hits and misses, expiry, eviction by count and by
size, and the checked options."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import attrs
import pytest
from pg_cluster import (  # noqa: F401  (the fixtures: store_url on both engines)
    pg_cluster_fixture,
    pg_url_fixture,
    store_url_fixture,
)

from jtd_ai import ConfigurationError, FinishReason, Message, Response, TokenUsage, ToolCall
from jtd_ai.cache import CacheOptions, ReplyCache, parse_duration, request_digest
from jtd_ai.request import ChatRequest
from jtd_ai.store import AnyStore, open_store

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def store(store_url: str) -> Iterator[AnyStore]:
    """A new store of each engine (SQLite, PostgreSQL)."""
    opened = open_store(store_url)
    opened.open()
    yield opened
    opened.close()


def reply(text: str = "Paris.", **fields: object) -> Response:
    values: dict[str, object] = {
        "finish_reason": FinishReason.STOP, "usage": TokenUsage(12, 3),
        "cost": Decimal("0.0000123"), "request_id": "req-1"}
    values.update(fields)
    return Response(text, "gpt-4o-mini", "openai", **values)  # type: ignore[arg-type]


def request(text: str = "Capital of France?", **options: object) -> ChatRequest:
    return ChatRequest.build([Message.system("Be brief."), Message.user(text)], "gpt-4o-mini",
                             **options)


# -- the digest -----------------------------------------------------------------------------


def test_the_digest_ignores_the_deadline_and_provider_metadata() -> None:
    base = request_digest("openai", "openai", request())
    assert base == request_digest("openai", "openai", request(timeout=5))
    assert len(base) == 64 and int(base, 16) >= 0  # a SHA-256 in hex
    with_metadata = ChatRequest.build(
        [Message.user("Capital of France?"),
         Message("assistant", "Paris.", metadata={"signature": "abc"}),
         Message.user("And Spain?")], "gpt-4o-mini")
    without = ChatRequest.build(
        [Message.user("Capital of France?"), Message.assistant("Paris."),
         Message.user("And Spain?")], "gpt-4o-mini")
    assert (request_digest("openai", "openai", with_metadata)
            == request_digest("openai", "openai", without))


@pytest.mark.parametrize("changed", [
    ("gemini", "openai", request()),
    ("openai", "xai", request()),
    ("openai", "openai", request("Capital of Spain?")),
    ("openai", "openai", request(temperature=0.5)),
    ("openai", "openai", request(max_tokens=10)),
    ("openai", "openai", request(stop=["END"])),
    ("openai", "openai", request(seed=1)),
    ("openai", "openai", request(response_format="json")),
    ("openai", "openai", request(extra={"logprobs": True})),
    ("openai", "openai", attrs.evolve(request(), model="gpt-4o")),
    ("openai", "openai", request(tools=[{"name": "weather", "parameters": {
        "type": "object", "properties": {}}}])),
])
def test_whatever_changes_the_reply_changes_the_digest(changed) -> None:
    assert request_digest(*changed) != request_digest("openai", "openai", request())


# -- hits, misses, expiry -------------------------------------------------------------------


def test_a_stored_reply_comes_back_marked_cached_and_free(store: AnyStore) -> None:
    cache = ReplyCache(store, CacheOptions(ttl=60))
    calls = (ToolCall("call_1", "weather", '{"city": "Paris"}', metadata={"sig": "s1"}),)
    original = reply(tool_calls=calls, reasoning="thought", metadata={"turn": 1})
    assert cache.get("k") is None
    assert cache.put("k", original) is True
    hit = cache.get("k")
    assert hit is not None
    assert hit.cached is True and hit.cost == Decimal(0)
    assert (hit.content, hit.model, hit.provider, hit.finish_reason, hit.usage,
            hit.request_id, hit.reasoning) == (
        "Paris.", "gpt-4o-mini", "openai", FinishReason.STOP, TokenUsage(12, 3), "req-1",
        "thought")
    assert hit.tool_calls == calls and hit.tool_calls[0].metadata == {"sig": "s1"}
    assert hit.metadata == {"turn": 1}
    cache.get("k")
    assert cache.stats().hits == 2 and cache.stats().entries == 1


def test_a_reply_expires_after_its_ttl(store: AnyStore) -> None:
    clock = Clock()
    cache = ReplyCache(store, CacheOptions(ttl=parse_duration("1h", "ttl")), clock=clock)
    cache.put("k", reply())
    clock.advance(3599)
    assert cache.get("k") is not None
    clock.advance(2)
    assert cache.get("k") is None
    stats = cache.stats()
    assert (stats.entries, stats.expired) == (0, 1)
    cache.put("other", reply())  # a write evicts what expired
    assert cache.stats().expired == 0 and cache.stats().entries == 1


def test_storing_again_replaces_the_reply_and_restarts_its_ttl(store: AnyStore) -> None:
    clock = Clock()
    cache = ReplyCache(store, CacheOptions(ttl=10), clock=clock)
    cache.put("k", reply("old"))
    clock.advance(8)
    cache.put("k", reply("new"))
    clock.advance(8)
    hit = cache.get("k")
    assert hit is not None and hit.content == "new"


def test_past_max_entries_the_least_recently_used_go_first(store: AnyStore) -> None:
    clock = Clock()
    cache = ReplyCache(store, CacheOptions(ttl=3600, max_entries=2), clock=clock)
    cache.put("a", reply("A"))
    clock.advance(1)
    cache.put("b", reply("B"))
    clock.advance(1)
    assert cache.get("a") is not None  # "a" is now the more recently used
    clock.advance(1)
    cache.put("c", reply("C"))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert cache.stats().entries == 2


def test_past_max_bytes_the_least_recently_used_go_first(store: AnyStore) -> None:
    clock = Clock()
    cache = ReplyCache(store, CacheOptions(ttl=3600), clock=clock)
    cache.put("probe", reply("x" * 1000))
    one = cache.stats().bytes  # the size of one stored reply
    cache.clear()
    assert one > 1000
    cache = ReplyCache(store, CacheOptions(ttl=3600, max_bytes=2 * one + 10), clock=clock)
    for key in ("a", "b", "c"):
        cache.put(key, reply("x" * 1000))
        clock.advance(1)
    assert cache.get("a") is None
    assert cache.get("b") is not None and cache.get("c") is not None
    assert cache.stats().bytes == 2 * one


def test_a_reply_whose_metadata_is_not_json_is_not_stored(store: AnyStore) -> None:
    cache = ReplyCache(store)
    assert cache.put("k", reply(metadata={"raw": object()})) is False
    assert cache.get("k") is None


def test_clear_forgets_everything(store: AnyStore) -> None:
    cache = ReplyCache(store)
    cache.put("a", reply())
    cache.put("b", reply())
    assert cache.clear() == 2
    assert cache.stats().entries == 0


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("1h", 3600), ("1d", 86_400), ("2w", 1_209_600),
    ("1h30m", 5400), ("1.5h", 5400), ("500ms", 0.5), (" 2 H ", 7200), ("45", 45), (45, 45),
    (0.25, 0.25),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text, "ttl") == seconds


@pytest.mark.parametrize("bad", ["soon", "", "1x", "h", "-1h", "0s", 0, -5, True, None,
                                 "1h 30", [1], float("inf")])
def test_a_ttl_that_is_not_a_duration_is_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match=r"plugins\.cache\.ttl must be a duration"):
        CacheOptions.from_options({"ttl": bad})


def test_options_are_checked() -> None:
    assert CacheOptions.from_options({}) == CacheOptions()
    assert CacheOptions.from_options({"ttl": "2h", "max_entries": 5, "max_bytes": 100}) == (
        CacheOptions(7200.0, 5, 100))
    with pytest.raises(ConfigurationError, match="unknown key 'size'"):
        CacheOptions.from_options({"size": 1})
    for bad in (0, -1, "10", 1.5, True):
        with pytest.raises(ConfigurationError, match="max_entries must be a whole number"):
            CacheOptions.from_options({"max_entries": bad})
