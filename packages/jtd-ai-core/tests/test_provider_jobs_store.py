"""Provider batch jobs and the manager's store: ``[store] ledger`` respected from the API,
the store reached through the public accessor, ``[budget]`` checked and held before upload,
collection and conversation turns atomic across processes (SQLite and a real PostgreSQL
server), and a result file over the reply cap named with its setting."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from batch_server_helpers import fresh_batches_fixture, server_fixture  # noqa: F401
from cli_helpers import needs
from pg_cluster import pg_cluster_fixture, pg_url_fixture  # noqa: F401

from jtd_ai import AIManager, Driver, Response
from jtd_ai.errors import BudgetExceededError, ConfigurationError, ResponseTooLargeError
from jtd_ai.jobs import collect_batch_job, run_batch_job
from jtd_ai.storage import storage_of
from jtd_ai.testing.server import FakeProviderServer, Fault

pytestmark = [needs("openai"), needs("gemini")]

MODEL = "gpt-4o-mini"
#: gpt-4o-mini's standard prices per million tokens (input, output), from OpenAI's page.
RATES = (Decimal("0.15"), Decimal("0.60"))
FAST = {"poll_interval": 0.01, "max_poll_interval": 0.02}
CHILD = Path(__file__).parent / "helpers" / "batch_collect_child.py"


@pytest.fixture
def make(server: FakeProviderServer, tmp_path: Path) -> Iterator[Callable[..., AIManager]]:
    """``make(store=..., budget=..., **openai settings)``: a manager on ``tmp_path``'s store."""
    made: list[AIManager] = []

    def build(*, store: dict[str, Any] | None = None, budget: dict[str, Any] | None = None,
              **settings: Any) -> AIManager:
        manager = AIManager(
            providers={"openai": {"base_url": server.base_url("openai"), "api_key": "sk-test",
                                  "retry_delay": 1, **settings}},
            config_file=False, env={},
            store={"path": str(tmp_path / "jtd-ai.db"), **(store or {})}, budget=budget)
        made.append(manager)
        return manager

    yield build
    for manager in made:
        manager.close()


def query(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "jtd-ai.db") as conn:
        return conn.execute(sql).fetchall()


def batch_paths(server: FakeProviderServer) -> list[str]:
    return [r.path for r in server.requests if "batch" in r.path or "/files" in r.path]


# -- [store] ledger ------------------------------------------------------------------------------


def test_ledger_off_writes_no_rows_from_the_api_sync_and_async(
        make: Callable[..., AIManager], tmp_path: Path) -> None:
    import asyncio

    driver = make(store={"ledger": False}).driver("openai")
    results = run_batch_job(driver, ["no row 1", "no row 2"], model=MODEL, **FAST)
    sent = driver.send_batch(["no row 3"], model=MODEL, mode="provider", poll_interval=0.01)
    again = asyncio.run(driver.asend_batch(["no row 4"], model=MODEL, mode="provider",
                                           poll_interval=0.01))
    assert [r.content for r in [*results, *sent, *again]] == [  # type: ignore[union-attr]
        "echo: no row 1", "echo: no row 2", "echo: no row 3", "echo: no row 4"]
    assert query(tmp_path, "SELECT count(*) FROM usage") == [(0,)]
    assert query(tmp_path, "SELECT DISTINCT step FROM batch_jobs") == [("collected",)]


def test_ledger_on_writes_one_row_per_item(make: Callable[..., AIManager],
                                           tmp_path: Path) -> None:
    driver = make().driver("openai")
    run_batch_job(driver, ["a row 1", "a row 2"], model=MODEL, **FAST)
    assert query(tmp_path, "SELECT count(*) FROM usage") == [(2,)]


# -- the store, through the public accessor -------------------------------------------------------


def test_a_driver_finds_its_managers_storage(make: Callable[..., AIManager],
                                             server: FakeProviderServer) -> None:
    manager = make()
    driver = manager.driver("openai")
    assert storage_of(driver) is manager.storage
    alone = Driver(driver.protocol)  # made without a manager: no store to record jobs in
    assert storage_of(alone) is None
    server.requests.clear()
    with pytest.raises(ConfigurationError, match="store="):
        run_batch_job(alone, ["nowhere to record"], model=MODEL)
    assert batch_paths(server) == []


# -- [budget] ------------------------------------------------------------------------------------


def ceiling(server: FakeProviderServer, file_id: str, max_tokens: int) -> Decimal:
    """The most the job uploaded as ``file_id`` may cost: one input token per byte of each
    line (its newline too) and ``max_tokens`` out, at half gpt-4o-mini's price."""
    lines = server.batches.files[file_id].data.splitlines()
    tokens_in = sum(len(line) + 1 for line in lines)
    tokens_out = max_tokens * len(lines)
    return (tokens_in * RATES[0] + tokens_out * RATES[1]) / 1_000_000 / 2


def test_a_run_over_the_budget_is_refused_before_anything_is_sent(
        make: Callable[..., AIManager], server: FakeProviderServer, tmp_path: Path) -> None:
    driver = make(budget={"limit": "0.000001"}).driver("openai")
    server.requests.clear()
    with pytest.raises(BudgetExceededError, match="nothing was uploaded") as raised:
        run_batch_job(driver, ["dear 1", "dear 2"], model=MODEL, max_tokens=10, **FAST)
    assert raised.value.scope == "global" and raised.value.limit == Decimal("0.000001")
    assert batch_paths(server) == []
    assert query(tmp_path, "SELECT count(*) FROM batch_jobs") == [(0,)]
    assert query(tmp_path, "SELECT count(*) FROM budget_reservations") == [(0,)]


@pytest.mark.parametrize("max_tokens", [50, None])
def test_a_run_holds_its_ceiling_until_collected(
        make: Callable[..., AIManager], server: FakeProviderServer, tmp_path: Path,
        max_tokens: int | None) -> None:
    server.batches.polls = 10_000  # running until told otherwise
    driver = make(budget={"providers": {"openai": 5}}).driver("openai")
    options = {"max_tokens": max_tokens} if max_tokens else {}
    prompts = ["held item one", "held item two, a little longer"]
    run_id = run_batch_job(driver, prompts, model=MODEL, wait=False, **options)
    ((file_id,),) = query(tmp_path, "SELECT file_id FROM batch_jobs")
    # Without max_tokens an item is counted at 4,096 output tokens.
    expected = ceiling(server, file_id, max_tokens or 4096)
    ((ident, provider, pico, created, expires),) = query(
        tmp_path, "SELECT * FROM budget_reservations")
    assert (ident, provider) == (f"job:{run_id}:0", "openai")
    assert Decimal(pico) / 10**12 == expected
    held_for = dt.datetime.fromisoformat(expires) - dt.datetime.fromisoformat(created)
    assert held_for == dt.timedelta(days=3)

    server.batches.polls = 1
    results = collect_batch_job(driver, run_id, **FAST)
    assert query(tmp_path, "SELECT count(*) FROM budget_reservations") == [(0,)]
    cost = sum(r.cost for r in results if isinstance(r, Response) and r.cost is not None)
    assert 0 < cost <= expected  # the ceiling bounds what the run cost
    assert query(tmp_path, "SELECT count(*) FROM usage") == [(2,)]


def test_a_held_run_counts_against_other_runs_and_live_calls(
        make: Callable[..., AIManager], server: FakeProviderServer, tmp_path: Path) -> None:
    server.batches.polls = 10_000
    first = make(budget={"limit": 1000}).driver("openai")
    run_id = run_batch_job(first, ["first run a", "first run b"], model=MODEL,
                           max_tokens=100, wait=False)
    ((held,),) = query(tmp_path, "SELECT estimate_pico FROM budget_reservations")
    held_dollars = Decimal(held) / 10**12

    # Room for one such run, not two: the second is refused while the first holds budget.
    tight = make(budget={"limit": str(held_dollars * 3 / 2)}).driver("openai")
    server.requests.clear()
    with pytest.raises(BudgetExceededError, match="in flight hold"):
        run_batch_job(tight, ["other run a", "other run b"], model=MODEL, max_tokens=100,
                      wait=False)
    assert batch_paths(server) == []
    # A live call sees the hold too once it fills the limit.
    exact = make(budget={"limit": str(held_dollars)}).driver("openai")
    with pytest.raises(BudgetExceededError):
        exact.send_message("live while held", model=MODEL)

    server.batches.polls = 1
    collect_batch_job(first, run_id, **FAST)  # the hold becomes the (much smaller) cost
    second = run_batch_job(tight, ["other run a", "other run b"], model=MODEL, max_tokens=100,
                           **FAST)
    assert [r.content for r in second] == [  # type: ignore[union-attr]
        "echo: other run a", "echo: other run b"]
    assert exact.send_message("live after", model=MODEL).content == "echo: live after"


def test_a_resumed_run_is_not_checked_again(make: Callable[..., AIManager],
                                            server: FakeProviderServer,
                                            tmp_path: Path) -> None:
    server.batches.polls = 10_000
    run_batch_job(make(budget={"limit": 1000}).driver("openai"), ["resumed"], model=MODEL,
                  max_tokens=5, wait=False)
    ((held,),) = query(tmp_path, "SELECT estimate_pico FROM budget_reservations")
    created = len(server.batches.created)
    server.batches.polls = 1
    # Room for this run's hold once, not twice: resuming it does not hold it again.
    tight = make(budget={"limit": str(Decimal(held) * 3 / 2 / 10**12)}).driver("openai")
    results = run_batch_job(tight, ["resumed"], model=MODEL, max_tokens=5, **FAST)
    assert [r.content for r in results] == ["echo: resumed"]  # type: ignore[union-attr]
    assert len(server.batches.created) == created


# -- a result file over the reply cap ---------------------------------------------------------


def test_a_result_file_over_max_response_size_names_the_setting_and_loses_nothing(
        make: Callable[..., AIManager], server: FakeProviderServer, tmp_path: Path) -> None:
    prompts = [f"a long enough prompt number {i}" for i in range(12)]
    small = make(max_response_size=4096).driver("openai")
    with pytest.raises(ResponseTooLargeError) as raised:
        run_batch_job(small, prompts, model=MODEL, **FAST)
    message = str(raised.value)
    assert "providers.openai.max_response_size (4,096 bytes)" in message
    assert "jtd-ai jobs collect" in message
    assert query(tmp_path, "SELECT step FROM batch_jobs") == [("submitted",)]
    assert query(tmp_path, "SELECT count(*) FROM usage") == [(0,)]
    created = len(server.batches.created)
    results = run_batch_job(make().driver("openai"), prompts, model=MODEL, **FAST)
    assert [r.content for r in results] == [f"echo: {p}" for p in prompts]  # type: ignore[union-attr]
    assert len(server.batches.created) == created
    assert query(tmp_path, "SELECT count(*) FROM usage") == [(12,)]


# -- atomic across processes ---------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_two_processes_collecting_one_run_record_each_result_once(
        server: FakeProviderServer, tmp_path: Path, engine: str,
        request: pytest.FixtureRequest) -> None:
    from jtd_ai.ledger import Ledger
    from jtd_ai.store import open_store

    url = str(tmp_path / "race.db") if engine == "sqlite" else str(
        request.getfixturevalue("pg_url"))
    store = open_store(url)
    prompts = ["race one", "race two", "race three"]
    with AIManager(providers={"openai": {"base_url": server.base_url("openai"),
                                         "api_key": "sk-test"}},
                   config_file=False, env={}, store={"enabled": False}) as manager:
        run_id = run_batch_job(manager.driver("openai"), prompts, model=MODEL, store=store,
                               wait=False)
    # Both children reach the download, which the server holds back, before either writes.
    server.inject(Fault(delay=3.0, path_contains="/content"), times=2)
    children = [subprocess.Popen([sys.executable, str(CHILD), server.url, url, "openai",
                                  run_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    for child in children:
        out, err = child.communicate(timeout=90)
        assert child.returncode == 0, err
        assert json.loads(out) == [f"echo: {p}" for p in prompts]
    downloads = [r for r in server.requests if r.path.endswith("/content")]
    assert len(downloads) >= 2  # both children did collect
    assert Ledger(store).total(provider="openai").calls == len(prompts)  # once each
    store.close()


def test_a_conversation_turn_waits_for_its_lock_on_postgresql(pg_url: str) -> None:
    import psycopg

    from jtd_ai import ChatRequest, Message
    from jtd_ai.convlog import ConversationLog
    from jtd_ai.store import open_store
    from jtd_ai.store_postgres import lock_key

    store = open_store(pg_url)
    store.open()
    log = ConversationLog(store)
    request = ChatRequest.build((Message.user("locked turn"),), "m")
    done: list[Any] = []
    with psycopg.connect(pg_url) as other:  # another host, mid-append on this conversation
        other.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("conversation:c-1"),))
        writer = threading.Thread(target=lambda: done.append(log.record(
            request, None, provider="p", conversation_id="c-1")))
        writer.start()
        time.sleep(0.5)
        assert writer.is_alive() and done == []  # waiting its turn
        other.commit()  # the other host's transaction ends: its lock goes
        writer.join(10)
    assert [t.conversation_id for t in done] == ["c-1"]
    assert [t.id for t in log.turns("c-1")] == [done[0].id]
    store.close()
