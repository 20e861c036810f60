"""The store's schema, as ordered migration steps; ``PRAGMA user_version`` says which ran.

Step ``n`` (1-based) takes a database at version ``n - 1`` to version ``n``. Steps add (a
table, a column, an index) and backfill; none drops anything. Version 3 moved the error's type
out of ``usage.status`` (now ``ok``, ``error``, ``cancelled`` or ``interrupted``) into
``usage.error``. A database written by a newer jtd-ai (a higher version than :data:`LATEST`)
is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

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
                 operation = CASE WHEN streamed THEN 'stream' ELSE 'chat' END;
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


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT the open transaction; run the statements one by one.
    return [s.strip() for s in script.split(";") if s.strip()]


#: Every step, in order; the schema's version is the number of steps applied.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2, _v3)
LATEST = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, *, target: int = LATEST) -> tuple[int, int]:
    """Bring ``conn``'s schema to ``target`` in one immediate transaction; returns
    (version found, version now). Raises ValueError for a version newer than known."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > LATEST:
            raise ValueError(f"schema version {found} is newer than this jtd-ai knows "
                             f"({LATEST})")
        for step in MIGRATIONS[found:target]:
            step(conn)
        now = max(found, target)
        if now != found:
            conn.execute(f"PRAGMA user_version = {int(now)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found, now
