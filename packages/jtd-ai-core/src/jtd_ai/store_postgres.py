"""The store on a PostgreSQL server, for an application running on several hosts.

The same interface as the SQLite :class:`~jtd_ai.store.Store` (``write``, ``insert``,
``query``, ``schema_version``), on psycopg 3 (the optional extra ``jtd-ai-core[postgres]``,
imported on first use only). Statements are written once, in the portable SQL of the SQLite
store: ``?`` placeholders become psycopg's, and in ``CREATE``/``ALTER`` statements
SQLite's 64-bit ``INTEGER`` becomes ``BIGINT``, ``INTEGER PRIMARY KEY`` an identity column and
``REAL`` ``DOUBLE PRECISION`` (:func:`postgres_sql`).

The schema is migrated on open by the same numbered steps as SQLite's, in one transaction
under a transaction-level advisory lock, so hosts opening a new database at once wait for
the first and then find it migrated; the version is kept in ``jtd_ai_schema``.

Each thread (and each process after a fork) has its own connection, in autocommit mode
outside :meth:`PostgresStore.write`, closed when the thread ends. In a manager's store
(``connect_timeout`` set), a thread serving a call never connects itself: a helper thread
makes the attempt, and the callers wait for it until ``connect_timeout`` seconds after it
began (callers arriving meanwhile join it rather than start another), then go on without
the store; the attempt runs on (up to ``max(2, busy_timeout)`` seconds, libpq's minimum being
2) and its connection, if it comes, serves the next thread needing one. Background work (the
ledger writer, inside :func:`jtd_ai.store.patient`) connects itself and waits that long. A
connection found lost (a restarted server, a network cut, a failover) is dropped and opened
again on next use; :meth:`PostgresStore.insert` tries a batch again on a lost connection. A
forked child never uses or closes the connections it inherited (closing one would end the
parent's session on the server).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import random
import re
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from jtd_ai.errors import ConfigurationError, StoreError
from jtd_ai.store import insert_retrying, is_patient

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore", "StoreUnavailableError", "display_url", "load_driver",
           "postgres_sql"]

log = logging.getLogger("jtd_ai.store")

#: Times :meth:`PostgresStore.insert` tries a batch again after losing the connection
#: (pausing 0.25 s, 0.5 s, 1 s, 2 s, 4 s: long enough for a server restart or a failover).
LOST_RETRIES = 5
#: Seconds the server lets one of our sessions sit idle inside a transaction before ending it.
IDLE_IN_TRANSACTION = 60
#: The advisory lock that serialises migrations (two int4 keys: "jtd-ai", "schema").
_SCHEMA_LOCK = "schema"

_STORES: weakref.WeakSet[PostgresStore] = weakref.WeakSet()
#: Connections a forked child inherited: kept alive, never used or closed there.
_INHERITED: list[Any] = []


class StoreUnavailableError(StoreError):
    """The database server could not be reached (or the connection to it was lost)."""


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)([^&]*)")
_MASK = "[REDACTED]"
#: What may split a password a driver misreads (libpq reads the user info up to the first
#: ``@`` or ``/``): each piece is remembered, so a driver's message quoting one is masked.
_SPLITS = re.compile(r"[#?/@&=:]")


def display_url(url: str) -> str:
    """``url`` fit to show: the password masked, in the user info or in the query string
    (``?password=...``, which libpq also reads). The user info's password is everything from
    the first ``:`` after ``://`` to the *last* ``@`` (so ``#``, ``?``, ``/`` or ``@`` left
    unescaped in a password never show; a ``@`` later in the URL may hide more than needed,
    never less). Every password found is also remembered, raw, unescaped and in the pieces
    such characters split it into, so :func:`jtd_ai.secret.redact` masks them in any log
    line or error text (a driver's own included)."""
    from urllib.parse import unquote

    from jtd_ai.secret import remember

    secrets: list[str] = []
    shown = url
    start = url.find("://")
    at = url.rfind("@")
    if start >= 0 and at > start:
        colon = url.find(":", start + 3, at)
        if colon >= 0:
            secrets.append(url[colon + 1:at])
            shown = f"{url[:colon + 1]}{_MASK}{url[at:]}"
    secrets += [m.group(2) for m in _QUERY_PASSWORD.finditer(url)]
    for secret in secrets:
        for value in (secret, unquote(secret), *_SPLITS.split(secret)):
            remember(value)
    return _QUERY_PASSWORD.sub(rf"\g<1>{_MASK}", shown)


class _RedactRecords(logging.Filter):
    """Masks remembered secrets in psycopg's own log records (a failed attempt's message
    may quote a password libpq misread as a host name)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from jtd_ai.secret import redact

        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_REDACT_RECORDS = _RedactRecords()


def lock_key(name: str) -> int:
    """The 64-bit advisory lock key of ``name`` (stable across hosts and versions)."""
    return 0x6A7464_00000000 | zlib.crc32(name.encode())


_DDL = re.compile(r"^\s*(CREATE|ALTER)\b", re.IGNORECASE)
_TYPES = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\b|\bINTEGER\b|\bREAL\b", re.IGNORECASE)
_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")


def _type(match: re.Match[str]) -> str:
    word = match.group(0).upper()
    if word.startswith("INTEGER") and "PRIMARY" in word:
        return "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    return "BIGINT" if word == "INTEGER" else "DOUBLE PRECISION"


@functools.lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """``sql`` as written for the SQLite store, for psycopg: ``?`` placeholders become
    ``%s`` (``%`` is doubled), and DDL gets PostgreSQL's types for SQLite's."""
    ddl = bool(_DDL.match(sql))
    parts = _QUOTED.split(sql)
    for i in range(0, len(parts), 2):  # the text outside quotes
        part = parts[i].replace("%", "%%").replace("?", "%s")
        parts[i] = _TYPES.sub(_type, part) if ddl else part
    for i in range(1, len(parts), 2):
        parts[i] = parts[i].replace("%", "%%")
    return "".join(parts)


class PostgresConnection:
    """A psycopg connection speaking the store's SQL (what ``write()`` yields)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        query: Any = postgres_sql(sql)  # built from the store's own statements only
        return self.raw.execute(query, tuple(params) or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(postgres_sql(sql), [tuple(r) for r in rows])

    def advisory_lock(self, name: str, *, shared: bool = False) -> None:
        """Take the advisory lock ``name`` until the transaction ends (alone, or
        ``shared`` with others taking it so; a transaction never waits for itself)."""
        take = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        self.raw.execute(f"SELECT {take}(%s)", (lock_key(name),))


class _ThreadEnd:
    """Kept in a thread's local storage: dropped when the thread ends, which closes that
    thread's connection (a server's connections are scarcer than file handles)."""

    __slots__ = ("__weakref__",)


def _release(store: weakref.ref[PostgresStore], held: weakref.ref[Any], pid: int) -> None:
    conn = held()
    if conn is None or os.getpid() != pid:
        return  # gone with its store, or a forked child (the parent's is never closed here)
    owner = store()
    if owner is not None:
        with owner._lock:
            if conn in owner._connections:
                owner._connections.remove(conn)
    with contextlib.suppress(Exception):
        conn.close()


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigurationError(
            "a postgresql:// store needs the PostgreSQL driver: "
            "pip install 'jtd-ai-core[postgres]'") from None
    return psycopg


def load_driver() -> None:
    """Import psycopg now (a ConfigurationError saying what to install if it is missing)."""
    _psycopg()


def _lost(conn: Any) -> bool:
    return bool(conn.closed or getattr(conn, "broken", False))


class _Attempt:
    """One connection attempt made by a helper thread for threads serving calls: it runs to
    its end (up to the driver's own timeout) however long they wait."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.started = time.monotonic()
        self.done = threading.Event()
        self.error: BaseException | None = None
        threading.Thread(target=self._run, name="jtd-ai-store-connect", daemon=True).start()

    def _run(self) -> None:
        store = self.store
        conn = None
        try:
            conn = store._open_connection()
        except Exception as exc:
            self.error = exc
        finally:
            with store._lock:
                if conn is not None:
                    store._spare.append(conn)
                if store._attempt is self:
                    store._attempt = None
            self.done.set()


class PostgresStore:
    """One PostgreSQL database, safe to share across threads, processes and hosts."""

    engine = "postgresql"
    #: Row ids may commit out of order (concurrent transactions): no incremental reads.
    ordered_ids = False

    def __init__(self, url: str, *, busy_timeout: float = 5.0,
                 retries: int = LOST_RETRIES, connect_timeout: float | None = None
                 ) -> None:
        self.url = url
        #: The URL with its password masked: what messages and reprs show.
        self.location = display_url(url)
        self.path = None
        self.busy_timeout = busy_timeout
        #: Seconds a thread serving a call waits for a new connection (see the module);
        #: None: every thread waits as long as the ledger writer (a store used directly).
        self.connect_timeout = connect_timeout
        self.retries = retries
        #: Connection attempts started (each thread's, each retry): for tests and stats.
        self.attempts = 0
        self._local = threading.local()
        self._lock = threading.RLock()
        self._connections: list[Any] = []
        # The connection attempt under way for threads serving calls (run by a helper
        # thread); a connection it makes goes to _spare, for the next thread needing one.
        self._attempt: _Attempt | None = None
        self._spare: list[Any] = []
        logging.getLogger("psycopg").addFilter(_REDACT_RECORDS)
        self._migrated_in: int | None = None
        #: (version found, version now) when this process opened the database.
        self.migrated: tuple[int, int] | None = None
        _STORES.add(self)

    def __del__(self) -> None:
        # Dropped without close(): close what this process opened (never a parent's).
        for conn in getattr(self, "_connections", ()):
            with contextlib.suppress(Exception):
                conn.close()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        _INHERITED.extend(self._connections)
        self._connections = []
        self._local = threading.local()
        self._attempt, self._spare = None, []

    def __repr__(self) -> str:
        return f"<PostgresStore {self.location!r}>"

    # -- errors ------------------------------------------------------------------------------

    def describe(self, exc: BaseException) -> StoreError:
        """A StoreError for a psycopg error, naming the store (password masked)."""
        from jtd_ai.secret import redact

        text = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else
                      type(exc).__name__)
        where = f"the jtd-ai database {self.location}"
        sqlstate = getattr(exc, "sqlstate", None) or ""
        psycopg = _psycopg()
        if "newer than this jtd-ai" in text:
            return StoreError(f"{where} was written by a newer jtd-ai: {text}; upgrade "
                              f"jtd-ai or point [store] url elsewhere", path=self.location)
        if sqlstate in ("42501", "25006"):  # insufficient privilege, read-only transaction
            return StoreError(f"{where} cannot be written by this user ({text}); grant it "
                              f"CREATE and write rights, or point [store] url elsewhere",
                              path=self.location)
        if sqlstate.startswith("28") or "password authentication" in text:
            return StoreError(f"{where} refused the login ({text}); check the user and "
                              f"password of [store] url", path=self.location)
        if sqlstate == "55P03":  # lock_timeout
            return StoreError(f"{where} stayed locked by another writer ({text}); raise "
                              f"[store] busy_timeout if many hosts write at once",
                              path=self.location)
        if sqlstate == "3D000":
            return StoreError(f"{where} does not exist ({text}); create it first "
                              f"(createdb) or point [store] url elsewhere", path=self.location)
        if isinstance(exc, psycopg.OperationalError):
            return StoreUnavailableError(f"{where} cannot be reached ({text}); check that "
                                         f"the server runs and accepts connections",
                                         path=self.location)
        return StoreError(f"{where} failed: {text}", path=self.location)

    # -- connections ---------------------------------------------------------------------------

    def open(self) -> PostgresStore:
        """Connect (creating and migrating the schema as needed) now, so errors surface."""
        self.connection()
        return self

    def connection(self) -> psycopg.Connection[Any]:
        """This thread's connection, opened and the schema checked on first use."""
        conn: Any = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid() and not _lost(conn):
            return conn  # type: ignore[no-any-return]
        if conn is not None and self._local.pid == os.getpid():
            self._drop(conn)
        conn = self._connect()
        end = _ThreadEnd()
        closer = weakref.finalize(end, _release, weakref.ref(self), weakref.ref(conn),
                                  os.getpid())
        self._local.conn, self._local.pid = conn, os.getpid()
        self._local.end, self._local.closer = end, closer
        return conn  # type: ignore[no-any-return]

    def hand_over(self) -> None:
        """Give this thread's connection to the next thread that needs one (the helper
        thread that opened the store for a call, before it ends)."""
        conn: Any = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            return
        self._local.closer.detach()
        self._local = threading.local()
        with self._lock:
            self._spare.append(conn)

    def _connect(self) -> psycopg.Connection[Any]:
        """A new connection: at once in background work (:func:`jtd_ai.store.patient`),
        else made by a helper thread and waited for until :attr:`connect_timeout` seconds
        after that attempt began (an attempt already under way is joined, not repeated)."""
        _psycopg()  # imported before the wait is timed
        if is_patient() or self.connect_timeout is None:
            return self._open_connection()  # type: ignore[no-any-return]
        while True:
            with self._lock:
                if self._spare:
                    return self._spare.pop()  # type: ignore[no-any-return]
                attempt = self._attempt
                if attempt is None:
                    attempt = self._attempt = _Attempt(self)
            attempt.done.wait(max(0.0, attempt.started + self.connect_timeout
                                  - time.monotonic()))
            if not attempt.done.is_set():
                raise StoreUnavailableError(
                    f"the jtd-ai database {self.location} cannot be reached (no answer "
                    f"within {self.connect_timeout:g}s, [store] connect_timeout); the "
                    f"store is skipped for this call", path=self.location)
            if attempt.error is not None:
                raise attempt.error
            # Its connection went to another thread waiting for it: try again.

    def _open_connection(self) -> Any:
        """Connect, set the session up and check the schema (raises StoreError with no
        chained driver exception: its text may quote the URL)."""
        psycopg = _psycopg()
        with self._lock:
            self.attempts += 1
        failure: BaseException | None = None
        try:
            conn = psycopg.connect(self.url, autocommit=True,
                                   connect_timeout=max(2, round(self.busy_timeout)),
                                   application_name="jtd-ai")
        except psycopg.Error as exc:
            failure = exc
        if failure is not None:
            raise self.describe(failure)
        try:
            # A lock held by another host is waited for up to busy_timeout, as SQLite's
            # writers wait; a session of ours left inside a transaction (a hung process)
            # is ended by the server so it cannot hold a lock for good.
            conn.execute("SELECT set_config('lock_timeout', %s, false), "
                         "set_config('idle_in_transaction_session_timeout', %s, false)",
                         (f"{max(1, round(self.busy_timeout * 1000))}ms",
                          f"{IDLE_IN_TRANSACTION}s"))
            self._check_schema(conn)
        except (psycopg.Error, ValueError) as exc:
            failure = exc
        if failure is not None:
            with contextlib.suppress(Exception):
                conn.close()
            raise self.describe(failure)
        with self._lock:
            self._connections.append(conn)
        return conn

    def _drop(self, conn: Any) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        with contextlib.suppress(Exception):
            conn.close()
        self._local.conn = None

    def _check_schema(self, conn: Any) -> None:
        if self._migrated_in == os.getpid():
            return
        found_now = migrate_postgres(PostgresConnection(conn))
        if self.migrated is None:
            self.migrated = found_now
        self._migrated_in = os.getpid()

    # -- reads and writes ----------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self, lock: str | None = None, *, shared: bool = False
              ) -> Iterator[PostgresConnection]:
        """A write transaction, committed on success; with ``lock``, the transaction first
        takes that advisory lock (every host's writers under the same name wait in turn;
        ``shared`` ones only wait for, and hold back, those that take it alone)."""
        psycopg = _psycopg()
        conn = self.connection()
        try:
            with conn.transaction():
                wrapped = PostgresConnection(conn)
                if lock is not None:
                    wrapped.advisory_lock(lock, shared=shared)
                yield wrapped
        except psycopg.Error as exc:
            if _lost(conn):
                self._drop(conn)
            raise self.describe(exc) from None

    def insert(self, sql: str, rows: Sequence[tuple[Any, ...]], *,
               also: Callable[[Any], None] | None = None) -> None:
        """``executemany(sql, rows)`` (then ``also(conn)``) in one transaction. A lost
        connection (a restarted server, a failover) is opened again and the batch tried
        again :attr:`retries` times with backoff; nothing is written unless everything is."""
        insert_retrying(self.write, sql, rows,
                        retries=self.retries, transient=StoreUnavailableError,
                        pause=lambda attempt: 0.25 * 2 ** (attempt - 1)
                        * random.uniform(0.75, 1.0), also=also)

    def query(self, sql: str, params: tuple[object, ...] | list[object] = ()) -> list[Any]:
        """Rows of a read (tried once more on a lost connection)."""
        psycopg = _psycopg()
        for attempt in (0, 1):
            conn = self.connection()
            try:
                return PostgresConnection(conn).execute(sql, params).fetchall()
            except psycopg.Error as exc:
                lost = _lost(conn)
                if lost:
                    self._drop(conn)
                if not lost or attempt:
                    raise self.describe(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def schema_version(self) -> int:
        return int(self.query("SELECT version FROM jtd_ai_schema")[0][0])

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._spare = []
        for conn in connections:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()


def migrate_postgres(conn: PostgresConnection, *, target: int | None = None
                     ) -> tuple[int, int]:
    """Bring the schema to ``target`` (default: the latest) in one transaction under an
    advisory lock; returns (version found, version now). Raises ValueError for a version
    newer than this jtd-ai knows."""
    from jtd_ai.migrations import LATEST, apply_steps

    target = LATEST if target is None else target
    with conn.raw.transaction():
        conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(_SCHEMA_LOCK),))
        conn.raw.execute("CREATE TABLE IF NOT EXISTS jtd_ai_schema (version INTEGER NOT NULL)")
        row = conn.raw.execute("SELECT version FROM jtd_ai_schema").fetchone()
        if row is None:
            conn.raw.execute("INSERT INTO jtd_ai_schema (version) VALUES (0)")
        found = int(row[0]) if row is not None else 0
        now = apply_steps(conn, found, target)
        if now != found:
            conn.raw.execute("UPDATE jtd_ai_schema SET version = %s", (now,))
    return found, now
