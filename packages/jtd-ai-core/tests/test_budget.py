"""Opt-in budgets: checked before a call, a typed error saying the limit and the spend.

The tests on ``stored`` and ``store_url`` run on both engines (a SQLite file, a PostgreSQL
database; see helpers/pg_cluster.py)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from pg_cluster import (  # noqa: F401  (the fixtures: stored and store_url on both engines)
    pg_cluster_fixture,
    pg_url_fixture,
    store_url_fixture,
    stored_fixture,
)
from wrap_helpers import installed_off

from jtd_ai import AIError, AIManager, BudgetExceededError, ConfigurationError
from jtd_ai.budget import BudgetLimits, BudgetPlugin, period_start
from jtd_ai.calls import CallInfo
from jtd_ai.ledger import Ledger, UsageRecord
from jtd_ai.store import open_store

# 1,000 in + 1,000 out on echo-1 at $1 / $1 per million: each 1-word call "a" costs
# 1 x 1 + 2 x 1 = 3 per million ("echo: a" is 2 words).
PRICES = {"echo-1": {"input": "1", "output": "1"}}
CALL = Decimal("0.000003")


def test_a_provider_limit_stops_calls_once_reached(stored) -> None:
    ai = stored(prices=PRICES, budget={"providers": {"echo": "0.000006"}})
    driver = ai.driver()
    driver.send_message("a")
    driver.send_message("a")  # spent 0.000006 after this one: the next is refused
    with pytest.raises(BudgetExceededError) as caught:
        driver.send_message("a")
    error = caught.value
    assert isinstance(error, AIError)
    assert (error.scope, error.limit, error.spent, error.period) == (
        "echo", Decimal("0.000006"), 2 * CALL, "month")
    assert "$0.000006" in str(error) and "limit" in str(error)
    assert "provider 'echo'" in str(error) and "this month" in str(error)
    assert ai.usage.total().calls == 2  # the refused call was never sent nor recorded


def test_streams_and_batch_items_are_checked_too(stored) -> None:
    ai = stored(prices=PRICES, budget={"limit": "0.000003", "period": "day"})
    list(ai.driver().stream("a"))
    with pytest.raises(BudgetExceededError, match="all providers together"):
        list(ai.driver().stream("a"))
    results = ai.driver().send_batch(["a", "a"])
    assert all(isinstance(r, BudgetExceededError) for r in results)


def test_a_global_limit_counts_every_provider(stored) -> None:
    ai = stored(budget={"limit": "0.000005"},
                providers={"echo": {"prices": PRICES}, "two": {"driver": "echo",
                                                               "prices": PRICES}})
    ai.driver("echo").send_message("a")
    ai.driver("two").send_message("a")
    with pytest.raises(BudgetExceededError) as caught:
        ai.driver("echo").send_message("a")
    assert caught.value.scope == "global" and caught.value.spent == 2 * CALL


def test_spend_from_other_processes_counts(stored, store_url) -> None:
    ai = stored(prices=PRICES, budget={"providers": {"echo": "1.00"}})
    ai.driver().send_message("a")
    # Another process writes a big row into the same ledger.
    Ledger(open_store(store_url)).record(
        UsageRecord(provider="echo", model="echo-1", cost=Decimal("0.999999")))
    with pytest.raises(BudgetExceededError) as caught:
        ai.driver().send_message("a")
    assert caught.value.spent == Decimal("0.999999") + CALL


def test_a_new_period_starts_from_zero(store_url) -> None:
    ledger = Ledger(open_store(store_url))
    ledger.record(UsageRecord(provider="p", model="m", cost=Decimal(5),
                              ts=dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC)))
    now = [dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)]
    plugin = BudgetPlugin(BudgetLimits(limit=Decimal(5), period="month"), lambda: ledger,
                          clock=lambda: now[0])
    call = CallInfo(provider="p", driver="echo", operation="chat")
    with pytest.raises(BudgetExceededError):
        plugin.before_request(call)
    now[0] = dt.datetime(2026, 12, 1, 0, 0, 1, tzinfo=dt.UTC)
    plugin.before_request(call)  # December: nothing spent yet
    assert plugin.spent() == 0
    ledger.record(UsageRecord(provider="p", model="m", cost=Decimal(2),
                              ts=dt.datetime(2026, 12, 1, 0, 0, 2, tzinfo=dt.UTC)))
    assert plugin.spent() == Decimal(2) and plugin.spent("p") == Decimal(2)
    assert plugin.spent("other") == 0


def test_period_starts() -> None:
    moment = dt.datetime(2026, 11, 24, 15, 30, tzinfo=dt.UTC)
    assert period_start("day", moment) == "2026-11-24T00:00:00.000000+00:00"
    assert period_start("month", moment) == "2026-11-01T00:00:00.000000+00:00"
    assert period_start("all", moment) is None


def test_only_chat_calls_are_checked(store_url) -> None:
    ledger = Ledger(open_store(store_url))
    ledger.record(UsageRecord(provider="p", model="m", cost=Decimal(1)))
    plugin = BudgetPlugin(BudgetLimits(limit=Decimal(0)), lambda: ledger)
    plugin.before_request(CallInfo(provider="p", driver="d", operation="models"))
    with pytest.raises(BudgetExceededError):
        plugin.before_request(CallInfo(provider="p", driver="d", operation="chat"))


def test_a_cache_hit_is_never_refused_nor_reserved_for(store_url) -> None:
    """A hit costs nothing: served past a reached limit, and no reservation is written."""
    ai = AIManager(providers={"echo": {"prices": PRICES}}, default="echo", config_file=False,
                   env={}, store={"url": store_url}, budget={"limit": "0.000003"},
                   plugins={**installed_off(), "cache": {}})
    try:
        first = ai.driver().send_message("a")
        again = ai.driver().send_message("a")  # the limit is reached, but this is a hit
        assert (again.cached, again.cost, again.content) == (True, Decimal(0), first.content)
        with ai.driver().stream("a") as stream:
            assert "".join(chunk.delta for chunk in stream) == first.content
        assert stream.response.cached
        with pytest.raises(BudgetExceededError):
            ai.driver().send_message("b")  # not cached: refused
    finally:
        ai.close()
    ledger = Ledger(open_store(store_url))
    plugin = BudgetPlugin(BudgetLimits(limit=Decimal(1)), lambda: ledger)
    reservations = "SELECT count(*) FROM budget_reservations"
    before = ledger.store.query(reservations)[0][0]
    plugin.before_request(CallInfo(provider="p", driver="d", operation="chat", cached=True))
    assert ledger.store.query(reservations)[0][0] == before
    plugin.before_request(CallInfo(provider="p", driver="d", operation="chat"))
    assert ledger.store.query(reservations)[0][0] == before + 1


def test_an_unreadable_ledger_lets_calls_through_and_says_so(tmp_path, caplog) -> None:
    bad = tmp_path / "jtd-ai.db"  # a corrupt file: SQLite's case (PostgreSQL's unreachable
    bad.write_bytes(b"junk" * 500)  # server: test_store_engines.py)
    with AIManager(providers={"echo": {"prices": PRICES}}, default="echo", config_file=False,
                   env={}, store={"path": str(bad)}, budget={"limit": "0"}) as ai:
        with caplog.at_level(logging.WARNING, logger="jtd_ai"):
            assert ai.driver().send_message("a").content == "echo: a"
        assert ai.storage.error is not None
    assert any(str(bad) in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("table", "message"), [
    ({"limit": "ten"}, "budget.limit must be an amount"),
    ({"limit": -1}, "0 or more"),
    ({"limit": True}, "budget.limit must be an amount"),
    ({"period": "week", "limit": 1}, "budget.period must be one of day, month, all"),
    ({"providers": {"openai": "x"}}, "budget.providers.openai"),
    ({"providers": "openai"}, "table of provider = amount"),
    ({"limt": 1}, "unknown key 'limt'"),
])
def test_bad_budget_settings_are_named(table, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BudgetLimits.from_config(table)


def test_no_limits_means_no_budget() -> None:
    assert BudgetLimits.from_config({}) is None
    assert BudgetLimits.from_config({"period": "day"}) is None
    limits = BudgetLimits.from_config({"limit": 10, "providers": {"x": "2.5"}})
    assert limits is not None
    assert (limits.limit, limits.providers["x"]) == (Decimal(10), Decimal("2.5"))


def test_a_budget_needs_the_ledger(stored) -> None:
    ai = stored(store={"ledger": False}, budget={"limit": 1})
    with pytest.raises(ConfigurationError, match="budgets are measured on the usage ledger"):
        ai.driver()


# -- the running totals (budget_totals) --------------------------------------------------------

class _Recorded:
    """A store passing everything through, recording each SQL statement it is given."""

    def __init__(self, store: object) -> None:
        self.store, self.statements = store, []

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def query(self, sql: str, params: object = ()) -> object:
        self.statements.append(sql)
        return self.store.query(sql, params)

    @contextlib.contextmanager
    def write(self, lock: str | None = None, *, shared: bool = False) -> Iterator[object]:
        with self.store.write(lock, shared=shared) as conn:
            yield _RecordedConnection(conn, self.statements)


class _RecordedConnection:
    def __init__(self, conn: object, statements: list[str]) -> None:
        self.conn, self.statements = conn, statements

    def execute(self, sql: str, params: object = ()) -> object:
        self.statements.append(sql)
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: object) -> object:
        self.statements.append(sql)
        return self.conn.executemany(sql, rows)


def test_a_check_reads_one_running_total_not_the_ledger(store_url) -> None:
    """However long the ledger, a check reads one row per limit: the period's sum is taken
    from the ledger once, when a budget first needs it, then kept up by every write."""
    store = open_store(store_url)
    ledger = Ledger(store)
    ledger.record(*[UsageRecord(provider="p", model="m", cost=Decimal(1))] * 5)
    recorded = _Recorded(store)
    plugin = BudgetPlugin(BudgetLimits(limit=Decimal(100), providers={"p": Decimal(100)}),
                          lambda: Ledger(recorded))  # type: ignore[arg-type]
    plugin.before_request(CallInfo(provider="p", driver="d", operation="chat"))
    assert any("FROM usage" in sql for sql in recorded.statements)  # the first: summed once
    ledger.record(UsageRecord(provider="p", model="m", cost=Decimal(2)))
    recorded.statements.clear()
    plugin.before_request(CallInfo(provider="p", driver="d", operation="chat"))
    assert recorded.statements and not any("usage" in sql for sql in recorded.statements)
    assert plugin.spent() == plugin.spent("p") == Decimal(7)
    store.close()


def _totals_match_the_ledger(store: object) -> list[tuple[str, str]]:
    """Every budget_totals row compared with the ledger's own sum; the keys checked."""
    checked = []
    for scope, start, pico, priced in store.query(  # type: ignore[attr-defined]
            "SELECT scope, period_start, spent_pico, priced FROM budget_totals"):
        by = " AND provider = ?" if scope else ""
        summed = store.query(  # type: ignore[attr-defined]
            "SELECT COALESCE(SUM(cost_pico), 0), COUNT(cost_pico) FROM usage "
            f"WHERE ts >= ?{by}", (start, scope) if scope else (start,))[0]
        assert (int(pico), int(priced)) == (int(summed[0]), int(summed[1])), (scope, start)
        checked.append((scope, start))
    return checked


def test_the_totals_equal_the_ledger_after_a_race(store_url) -> None:
    """Budgeted calls (settled with their row), calls of a manager with no budget (rows from
    its background writer) and checks seeding new totals, all at once, in threads of two
    managers: afterwards every running total equals the ledger's sum."""
    budgeted = AIManager(providers={"echo": {"prices": PRICES}, "other": {
        "driver": "echo", "prices": PRICES}}, default="echo", config_file=False, env={},
        store={"url": store_url}, budget={"limit": "1000", "providers": {"echo": "1000"}})
    plain = AIManager(providers={"echo": {"prices": PRICES}}, default="echo",
                      config_file=False, env={}, store={"url": store_url})
    day = BudgetPlugin(BudgetLimits(limit=Decimal(1000), period="day"),
                       lambda: Ledger(budgeted.storage.store()))
    failures: list[BaseException] = []

    def work(call: Callable[[], object]) -> None:
        try:
            for _ in range(25):
                call()
        except BaseException as exc:  # reported below
            failures.append(exc)

    jobs = [lambda: budgeted.driver().send_message("a"),
            lambda: budgeted.driver("other").send_message("a b"),
            lambda: plain.driver().send_message("a b c"),
            lambda: plain.driver().send_message("a"),
            lambda: day.before_request(CallInfo(provider="echo", driver="d",
                                                operation="chat"))]
    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures
        plain.storage.flush()
        budgeted.storage.flush()
        store = budgeted.storage.store()
        month, today = (period_start(p) for p in ("month", "day"))
        assert set(_totals_match_the_ledger(store)) >= {
            ("", month), ("echo", month), ("", today)}
        assert budgeted.usage.total().calls == 100
    finally:
        budgeted.close()
        plain.close()


def test_rows_written_with_no_budget_count_toward_one_configured_later(store_url) -> None:
    """Calls made while no budget was configured (and, once a total exists, by a manager
    with none) count toward a budget: the total is summed from the ledger when first read,
    then kept up by every ledger write."""
    plain = AIManager(providers={"echo": {"prices": PRICES}}, default="echo",
                      config_file=False, env={}, store={"url": store_url})
    later = AIManager(providers={"echo": {"prices": PRICES}}, default="echo",
                      config_file=False, env={}, store={"url": store_url},
                      budget={"limit": str(CALL * 4)})
    try:
        plain.driver().send_message("a")
        plain.driver().send_message("a")
        plain.storage.flush()
        later.driver().send_message("a")  # the first check sums the two rows above
        plain.driver().send_message("a")  # kept in the total by the writer of `plain`
        plain.storage.flush()
        with pytest.raises(BudgetExceededError) as caught:
            later.driver().send_message("a")
        assert caught.value.spent == CALL * 4
        _totals_match_the_ledger(later.storage.store())
    finally:
        plain.close()
        later.close()
