"""The embedded SQLite database behind the catalog and the usage ledger.

This is the default engine; :func:`open_store` picks the engine a ``[store] url`` names: a
SQLite file here, or a PostgreSQL database shared by several hosts
(:class:`jtd_ai.store_postgres.PostgresStore`, same interface: ``write``, ``insert``,
``query``, ``schema_version``, ``close``). The SQLite engine stays on the standard library's
``sqlite3``: what follows needs its raw connection.

One file, WAL mode (readers never block the writer), and every write in a
``BEGIN IMMEDIATE`` transaction so no row is lost between two writers. A writer that finds
the database locked by another one waits for it (up to ``busy_timeout``), and a batch of rows
(:meth:`Store.insert`) is then tried again a few times with backoff before it is given up.
Each thread (and each process after a fork) gets its own connection. The schema is migrated
on open (:mod:`jtd_ai.migrations`). A file that cannot be used raises :class:`StoreError`
naming it.

Forks. SQLite keeps process-wide mutexes (its allocator's, its file-lock table's); a process
forked while another of its threads is inside SQLite inherits them locked, and the child's
first use of SQLite (any connection, any file) hangs for good. So every call into SQLite made
here passes a gate, and ``os.fork()`` (through ``os.register_at_fork``) waits until no thread
is inside before forking, and lets none in until it has. Waits for a lock held by another
connection happen outside the gate (SQLite's own busy handler is off after opening), so a
fork is held back only while a statement runs. In the child the parent's connections are
never used or closed (closing one could checkpoint and delete the WAL under the parent):
each thread opens its own again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import quote

from jtd_ai.errors import StoreError
from jtd_ai.fork_gate import ForkGate
from jtd_ai.migrations import LATEST, migrate

if TYPE_CHECKING:
    from jtd_ai.store_postgres import PostgresStore

__all__ = ["BUSY_RETRIES", "DB_NAME", "AnyStore", "Store", "StoreBusyError",
           "default_store_path", "is_patient", "open_store", "patient", "store_location",
           "user_data_dir"]

log = logging.getLogger("jtd_ai.store")

T = TypeVar("T")

#: Times :meth:`Store.insert` tries a batch again once the database stayed locked for
#: ``busy_timeout`` (each try waits ``busy_timeout`` again, after a pause of up to 0.25 s,
#: 0.5 s, 1 s, scaled down for a busy_timeout under a second).
BUSY_RETRIES = 3

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


class StoreBusyError(StoreError):
    """The database stayed locked by another connection for longer than ``busy_timeout``."""


def _is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (another connection holds the lock we need)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (5, 6)
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def _error(path: Path, exc: BaseException) -> StoreError:
    error = describe(path, exc)
    if _is_busy(exc):
        return StoreBusyError(error.message, path=str(path))
    return error


#: The gate around every call into SQLite (see the module docstring).
_gate = ForkGate()
_STORES: weakref.WeakSet[Store] = weakref.WeakSet()
#: Connections a forked child inherited: never used or closed there, only kept alive (the
#: garbage collector would close them).
_INHERITED: list[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    _gate.after_fork_in_child()
    for store in list(_STORES):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(before=_gate.before_fork, after_in_parent=_gate.after_fork_in_parent,
                        after_in_child=_after_fork_in_child)


_patience = threading.local()


@contextlib.contextmanager
def patient() -> Iterator[None]:
    """Mark the calling thread as doing background work (the ledger writer, a query of the
    API): inside, a database server may take its full connect timeout to answer, where a
    thread serving a chat call gives up sooner (``[store] connect_timeout``)."""
    before = getattr(_patience, "on", False)
    _patience.on = True
    try:
        yield
    finally:
        _patience.on = before


def is_patient() -> bool:
    """Whether the calling thread is inside :func:`patient`."""
    return bool(getattr(_patience, "on", False))


def _pause(delay: float, deadline: float) -> float:
    """Sleep a little (with jitter) towards ``deadline``; the next, longer delay."""
    pause = min(delay * random.uniform(0.5, 1.0), deadline - time.monotonic())
    time.sleep(max(0.0, pause))
    return min(delay * 2, 0.05)


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


def insert_retrying(write: Callable[[], contextlib.AbstractContextManager[Any]], sql: str,
                    rows: Sequence[tuple[Any, ...]], *, retries: int,
                    transient: type[StoreError], pause: Callable[[int], float],
                    also: Callable[[Any], None] | None = None) -> None:
    """``executemany(sql, rows)`` (then ``also(conn)``) in one ``write()`` transaction,
    tried again up to ``retries`` times after a ``transient`` error, ``pause(attempt)``
    seconds later (attempt counts from 1): each engine's :meth:`insert`, with its own
    transient error and backoff."""
    attempt = 0
    while True:
        try:
            with write() as conn:
                conn.executemany(sql, rows)
                if also is not None:
                    also(conn)
            return
        except transient as exc:
            if attempt >= retries:
                raise
            attempt += 1
            delay = pause(attempt)
            log.debug("jtd-ai store: %s; %d rows tried again (%d of %d) in %.3fs", exc,
                      len(rows), attempt, retries, delay)
            time.sleep(delay)


class Store:
    """One SQLite database file, safe to share across threads and processes."""

    engine = "sqlite"
    #: Row ids commit in order (one writer at a time).
    ordered_ids = True

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0,
                 retries: int = BUSY_RETRIES) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout = busy_timeout
        #: Times :meth:`insert` tries again after the database stayed busy.
        self.retries = retries
        self._local = threading.local()
        # Re-entrant, as are the gate's and the writer's: a SIGTERM handler writing rows may
        # run in a thread interrupted while holding them.
        self._lock = threading.RLock()
        self._connections: list[sqlite3.Connection] = []
        self._migrated_in: int | None = None  # pid that checked the schema
        #: (version found, version now) when this process opened the file.
        self.migrated: tuple[int, int] | None = None
        _STORES.add(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        _INHERITED.extend(self._connections)
        self._connections = []
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"<Store {str(self.path)!r}>"

    @property
    def location(self) -> str:
        """What messages show of this store: its file's path."""
        return str(self.path)

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
        # Opening (and migrating) waits in SQLite's busy handler, inside the gate: only while
        # another process creates or migrates the same file at the same moment.
        with _gate.held():
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
                # From here on a lock held by another connection is waited for outside the
                # gate (see _busy), not in SQLite's busy handler.
                conn.execute("PRAGMA busy_timeout = 0")
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

    def _busy(self, work: Callable[[], T]) -> T:
        """``work()`` inside the gate; while another connection holds the lock it needs, try
        again (pausing outside the gate) until ``busy_timeout`` has passed. sqlite errors
        become a StoreError naming the file (StoreBusyError when it stayed locked)."""
        deadline: float | None = None
        delay = 0.001
        while True:
            _gate.enter()
            try:
                return work()
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    raise describe(self.path, exc) from None
                failure = exc
            finally:
                _gate.leave()
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.busy_timeout
            if now >= deadline:
                raise _error(self.path, failure) from None
            delay = _pause(delay, deadline)

    @contextlib.contextmanager
    def write(self, lock: str | None = None, *, shared: bool = False
              ) -> Iterator[sqlite3.Connection]:
        """A write transaction: taken at once (``BEGIN IMMEDIATE``, waiting up to
        ``busy_timeout`` for another writer), committed on success. ``lock`` names what the
        transaction must hold (alone, or ``shared`` with other such writers) on engines with
        finer locks (PostgreSQL); here every write transaction already holds the whole
        database."""
        conn = self.connection()

        def begin() -> None:
            conn.execute("BEGIN IMMEDIATE")
            _gate.enter()  # held until the transaction ends

        self._busy(begin)
        try:
            try:
                yield conn
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _error(self.path, exc) from None
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise _error(self.path, exc) from None
        finally:
            _gate.leave()

    def insert(self, sql: str, rows: Sequence[tuple[Any, ...]], *,
               also: Callable[[Any], None] | None = None) -> None:
        """``executemany(sql, rows)`` (then ``also(conn)``) in one write transaction. A
        database that stays locked past
        ``busy_timeout`` is tried again :attr:`retries` times, with backoff, before
        :class:`StoreBusyError` is raised; nothing is written unless everything is."""
        base = min(self.busy_timeout, 1.0) / 4
        insert_retrying(self.write, sql, rows, retries=self.retries, transient=StoreBusyError,
                        pause=lambda attempt: base * 2 ** (attempt - 1)
                        * random.uniform(0.5, 1.0), also=also)

    def query(self, sql: str, params: tuple[object, ...] | list[object] = ()) -> list[Any]:
        """Rows of a read; sqlite errors become a StoreError naming the file."""
        conn = self.connection()
        return self._busy(lambda: conn.execute(sql, params).fetchall())

    def schema_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        with self._lock:
            connections, self._connections = self._connections, []
        with _gate.held():
            for conn in connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        self._local = threading.local()


#: A store of either engine: the embedded SQLite file, or a PostgreSQL database.
AnyStore: TypeAlias = "Store | PostgresStore"

_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")


def store_location(value: str | Path) -> tuple[str, str | Path]:
    """``("sqlite", path)`` or ``("postgresql", url)`` for a ``[store] url`` (or path).

    A plain path, ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (SQLAlchemy's
    forms) is a SQLite file; ``postgresql://`` (also ``postgres://``) a PostgreSQL database.
    Any other scheme is a ConfigurationError showing the URL with its password masked."""
    from jtd_ai.errors import ConfigurationError
    from jtd_ai.store_postgres import display_url as mask_url

    if isinstance(value, Path):
        return "sqlite", value.expanduser()
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or len(scheme) == 1:  # a path (C:\\ on Windows is not a scheme)
        if not text:
            raise ConfigurationError("store.url must be a database URL or a file path, "
                                     "not an empty string")
        return "sqlite", Path(text).expanduser()
    lowered = scheme.lower()
    if lowered == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ConfigurationError(
                f"store.url {mask_url(text)!r}: write a SQLite file as sqlite:///relative.db "
                f"or sqlite:////absolute/path.db")
        return "sqlite", Path(rest[1:]).expanduser()
    if lowered in ("postgresql", "postgres", "postgresql+psycopg"):
        return "postgresql", "postgresql://" + rest
    raise ConfigurationError(
        f"store.url {mask_url(text)!r} has an unknown scheme {scheme!r}: use a file path, "
        f"sqlite:///file.db, or postgresql://user@host/database")


def open_store(value: str | Path, *, busy_timeout: float = 5.0,
               connect_timeout: float | None = None) -> AnyStore:
    """The store at ``value`` (a path or URL, see :func:`store_location`), not yet opened.
    ``connect_timeout`` (a database server only): seconds a thread serving a call waits for
    a new connection (outside :func:`patient`); None: as long as background work."""
    engine, where = store_location(value)
    if engine == "postgresql":
        from jtd_ai.store_postgres import PostgresStore

        return PostgresStore(str(where), busy_timeout=busy_timeout,
                             connect_timeout=connect_timeout)
    return Store(where, busy_timeout=busy_timeout)
