"""The SQLite store: location, WAL, migrations, unusable files, concurrent writers."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal
from pathlib import Path

import pytest

import jtd_ai.store as store_module
from jtd_ai import StoreError
from jtd_ai.ledger import Ledger, UsageRecord
from jtd_ai.migrations import LATEST, MIGRATIONS, migrate
from jtd_ai.store import Store, default_store_path, user_data_dir


def test_location_jtd_ai_home_then_xdg_then_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    assert default_store_path({"JTD_AI_HOME": str(tmp_path)}) == tmp_path / "jtd-ai.db"
    assert default_store_path({"XDG_DATA_HOME": "/x"}) == Path("/x/jtd-ai/jtd-ai.db")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_store_path({}) == tmp_path / ".local/share/jtd-ai/jtd-ai.db"


def test_location_on_macos_and_windows(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", "darwin")
    assert user_data_dir({}) == tmp_path / "Library/Application Support/jtd-ai"
    monkeypatch.setattr(sys, "platform", "win32")
    assert user_data_dir({"LOCALAPPDATA": "C:/Users/a/AppData/Local"}) == Path(
        "C:/Users/a/AppData/Local/jtd-ai")


def test_opens_in_wal_mode_at_the_latest_schema(tmp_path) -> None:
    store = Store(tmp_path / "sub" / "db.sqlite").open()
    assert store.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version() == LATEST
    assert store.migrated == (0, LATEST)
    store.close()
    again = Store(tmp_path / "sub" / "db.sqlite").open()
    assert again.migrated == (LATEST, LATEST)
    again.close()


def _v1_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    conn.execute("INSERT INTO usage (ts, provider, model, input_tokens, output_tokens, cost, "
                 "latency, status, streamed) VALUES ('2026-10-02T08:00:00.000000+00:00', "
                 "'openai', 'gpt-4o', 1000, 100, '0.0035', 0.5, 'ok', 1)")
    conn.execute("INSERT INTO models (provider, model, kind, capabilities, first_seen, "
                 "synced_at) VALUES ('openai', 'gpt-4o', 'chat', '{}', 'x', 'x')")
    conn.close()


def test_migrates_an_older_schema_and_keeps_its_rows(tmp_path) -> None:
    path = tmp_path / "old.db"
    _v1_database(path)
    store = Store(path).open()
    assert store.migrated == (1, LATEST)
    assert store.schema_version() == LATEST
    # The v1 row is kept, and the v2 columns are filled in from it.
    row = store.query("SELECT day, operation, cost_pico, deactivated_at FROM usage "
                      "JOIN models USING (provider, model)")[0]
    assert row == ("2026-10-02", "stream", 3_500_000_000, None)
    totals = Ledger(store).totals("provider")
    assert totals[0].cost == Decimal("0.0035")
    assert totals[0].input_tokens == 1000
    store.close()


def test_migrates_version_2_statuses_into_status_and_error(tmp_path) -> None:
    """Version 2 kept the error's type in ``status``; version 3 keeps ``ok`` / ``error`` /
    ``cancelled`` / ``interrupted`` there and the type in ``error``."""
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=2)
    for status in ("ok", "RateLimitError", "StreamInterruptedError", "ok"):
        conn.execute("INSERT INTO usage (ts, day, provider, model, status, streamed, cost, "
                     "cost_pico) VALUES ('2026-11-02T08:00:00.000000+00:00', '2026-11-02', "
                     "'openai', 'gpt-4o', ?, 0, '0.5', 500000000000)", (status,))
    conn.close()
    store = Store(path).open()
    assert store.migrated == (2, LATEST)
    assert store.query("SELECT status, error FROM usage ORDER BY id") == [
        ("ok", None), ("error", "RateLimitError"), ("error", "StreamInterruptedError"),
        ("ok", None)]
    ledger = Ledger(store)
    total = ledger.total()
    assert (total.calls, total.errors, total.cancelled, total.interrupted) == (4, 2, 0, 0)
    assert total.cost == Decimal(2)
    [old] = [r for r in ledger.records() if r.error == "RateLimitError"]
    assert old.status == "error"
    store.close()
    assert Store(path).open().migrated == (LATEST, LATEST)  # once only


def test_a_database_from_a_newer_jtd_ai_is_refused(tmp_path) -> None:
    path = tmp_path / "new.db"
    Store(path).open().close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer jtd-ai") as caught:
        Store(path).open()
    assert str(path) in str(caught.value)


def test_a_corrupt_file_gives_an_error_naming_it(tmp_path) -> None:
    path = tmp_path / "jtd-ai.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="corrupt or not SQLite") as caught:
        Store(path).open()
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)


def test_a_read_only_database_gives_an_error_naming_it(tmp_path, monkeypatch) -> None:
    path = tmp_path / "jtd-ai.db"
    path.write_bytes(b"")  # an empty file: sqlite must write to make it a database
    # Root ignores file modes, so open it the way a read-only file system would.
    monkeypatch.setattr(store_module, "_OPEN_MODE", "ro")
    with pytest.raises(StoreError, match="is read-only") as caught:
        Store(path).open()
    assert str(path) in str(caught.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a non-root POSIX user for file permissions to bind")
def test_a_read_only_file_by_permissions(tmp_path) -> None:  # pragma: no cover - non-root
    path = tmp_path / "jtd-ai.db"
    path.write_bytes(b"")
    path.chmod(0o444)
    with pytest.raises(StoreError, match="read-only"):
        Store(path).open()


def test_a_path_that_is_a_folder_gives_an_error_naming_it(tmp_path) -> None:
    (tmp_path / "jtd-ai.db").mkdir()
    with pytest.raises(StoreError, match="cannot open") as caught:
        Store(tmp_path / "jtd-ai.db").open()
    assert str(tmp_path / "jtd-ai.db") in str(caught.value)


def _record(n: int, who: str) -> UsageRecord:
    return UsageRecord(provider=who, model="m", input_tokens=n, output_tokens=1,
                       cost=Decimal("0.000001"), ts=dt.datetime(2026, 11, 24, tzinfo=dt.UTC))


def test_concurrent_writer_threads_lose_no_row(tmp_path) -> None:
    path = tmp_path / "jtd-ai.db"
    shared = Store(path)
    threads, per_thread = 8, 60

    def work(i: int) -> None:
        # Half the threads share one Store, half open their own: both must be safe.
        store = shared if i % 2 else Store(path)
        ledger = Ledger(store)
        for n in range(per_thread):
            ledger.record(_record(n, f"t{i}"))

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    total = Ledger(Store(path)).total()
    assert total.calls == threads * per_thread
    assert total.cost == Decimal("0.000001") * threads * per_thread
    assert len(Ledger(shared).totals("provider")) == threads


WRITER = textwrap.dedent("""
    import datetime as dt, sys
    from decimal import Decimal
    from jtd_ai.ledger import Ledger, UsageRecord
    from jtd_ai.store import Store
    path, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ledger = Ledger(Store(path))
    for n in range(count):
        ledger.record(UsageRecord(provider=who, model="m", input_tokens=n, output_tokens=1,
                                  cost=Decimal("0.000002")))
""")


def test_concurrent_writer_processes_lose_no_row(tmp_path) -> None:
    path = tmp_path / "jtd-ai.db"
    Store(path).open().close()  # created first, so every process finds the schema
    processes, per_process = 4, 80
    running = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{i}", str(per_process)],
                         stderr=subprocess.PIPE)
        for i in range(processes)
    ]
    for proc in running:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    totals = Ledger(Store(path)).totals("provider")
    assert [t.calls for t in totals] == [per_process] * processes
    assert sum(t.cost for t in totals) == Decimal("0.000002") * processes * per_process


def test_processes_creating_the_database_at_once_agree_on_its_schema(tmp_path) -> None:
    path = tmp_path / "fresh.db"
    running = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{i}", "5"],
                                stderr=subprocess.PIPE) for i in range(4)]
    for proc in running:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    store = Store(path)
    assert store.schema_version() == LATEST == len(MIGRATIONS)
    assert Ledger(store).total().calls == 20


def test_many_threads_opening_a_new_database_at_once_all_succeed(tmp_path) -> None:
    # Switching a new file to WAL answers "locked" at once (no busy handler); the store must
    # wait that out rather than fail whoever came second.
    failures: list[Exception] = []
    for trial in range(120):
        path = tmp_path / f"fresh-{trial}.db"

        def open_it(path=path) -> None:
            try:
                Store(path).open().close()
            except Exception as exc:
                failures.append(exc)

        workers = [threading.Thread(target=open_it) for _ in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert failures == []
