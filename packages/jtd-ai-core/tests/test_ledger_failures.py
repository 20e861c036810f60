"""Rows that cannot be written: a database locked past ``busy_timeout`` is retried before
its rows are given up; every row lost (locked for good, disk full) is counted one by one in
``storage.failures``, and the warning says how many, once per burst, not once per row."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import needs
from ledger_helpers import KEY, db_rows, manager

from jtd_ai import AIManager
from jtd_ai.store import Store
from jtd_ai.testing import FakeProviderServer

pytestmark = needs("openai")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(api_key=KEY) as running:
        yield running


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jtd-ai.db"


@pytest.fixture
def made() -> Iterator[list[AIManager]]:
    managers: list[AIManager] = []
    yield managers
    for ai in managers:
        ai.close()


def _ai(server: FakeProviderServer, db: Path, made: list[AIManager], **store: object
        ) -> AIManager:
    ai = manager(server, db, "openai", store=store)
    made.append(ai)
    ai.usage.total()  # the database exists, at the latest schema
    return ai


class _Seen(logging.Handler):
    """Keeps the records of the ``jtd_ai`` loggers and signals the first one holding a
    given text."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.event = threading.Event()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if self.text in record.getMessage():
            self.event.set()

    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.WARNING
                and r.name.startswith("jtd_ai.store")]


@pytest.fixture
def seen() -> Iterator[_Seen]:
    handler = _Seen("tried again")
    logger = logging.getLogger("jtd_ai")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _lock(db: Path) -> sqlite3.Connection:
    """Another connection holding the database's write lock until it commits."""
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


# -- a busy database ----------------------------------------------------------------------------


@pytest.mark.parametrize("background", [True, False])
def test_a_lock_held_past_busy_timeout_is_waited_out_by_retries(server, db, made, seen,
                                                                background) -> None:
    ai = _ai(server, db, made, busy_timeout=0.1, background_writes=background)
    holder = _lock(db)
    released = threading.Event()

    def release_after_the_first_retry() -> None:
        assert seen.event.wait(30), "no retry was logged"
        holder.execute("COMMIT")  # past busy_timeout: a retry takes the lock now
        released.set()

    releaser = threading.Thread(target=release_after_the_first_retry)
    releaser.start()
    try:
        for _ in range(40):
            ai.driver().send_message("hello")
        assert ai.storage.flush(timeout=30)
    finally:
        releaser.join(30)
        holder.close()
    assert released.is_set()
    assert len(db_rows(db)) == 40
    assert (ai.storage.failures, ai.storage.lost_rows) == (0, 0)
    assert seen.warnings() == []


def test_a_lock_held_through_every_retry_counts_each_row_lost_and_warns_once(
        server, db, made, seen) -> None:
    ai = _ai(server, db, made, busy_timeout=0.05)
    holder = _lock(db)
    try:
        for _ in range(40):
            ai.driver().send_message("hello")
        assert ai.storage.flush(timeout=60)  # written or given up, and counted
        lost = ai.storage.failures
        assert lost == ai.storage.lost_rows == 40
        [warning] = seen.warnings()
        assert "could not be written" in warning and "locked" in warning
        assert str(db) in warning
    finally:
        holder.close()  # the lock goes: later rows are written again
    for _ in range(5):
        ai.driver().send_message("hello")
    assert ai.storage.flush(timeout=30)
    assert len(db_rows(db)) == 5
    assert ai.storage.failures == 40
    assert len(seen.warnings()) == 1
    ai.close()  # the burst is over: its total is told if it grew past the first warning
    warnings = seen.warnings()
    first_batch = int(warnings[0].split()[2])
    if first_batch < 40:
        assert len(warnings) == 2 and "40 usage rows in all" in warnings[1]
    else:
        assert len(warnings) == 1


def test_rows_lost_and_rows_written_add_up_to_the_calls(server, db, made, seen) -> None:
    ai = _ai(server, db, made, busy_timeout=0.05)
    holder = _lock(db)
    for _ in range(20):
        ai.driver().send_message("while locked")
    assert ai.storage.flush(timeout=60)
    holder.execute("COMMIT")
    holder.close()
    for _ in range(20):
        ai.driver().send_message("after")
    assert ai.storage.flush(timeout=30)
    assert len(db_rows(db)) == 20 and ai.storage.failures == 20


def test_the_store_retries_a_busy_insert_a_bounded_number_of_times(db, seen) -> None:
    store = Store(db, busy_timeout=0.05, retries=2)
    store.open()
    holder = _lock(db)
    try:
        from jtd_ai.store import StoreBusyError

        with pytest.raises(StoreBusyError, match="locked"):
            store.insert("INSERT INTO provider_syncs VALUES (?, ?, ?)", [("p", "t", 1)])
    finally:
        holder.close()
        store.close()
    retries = [r for r in seen.records if "tried again" in r.getMessage()]
    assert [r.getMessage().split("(")[-1][:6] for r in retries] == ["1 of 2", "2 of 2"]


# -- a full disk --------------------------------------------------------------------------------


@pytest.fixture
def disk_full_after(monkeypatch) -> list[int]:
    """``disk_full_after.append(pages)``: connections the store opens from then on cannot
    grow the database past that many pages (SQLITE_FULL, as on a full disk)."""
    limit: list[int] = []
    connect = Store._connect

    def limited(self: Store) -> sqlite3.Connection:
        conn = connect(self)
        if limit:
            conn.execute(f"PRAGMA max_page_count = {limit[0]}")
        return conn

    monkeypatch.setattr(Store, "_connect", limited)
    return limit


@pytest.mark.parametrize("background", [True, False])
def test_a_full_disk_counts_exactly_the_rows_it_lost(server, db, made, seen, disk_full_after,
                                                     background) -> None:
    conn = sqlite3.connect(db)
    conn.close()
    ai = manager(server, db, "openai", store={"background_writes": background})
    made.append(ai)
    ai.usage.total()  # created and migrated while there is room
    pages = sqlite3.connect(db).execute("PRAGMA page_count").fetchone()[0]
    ai.storage.close()  # reopened below: its connections get the limit
    disk_full_after.append(pages + 3)
    calls = 600
    for i in range(calls):
        ai.driver().send_message(f"call number {i} of a long run that fills the disk")
    assert ai.storage.flush(timeout=60)
    written = len(db_rows(db))
    assert 0 < written < calls  # some rows fit, then the disk was full
    assert ai.storage.failures == ai.storage.lost_rows == calls - written
    [warning] = seen.warnings()  # one burst: one warning, however many rows and batches
    assert "disk is full" in warning
    ai.close()
    [_, total] = seen.warnings()
    assert f"{calls - written} usage rows in all" in total


def test_an_unusable_store_counts_the_rows_it_could_not_take(server, tmp_path, made,
                                                             caplog) -> None:
    bad = tmp_path / "jtd-ai.db"
    bad.write_bytes(b"not a database" * 100)
    ai = manager(server, bad, "openai")
    made.append(ai)
    with caplog.at_level(logging.WARNING, logger="jtd_ai"):
        for _ in range(7):
            ai.driver().send_message("hi")
        assert ai.storage.flush()
    assert ai.storage.lost_rows == 7
    assert sum(str(bad) in r.getMessage() for r in caplog.records) == 1  # said once
