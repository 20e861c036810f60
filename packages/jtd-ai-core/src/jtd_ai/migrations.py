"""The store's schema, as ordered migration steps; the schema's version says which ran.

The same steps run on both engines: the version is ``PRAGMA user_version`` on SQLite (run
by :func:`migrate` here) and the ``jtd_ai_schema`` table on PostgreSQL (run by
:func:`jtd_ai.store_postgres.migrate_postgres`, which gives each step a connection that takes
the same SQL). So steps are written in portable SQL: TEXT, INTEGER (64-bit on both), BIGINT,
REAL; ``INTEGER PRIMARY KEY`` for a generated id; ``?`` placeholders; no SQLite-only
functions; each statement run with ``conn.execute`` (never ``executescript``).

Step ``n`` (1-based) takes a database at version ``n - 1`` to version ``n``. Steps add (a
table, a column, an index) and backfill; none drops anything. Version 3 moved the error's type
out of ``usage.status`` (now ``ok``, ``error``, ``cancelled`` or ``interrupted``) into
``usage.error``. Version 4 added the reply cache (:mod:`jtd_ai.cache`) and the conversation
log (:mod:`jtd_ai.convlog`); version 5 the provider batch jobs (:mod:`jtd_ai.jobs`);
version 6 the budget reservations of calls in flight (:mod:`jtd_ai.budget`); version 7 the
running totals budgets read instead of summing the ledger (``budget_totals``, filled for a
period from the ledger when a budget first needs it, then kept by every ledger write). A
database written by a newer jtd-ai (a higher version than :data:`LATEST`) is refused rather
than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

__all__ = ["LATEST", "MIGRATIONS", "PICO", "migrate", "to_pico"]

#: Costs are summed exactly as integer picodollars (10^-12 USD) in ``usage.cost_pico``.
PICO = Decimal(10) ** 12

_V1 = """
CREATE TABLE models (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    display_name TEXT,
    context_length INTEGER,
    max_output_tokens INTEGER,
    capabilities TEXT NOT NULL,
    pricing TEXT,
    created TEXT,
    owned_by TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    first_seen TEXT NOT NULL,
    synced_at TEXT NOT NULL,
    PRIMARY KEY (provider, model)
);
CREATE TABLE usage (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT,
    request_id TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cached_input_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost TEXT,
    latency REAL,
    status TEXT NOT NULL,
    streamed INTEGER NOT NULL DEFAULT 0
);
"""

_V2 = """
ALTER TABLE models ADD COLUMN deactivated_at TEXT;
CREATE TABLE provider_syncs (
    provider TEXT PRIMARY KEY,
    synced_at TEXT NOT NULL,
    models INTEGER NOT NULL
);
ALTER TABLE usage ADD COLUMN day TEXT;
ALTER TABLE usage ADD COLUMN driver TEXT;
ALTER TABLE usage ADD COLUMN operation TEXT;
ALTER TABLE usage ADD COLUMN cache_write_tokens INTEGER;
ALTER TABLE usage ADD COLUMN batch_id TEXT;
ALTER TABLE usage ADD COLUMN attempts INTEGER;
ALTER TABLE usage ADD COLUMN price_source TEXT;
ALTER TABLE usage ADD COLUMN price_as_of TEXT;
ALTER TABLE usage ADD COLUMN cost_pico INTEGER;
UPDATE usage SET day = substr(ts, 1, 10),
                 operation = CASE WHEN streamed != 0 THEN 'stream' ELSE 'chat' END;
CREATE INDEX usage_ts ON usage (ts);
CREATE INDEX usage_provider_ts ON usage (provider, ts);
CREATE INDEX usage_day ON usage (day);
"""

# The usage status takes four values (ok, error, cancelled, interrupted); the error's type,
# which status used to hold, moves to its own column.
_V3 = """
ALTER TABLE usage ADD COLUMN error TEXT;
UPDATE usage SET error = status, status = 'error' WHERE status != 'ok'
"""


# The reply cache (jtd_ai.cache) and the conversation log (jtd_ai.convlog). Portable SQL:
# ids are made by jtd-ai (no AUTOINCREMENT), times are ISO-8601 UTC text, JSON is text.
_V4 = """
CREATE TABLE reply_cache (
    digest TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    size INTEGER NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    used TEXT NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX reply_cache_expires ON reply_cache (expires);
CREATE INDEX reply_cache_used ON reply_cache (used);
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    started TEXT NOT NULL,
    updated TEXT NOT NULL,
    title TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT,
    system TEXT,
    turns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_updated ON conversations (updated);
CREATE TABLE turns (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    ts TEXT NOT NULL,
    history_index INTEGER NOT NULL,
    message_count INTEGER NOT NULL,
    base_digest TEXT NOT NULL,
    state_digest TEXT NOT NULL,
    messages TEXT NOT NULL,
    prompt TEXT NOT NULL,
    system TEXT,
    options TEXT NOT NULL,
    reply TEXT,
    tool_calls TEXT,
    reasoning TEXT,
    reply_metadata TEXT,
    finish_reason TEXT,
    provider TEXT NOT NULL,
    driver TEXT,
    model TEXT,
    requested_model TEXT,
    operation TEXT NOT NULL,
    request_id TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost TEXT,
    cost_pico BIGINT,
    latency REAL,
    cached INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    error TEXT,
    batch_id TEXT
);
CREATE INDEX turns_conversation_ts ON turns (conversation_id, ts);
CREATE INDEX turns_ts ON turns (ts)
"""


# Provider batch jobs (jtd_ai.jobs): one row per job of a run (a large input is split into
# several), with what a process needs to resume it: the uploaded file, the provider's job id,
# the local step reached and the input items the job holds (first_index, items).
_V5 = """
CREATE TABLE batch_jobs (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    part INTEGER NOT NULL,
    provider TEXT NOT NULL,
    driver TEXT NOT NULL,
    model TEXT NOT NULL,
    input_digest TEXT NOT NULL,
    first_index INTEGER NOT NULL,
    items INTEGER NOT NULL,
    step TEXT NOT NULL,
    file_id TEXT,
    job_id TEXT,
    state TEXT,
    completed INTEGER,
    failed INTEGER,
    output_ref TEXT,
    error_ref TEXT,
    message TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX batch_jobs_run ON batch_jobs (run_id, part);
CREATE INDEX batch_jobs_job ON batch_jobs (provider, job_id);
CREATE INDEX batch_jobs_updated ON batch_jobs (updated)
"""


# Budgets: one row per call in flight that passed a budget check, holding what it is
# expected to cost until its ledger row is written (jtd_ai.budget).
_V6 = """
CREATE TABLE budget_reservations (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    estimate_pico BIGINT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE INDEX budget_reservations_expires ON budget_reservations (expires)
"""


# Budgets: the spend of each (provider, or '' for all; period start, or '' for all time),
# equal to the ledger's sum over the rows from that start on: seeded from the ledger when a
# budget first reads it, then added to by every ledger write, in the same transaction
# (jtd_ai.ledger.add_to_budget_totals).
_V7 = """
CREATE TABLE budget_totals (
    scope TEXT NOT NULL,
    period_start TEXT NOT NULL,
    spent_pico BIGINT NOT NULL,
    priced BIGINT NOT NULL,
    PRIMARY KEY (scope, period_start)
)
"""


def to_pico(cost: Decimal | str | None) -> int | None:
    """``cost`` in integer picodollars (half-even below a picodollar), or None."""
    if cost is None:
        return None
    try:
        value = Decimal(cost) * PICO
    except InvalidOperation:
        return None
    return int(value.to_integral_value())


def _v2(conn: sqlite3.Connection) -> None:
    for statement in _statements(_V2):
        conn.execute(statement)
    # Exact integer costs for rows written before cost_pico existed.
    rows = conn.execute("SELECT id, cost FROM usage WHERE cost IS NOT NULL").fetchall()
    conn.executemany("UPDATE usage SET cost_pico = ? WHERE id = ?",
                     [(to_pico(cost), row_id) for row_id, cost in rows])


def _v1(conn: sqlite3.Connection) -> None:
    for statement in _statements(_V1):
        conn.execute(statement)


def _v3(conn: sqlite3.Connection) -> None:
    for statement in _statements(_V3):
        conn.execute(statement)


def _v4(conn: sqlite3.Connection) -> None:
    for statement in _statements(_V4):
        conn.execute(statement)


def _v5(conn: sqlite3.Connection) -> None:
    for statement in _statements(_V5):
        conn.execute(statement)


def _v6(conn: sqlite3.Connection) -> None:
    for statement in _statements(_V6):
        conn.execute(statement)


def _v7(conn: sqlite3.Connection) -> None:
    for statement in _statements(_V7):
        conn.execute(statement)


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT the open transaction; run the statements one by one.
    return [s.strip() for s in script.split(";") if s.strip()]


#: Every step, in order; the schema's version is the number of steps applied.
#: A step is given a connection of either engine (``execute``, ``executemany``).
MIGRATIONS: tuple[Callable[[Any], None], ...] = (_v1, _v2, _v3, _v4, _v5, _v6, _v7)
LATEST = len(MIGRATIONS)


def apply_steps(conn: Any, found: int, target: int) -> int:
    """Run the steps from version ``found`` up to ``target`` on ``conn`` (either engine, in
    the caller's transaction); the version now. The runners of both engines share it.
    Raises ValueError for a version newer than this jtd-ai knows."""
    if found > LATEST:
        raise ValueError(f"schema version {found} is newer than this jtd-ai knows "
                         f"({LATEST})")
    for step in MIGRATIONS[found:target]:
        step(conn)
    return max(found, target)


def migrate(conn: sqlite3.Connection, *, target: int = LATEST) -> tuple[int, int]:
    """Bring ``conn``'s schema to ``target`` in one immediate transaction; returns
    (version found, version now). Raises ValueError for a version newer than known."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        now = apply_steps(conn, found, target)
        if now != found:
            conn.execute(f"PRAGMA user_version = {int(now)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found, now
