"""The store's record of provider batch jobs (table ``batch_jobs``, migration v5).

One row per provider job: which run and part of the input it holds, the local step reached
(``new``, ``uploaded``, ``creating``, ``submitted``, ``collected``), the uploaded file and the
provider's job id, its last known state and counts. In the ``creating`` step ``updated`` is
when the creation was first attempted (the search for a job a crash left uncertain reads the
provider's listing back to that time). Every step is written before the next
one starts, so a process that dies resumes from the row (see :mod:`jtd_ai.jobs`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
from attrs import frozen

if TYPE_CHECKING:
    from jtd_ai.store import AnyStore

__all__ = ["LOCK", "STEPS", "JobBook", "JobRecord"]

#: The local steps of a job, in order.
STEPS = ("new", "uploaded", "creating", "submitted", "collected")

_COLUMNS = ("id", "run_id", "part", "provider", "driver", "model", "input_digest",
            "first_index", "items", "step", "file_id", "job_id", "state", "completed",
            "failed", "output_ref", "error_ref", "message", "created", "updated")


_INSERT = (f"INSERT INTO batch_jobs ({', '.join(_COLUMNS)}) "  # noqa: S608
           f"VALUES ({', '.join('?' * len(_COLUMNS))})")
#: The lock of the write transactions that read the jobs before writing them (a new run's
#: rows, a job marked collected): ``budget``, as a new run may hold budget and a collected
#: job gives it back, which must be serialised with every budget check.
LOCK = "budget"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@frozen(kw_only=True)
class JobRecord:
    """One provider job as the store holds it."""

    id: str
    run_id: str
    part: int
    provider: str
    driver: str
    model: str
    input_digest: str
    first_index: int
    items: int
    step: str = "new"
    file_id: str | None = None
    job_id: str | None = None
    #: The provider's state as a :class:`~jtd_ai.batch_protocol.JobState` value.
    state: str | None = None
    completed: int | None = None
    failed: int | None = None
    output_ref: str | None = None
    error_ref: str | None = None
    message: str | None = None
    created: str = attrs.field(factory=_now)
    updated: str = attrs.field(factory=_now)

    def row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in _COLUMNS)

    def creating_since(self) -> float:
        """When the job's creation was first attempted (Unix seconds), for a job in the
        ``creating`` step: its ``updated``, which nothing writes again in that step (a
        resumed creation keeps it). Of a record in another step: when it last changed."""
        return dt.datetime.fromisoformat(self.updated).timestamp()


class JobBook:
    """Reads and writes ``batch_jobs`` rows."""

    def __init__(self, store: AnyStore) -> None:
        self.store = store

    def add(self, records: Sequence[JobRecord]) -> None:
        """Insert the jobs of a new run, in one transaction."""
        self.store.insert(_INSERT, [r.row() for r in records])

    def add_in(self, conn: Any, records: Sequence[JobRecord]) -> None:
        """:meth:`add` inside a write transaction the caller holds."""
        conn.executemany(_INSERT, [r.row() for r in records])

    def update(self, record: JobRecord, **changes: Any) -> JobRecord:
        """Write ``changes`` to ``record``'s row; returns the record as now stored."""
        new = attrs.evolve(record, updated=_now(), **changes)
        self.store.insert(self._update_sql(changes), [self._update_values(new, changes)])
        return new

    def update_in(self, conn: Any, record: JobRecord, **changes: Any) -> JobRecord:
        """:meth:`update` inside a write transaction the caller holds."""
        new = attrs.evolve(record, updated=_now(), **changes)
        conn.execute(self._update_sql(changes), self._update_values(new, changes))
        return new

    @staticmethod
    def _update_sql(changes: dict[str, Any]) -> str:
        sets = ", ".join(f"{name} = ?" for name in [*changes, "updated"])
        return f"UPDATE batch_jobs SET {sets} WHERE id = ?"  # noqa: S608

    @staticmethod
    def _update_values(new: JobRecord, changes: dict[str, Any]) -> tuple[Any, ...]:
        return (*(getattr(new, name) for name in changes), new.updated, new.id)

    def run(self, run_id: str, conn: Any = None) -> list[JobRecord]:
        """The jobs of one run, by part (read in ``conn``'s transaction when given)."""
        return self._select("WHERE run_id = ? ORDER BY part", [run_id], conn)

    def step_in(self, conn: Any, record: JobRecord) -> str | None:
        """The step the store holds for ``record``, read in ``conn``'s transaction."""
        rows = conn.execute("SELECT step FROM batch_jobs WHERE id = ?", (record.id,)).fetchall()
        return str(rows[0][0]) if rows else None

    def find(self, ident: str) -> list[JobRecord]:
        """The jobs of a run id, or the job with this provider job id or local id."""
        found = self.run(ident)
        return found or self._select("WHERE job_id = ? OR id = ? ORDER BY part", [ident, ident])

    def recent(self, limit: int = 50) -> list[JobRecord]:
        """The most recently changed jobs first."""
        return self._select("ORDER BY updated DESC LIMIT ?", [int(limit)])

    def _select(self, where: str, params: list[object], conn: Any = None) -> list[JobRecord]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM batch_jobs {where}"  # noqa: S608
        rows = (conn.execute(sql, params).fetchall() if conn is not None
                else self.store.query(sql, params))
        return [JobRecord(**dict(zip(_COLUMNS, row, strict=True))) for row in rows]
