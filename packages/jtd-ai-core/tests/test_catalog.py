"""The model catalog: sync reports, history kept, TTL-served listings, failure isolation.

The tests on ``stored`` and ``store_url`` run on both engines (a SQLite file, a PostgreSQL
database; see helpers/pg_cluster.py)."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import httpx
import pytest
from pg_cluster import (  # noqa: F401  (the fixtures: stored and store_url on both engines)
    pg_cluster_fixture,
    pg_url_fixture,
    store_url_fixture,
    stored_fixture,
)

from jtd_ai import (
    AIManager,
    Capabilities,
    ModelInfo,
    ModelKind,
    PriceTier,
    Pricing,
    StoreError,
)
from jtd_ai.catalog import Catalog
from jtd_ai.store import open_store
from jtd_ai.testing import ScriptedTransport


def listing(*models: tuple[str, int]) -> httpx.Response:
    return httpx.Response(200, json={"data": [{"id": m, "context_length": c}
                                              for m, c in models]})


def test_sync_reports_added_updated_deactivated_and_keeps_history(stored) -> None:
    transport = ScriptedTransport(listing(("a", 1000), ("b", 2000)),
                                  listing(("b", 4000), ("c", 1000)))
    ai = stored(transport)
    first = ai.sync_models(["echo"])
    assert first["echo"].added == ("a", "b")
    assert (first["echo"].updated, first["echo"].deactivated) == ((), ())

    second = ai.sync_models(["echo"])
    entry = second["echo"]
    assert (entry.added, entry.updated, entry.deactivated) == (("c",), ("b",), ("a",))
    assert entry.unchanged == 0
    assert second.ok and second.failed == {}
    assert "echo: added 1, updated 1, deactivated 1, unchanged 0" in second.summary()

    # "a" is kept, inactive; the active listing is what the provider lists now.
    assert [m.id for m in ai.catalog.models("echo")] == ["b", "c"]
    every = ai.catalog.models("echo", include_inactive=True)
    assert [(m.id, m.context_length) for m in every] == [("a", 1000), ("b", 4000), ("c", 1000)]
    assert ai.catalog.is_active("echo", "a") is False
    assert ai.catalog.is_active("echo", "zzz") is None


def test_unchanged_models_are_counted_and_a_returning_model_is_reactivated(stored) -> None:
    transport = ScriptedTransport(listing(("a", 1), ("b", 1)), listing(("b", 1)),
                                  listing(("a", 1), ("b", 1)))
    ai = stored(transport)
    ai.sync_models(["echo"])
    assert ai.sync_models(["echo"])["echo"].deactivated == ("a",)
    back = ai.sync_models(["echo"])["echo"]
    assert (back.added, back.updated, back.unchanged) == ((), ("a",), 1)
    assert ai.catalog.is_active("echo", "a") is True


def test_dry_run_reports_what_would_change_and_writes_nothing(stored) -> None:
    transport = ScriptedTransport(listing(("a", 1), ("b", 1)), listing(("b", 9), ("c", 1)))
    ai = stored(transport)
    ai.sync_models(["echo"])
    report = ai.sync_models(["echo"], dry_run=True)
    entry = report["echo"]
    assert entry.dry_run
    assert (entry.added, entry.updated, entry.deactivated) == (("c",), ("b",), ("a",))
    assert "would add 1" in report.summary()
    assert [(m.id, m.context_length) for m in ai.catalog.models("echo")] == [("a", 1), ("b", 1)]
    # Nor does a dry run replace what get_available_models serves.
    assert [m.id for m in ai.driver("echo").get_available_models()] == ["a", "b"]


def test_one_provider_failing_does_not_stop_the_others(stored) -> None:
    broken = ScriptedTransport(httpx.Response(500, json={"error": "down"}))
    ai = stored(
        providers={"echo": {}, "broken": {"driver": "echo", "retry_attempts": 1},
                   "missing": {"driver": "no-such-driver"}, "late": {"driver": "echo"}},
        transports={"broken": broken},
    )
    report = ai.sync_models(["broken", "missing", "echo", "late"])
    assert [p.provider for p in report.providers] == ["broken", "missing", "echo", "late"]
    assert set(report.failed) == {"broken", "missing"}
    assert "down" in report.failed["broken"]
    assert "no-such-driver" in report.failed["missing"]
    assert report["echo"].added == ("echo-1", "echo-large")
    assert report["late"].ok and report["late"].added == ("echo-1", "echo-large")
    assert not report.ok
    assert "broken: failed:" in report.summary()


async def test_async_sync_isolates_failures_too(stored) -> None:
    broken = ScriptedTransport(httpx.Response(500, json={"error": "down"}))
    ai = stored(providers={"echo": {}, "broken": {"driver": "echo", "retry_attempts": 1}},
                transports={"broken": broken})
    report = await ai.async_models(["broken", "echo"])
    assert set(report.failed) == {"broken"}
    assert report["echo"].added == ("echo-1", "echo-large")
    assert [m.id for m in ai.catalog.models("echo")] == ["echo-1", "echo-large"]


def test_all_providers_by_default(tmp_path) -> None:
    with AIManager(providers={"echo": {}, "second": {"driver": "echo"}}, config_file=False,
                   env={"JTD_AI_PLUGINS": "echo"}, store={"path": str(tmp_path / "db")}) as ai:
        report = ai.sync_models()
        assert [p.provider for p in report.providers] == ["echo", "second"]
        assert report.ok
        assert ai.catalog.providers() == ["echo", "second"]


def test_repeated_listings_within_the_ttl_do_not_ask_again(stored) -> None:
    transport = ScriptedTransport(listing(("a", 1)))  # one answer only: a second request fails
    ai = stored(transport)
    driver = ai.driver()
    for _ in range(3):
        assert [m.id for m in driver.get_available_models()] == ["a"]
    assert len(transport.requests) == 1
    # Another manager (another process, say) on the same file is served from the catalog.
    other = stored(ScriptedTransport())
    assert [m.id for m in other.driver().get_available_models()] == ["a"]


async def test_async_listing_is_served_from_the_catalog(stored) -> None:
    transport = ScriptedTransport(listing(("a", 1)))
    ai = stored(transport)
    assert [m.id for m in await ai.driver().aget_available_models()] == ["a"]
    assert [m.id for m in await ai.driver().aget_available_models()] == ["a"]
    assert len(transport.requests) == 1


def test_a_listing_older_than_the_ttl_is_fetched_again(stored, store_url) -> None:
    ai = stored(ScriptedTransport(listing(("new", 1))), store={"models_ttl": 3600})
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    Catalog(open_store(store_url)).apply(
        "echo", [ModelInfo("old", "echo")], now=two_hours_ago)
    assert [m.id for m in ai.driver().get_available_models()] == ["new"]
    assert ai.catalog.is_active("echo", "old") is False


def test_ttl_is_configurable_per_store_and_per_provider(stored) -> None:
    transport = ScriptedTransport(listing(("a", 1)), listing(("b", 1)))
    ai = stored(transport, store={"models_ttl": 0})
    assert [m.id for m in ai.driver().get_available_models()] == ["a"]
    assert [m.id for m in ai.driver().get_available_models()] == ["b"]
    per_provider = ScriptedTransport(listing(("a", 1)), listing(("b", 1)))
    ai2 = stored(per_provider, store={"models_ttl": 3600}, models_ttl=0)
    ai2.driver().get_available_models()
    ai2.driver().get_available_models()
    assert len(per_provider.requests) == 2


def test_refresh_asks_now_and_stores_it(stored) -> None:
    transport = ScriptedTransport(listing(("a", 1), ("b", 1)), listing(("b", 1)))
    ai = stored(transport)
    driver = ai.driver()
    driver.get_available_models()
    assert [m.id for m in driver.sync_models()] == ["b"]
    assert ai.catalog.is_active("echo", "a") is False


def test_models_round_trip_through_the_catalog(store_url) -> None:
    catalog = Catalog(open_store(store_url))
    model = ModelInfo(
        "m1", "p", kind=ModelKind.CHAT, display_name="Model One", context_length=128_000,
        max_output_tokens=8192,
        capabilities=Capabilities(streaming=True, tools=True, vision=None, reasoning=False),
        pricing=Pricing(input="1.25", output=10, cached_input="0.125",
                        tiers=[PriceTier(200_000, input="2.5", output=15)],
                        source="provider listing", as_of=dt.date(2026, 11, 1)),
        created=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), owned_by="someone",
    )
    catalog.apply("p", [model])
    assert catalog.models("p") == [model]
    assert catalog.prices("p")["m1"].tiers[0].input == Decimal("2.5")
    # Applying the same listing again changes nothing.
    again = catalog.apply("p", [model])
    assert (again.added, again.updated, again.unchanged) == ((), (), 1)


def test_an_unusable_store_never_stops_listing_models(tmp_path, caplog) -> None:
    bad = tmp_path / "jtd-ai.db"
    bad.write_bytes(b"garbage" * 200)
    transport = ScriptedTransport(listing(("a", 1)), listing(("a", 1)))
    with caplog.at_level(logging.WARNING, logger="jtd_ai"), AIManager(
            providers={"echo": {}}, default="echo", config_file=False, env={},
            transports={"echo": transport}, store={"path": str(bad)}) as ai:
        driver = ai.driver()
        assert [m.id for m in driver.get_available_models()] == ["a"]
        assert [m.id for m in driver.get_available_models()] == ["a"]  # held in memory
        assert len(transport.requests) == 1
        assert isinstance(ai.storage.error, StoreError)
        assert str(bad) in str(ai.storage.error)
        with pytest.raises(StoreError, match="corrupt"):
            ai.catalog.models("echo")
        report = ai.sync_models(["echo"])
    assert "store is not usable" in report.failed["echo"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum(str(bad) in w for w in warnings) == 1  # said once, not per call


def test_store_off_still_caches_listings_in_memory(stored) -> None:
    transport = ScriptedTransport(listing(("a", 1)))
    ai = stored(transport, store={"enabled": False})
    ai.driver().get_available_models()
    ai.driver().get_available_models()
    assert len(transport.requests) == 1
    with pytest.raises(StoreError, match="turned off"):
        ai.usage.total()
