"""The embedded SQLite database behind the catalog and the usage ledger.

One file, WAL mode (readers never block the writer), a busy timeout so writers from other
threads and processes wait their turn instead of failing, and every write in a
``BEGIN IMMEDIATE`` transaction so no row is lost between two writers. Each thread (and each
process after a fork) gets its own connection. The schema is migrated on open
(:mod:`jtd_ai.migrations`). A file that cannot be used raises :class:`StoreError` naming it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jtd_ai.errors import StoreError
from jtd_ai.migrations import LATEST, migrate

__all__ = ["DB_NAME", "Store", "default_store_path", "user_data_dir"]

#: The database's file name inside ``JTD_AI_HOME`` or the user data directory.
DB_NAME = "jtd-ai.db"

# sqlite open mode; tests set "ro" to stand in for a read-only file system (root ignores
# file permissions, so chmod cannot make a file read-only for it).
_OPEN_MODE = "rwc"


def user_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where jtd-ai keeps data by default: the platform's user data directory."""
    env = os.environ if env is None else env
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "jtd-ai"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "jtd-ai"
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "jtd-ai"


def default_store_path(env: Mapping[str, str] | None = None) -> Path:
    """``$JTD_AI_HOME/jtd-ai.db``, else ``jtd-ai.db`` in the user data directory."""
    env = os.environ if env is None else env
    home = env.get("JTD_AI_HOME")
    base = Path(home).expanduser() if home else user_data_dir(env)
    return base / DB_NAME


def describe(path: Path, exc: BaseException) -> StoreError:
    """A StoreError for ``exc`` that names the file and says what to do."""
    text = str(exc)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        message = (f"the jtd-ai database {path} is read-only ({text}); make it writable, "
                   f"point [store] path elsewhere, or set [store] enabled = false")
    elif "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        message = (f"{path} is not a usable jtd-ai database: it is corrupt or not SQLite "
                   f"({text}); move it aside (a new one is created on next use) or point "
                   f"[store] path elsewhere")
    elif "newer than this jtd-ai" in lowered:
        message = (f"the jtd-ai database {path} was written by a newer jtd-ai: {text}; "
                   f"upgrade jtd-ai or point [store] path elsewhere")
    elif "locked" in lowered or "busy" in lowered:
        message = (f"the jtd-ai database {path} stayed locked by another writer ({text}); "
                   f"raise [store] busy_timeout if many processes write at once")
    elif "unable to open" in lowered:
        message = (f"cannot open the jtd-ai database {path} ({text}); check that its folder "
                   f"exists and is writable, or point [store] path elsewhere")
    else:
        message = f"the jtd-ai database {path} failed: {text}"
    return StoreError(message, path=str(path))


class Store:
    """One SQLite database file, safe to share across threads and processes."""

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._migrated_in: int | None = None  # pid that checked the schema
        #: (version found, version now) when this process opened the file.
        self.migrated: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"<Store {str(self.path)!r}>"

    def open(self) -> Store:
        """Open (creating and migrating as needed) now, so errors surface here."""
        self.connection()
        return self

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened and the schema checked on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = self._connect()
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of the jtd-ai database {self.path}: "
                             f"{exc.strerror}", path=str(self.path)) from None
        uri = f"file:{quote(str(self.path))}?mode={_OPEN_MODE}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout,
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise describe(self.path, exc) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            mode = self._enable_wal(conn)
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"attempt to write a readonly database "
                                               f"(journal mode stays {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Appends and small lookups: 512 KiB of page cache per connection is plenty,
            # where SQLite's default (2 MiB) would add to every process's memory.
            conn.execute("PRAGMA cache_size = -512")
            self._check_schema(conn)
        except (sqlite3.Error, ValueError) as exc:
            conn.close()
            raise describe(self.path, exc) from None
        with self._lock:
            self._connections.append(conn)
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> str:
        """Switch to WAL, waiting out other connections doing the same: SQLite answers
        "locked" at once there instead of calling the busy handler."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        if self._migrated_in == os.getpid():
            return
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version != LATEST:
            found_now = migrate(conn)
            if self.migrated is None:
                self.migrated = found_now
        elif self.migrated is None:
            self.migrated = (version, version)
        self._migrated_in = os.getpid()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: taken at once (``BEGIN IMMEDIATE``), committed on success."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise describe(self.path, exc) from None
        try:
            yield conn
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise describe(self.path, exc) from None
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise describe(self.path, exc) from None

    def query(self, sql: str, params: tuple[object, ...] | list[object] = ()) -> list[Any]:
        """Rows of a read; sqlite errors become a StoreError naming the file."""
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise describe(self.path, exc) from None

    def schema_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()
