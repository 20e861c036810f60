"""The usage ledger: one row per chat call that was sent, and totals by provider, model or day.

Rows are made by :class:`LedgerPlugin`, a pluggy plugin on ``after_response`` (sends,
finished streams, batch items) and ``on_error`` (failed calls; an interrupted stream's row
carries what its ``partial`` reply had; calls the caller stopped, which the driver reports as
a :class:`~jtd_ai.calls.CallStoppedError`), and written by a background
:class:`~jtd_ai.ledger_writer.LedgerWriter` (or at once, if so configured). A row's
``status`` is one of :data:`STATUSES`: ``ok``; ``error`` (``error`` holds the error's type);
``cancelled`` (a stream closed before its end, an asyncio task cancelled); ``interrupted``
(KeyboardInterrupt, SystemExit). Tokens are what was known when the call ended. A row that
cannot be written is reported (a WARNING per burst of failures, each row counted in
``Storage.failures``) and the call goes on.

Costs are stored twice: exactly as text (``cost``) and as integer picodollars
(``cost_pico``), which is what the totals sum, so sums are exact Decimals.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from jtd_ai.hookspecs import hookimpl
from jtd_ai.migrations import PICO, to_pico

if TYPE_CHECKING:
    from jtd_ai.calls import CallInfo
    from jtd_ai.errors import AIError
    from jtd_ai.ledger_writer import LedgerWriter
    from jtd_ai.pricing import Pricing
    from jtd_ai.responses import Response
    from jtd_ai.store import AnyStore

__all__ = ["GROUPS", "STATUSES", "Ledger", "LedgerPlugin", "UsageRecord", "UsageTotal",
           "add_to_budget_totals", "usage_row"]

#: What totals can be grouped by (any combination, in the order given).
GROUPS = ("provider", "model", "day", "driver", "status", "error", "operation", "batch_id")
#: The values of a row's ``status``.
STATUSES = ("ok", "error", "cancelled", "interrupted")

_FIELDS = ("ts", "day", "provider", "driver", "model", "operation", "request_id",
           "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
           "reasoning_tokens", "cost", "cost_pico", "latency", "status", "streamed",
           "batch_id", "attempts", "price_source", "price_as_of", "error")
_INSERT = (f"INSERT INTO usage ({', '.join(_FIELDS)}) "  # noqa: S608
           f"VALUES ({', '.join('?' * len(_FIELDS))})")
_LEDGER_OPERATIONS = frozenset({"chat", "stream"})
_TS, _PROVIDER, _COST = (_FIELDS.index(f) for f in ("ts", "provider", "cost_pico"))
#: The lock every ledger write holds shared, and a budget check alone (PostgreSQL; on
#: SQLite every write holds the whole file): a check that sums a period's total from the
#: ledger never misses a row committed meanwhile, nor a write the total it just made.
BUDGET_LOCK = "budget"


def add_to_budget_totals(conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    """Add the priced ``rows`` (being inserted in the caller's transaction) to every
    ``budget_totals`` row they fall in: that table then stays equal to the ledger."""
    priced = [(r[_PROVIDER], r[_TS], int(r[_COST])) for r in rows if r[_COST] is not None]
    if not priced:
        return
    hold = getattr(conn, "advisory_lock", None)  # PostgreSQL's connection only
    if hold is not None:
        hold(BUDGET_LOCK, shared=True)
    updates = []
    for scope, start in conn.execute("SELECT scope, period_start FROM budget_totals"
                                     ).fetchall():
        matching = [cost for provider, ts, cost in priced
                    if scope in ("", provider) and ts >= start]
        if matching:
            updates.append((sum(matching), len(matching), scope, start))
    if updates:
        conn.executemany("UPDATE budget_totals SET spent_pico = spent_pico + ?, "
                         "priced = priced + ? WHERE scope = ? AND period_start = ?", updates)


@frozen(kw_only=True)
class UsageRecord:
    """One call as the ledger keeps it. Token counts are None when the provider gave none
    (or none had arrived when the call ended)."""

    provider: str
    model: str | None
    #: One of :data:`STATUSES`.
    status: str = "ok"
    #: For ``error``: the error's type (``RateLimitError``); for ``cancelled`` and
    #: ``interrupted``: what stopped the call (``GeneratorExit``, ``CancelledError``,
    #: ``KeyboardInterrupt``); None for ``ok``.
    error: str | None = None
    ts: dt.datetime = field(factory=lambda: dt.datetime.now(dt.UTC))
    driver: str | None = None
    operation: str = "chat"
    request_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: Decimal | None = None
    latency: float | None = None
    streamed: bool = False
    batch_id: str | None = None
    attempts: int | None = None
    price_source: str | None = None
    price_as_of: dt.date | None = None

    def row(self) -> tuple[Any, ...]:
        """The values stored, in the order of the ledger's columns."""
        ts = self.ts.astimezone(dt.UTC)
        values = {
            "ts": ts.isoformat(timespec="microseconds"), "day": ts.date().isoformat(),
            "cost": str(self.cost) if self.cost is not None else None,
            "cost_pico": to_pico(self.cost), "streamed": int(self.streamed),
            "price_as_of": self.price_as_of.isoformat() if self.price_as_of else None,
        }
        return tuple(values[f] if f in values else getattr(self, f) for f in _FIELDS)


def usage_row(call: CallInfo, response: Response | None, *, status: str = "ok",
              error: str | None = None, latency: float | None = None,
              pricing: Pricing | None = None,
              ts: dt.datetime | None = None) -> tuple[Any, ...]:
    """The ledger row of ``call`` (in the order of the ledger's columns), from its reply or
    the partial reply of a failure. Made as a tuple on every call: a UsageRecord would only
    be taken apart again by the writer."""
    usage = response.usage if response is not None else None
    cost = response.cost if response is not None else None
    if response is not None and response.pricing is not None:
        pricing = response.pricing
    if cost is None and usage is not None and pricing is not None:
        cost = pricing.cost(usage)
    if cost is None:
        pricing = None
    moment = dt.datetime.now(dt.UTC) if ts is None else ts.astimezone(dt.UTC)
    if response is not None and response.latency is not None:
        latency = response.latency
    as_of = pricing.as_of if pricing is not None else None
    iso = moment.isoformat(timespec="microseconds")
    return (
        iso, iso[:10], call.provider,
        call.driver, response.model if response is not None else call.model, call.operation,
        response.request_id if response is not None else None,
        usage.input_tokens if usage else None, usage.output_tokens if usage else None,
        usage.cached_input_tokens if usage else None,
        usage.cache_write_tokens if usage else None,
        usage.reasoning_tokens if usage else None,
        str(cost) if cost is not None else None, to_pico(cost), latency, status,
        int(call.operation == "stream"), call.batch_id, call.attempts,
        pricing.source if pricing is not None else None,
        as_of.isoformat() if as_of else None, error,
    )


@frozen
class UsageTotal:
    """Sums over a group of ledger rows; ``group`` maps each grouping column to its value."""

    group: dict[str, str | None]
    calls: int
    #: Calls with status ``error``.
    errors: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost: Decimal
    #: Successful calls whose cost is unknown (no price), so not in ``cost``.
    unpriced: int
    #: Calls with status ``cancelled`` and ``interrupted``.
    cancelled: int = 0
    interrupted: int = 0


def _count(status: str) -> str:
    """Portable SQL counting the rows of ``status`` (PostgreSQL cannot sum booleans)."""
    return f"SUM(CASE WHEN status = '{status}' THEN 1 ELSE 0 END)"


def _day_bound(value: dt.date | dt.datetime) -> str:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return dt.datetime.combine(value, dt.time(), dt.UTC).isoformat(timespec="microseconds")


class Ledger:
    """Write usage rows and read totals back (times and days are UTC)."""

    def __init__(self, store: AnyStore) -> None:
        self.store = store

    def record(self, *records: UsageRecord) -> None:
        """Append rows, in one transaction."""
        self.record_rows([r.row() for r in records])

    @staticmethod
    def insert_rows(conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Append rows made by :func:`usage_row` inside a write transaction the caller holds
        (``Store.write()``), so they commit together with its other writes or not at all;
        the budgets' running totals are kept with them."""
        conn.executemany(_INSERT, rows)
        add_to_budget_totals(conn, rows)

    def record_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Append rows made by :func:`usage_row`, in one transaction that also adds them to
        the budgets' running totals (a busy database is waited for and retried; see
        :meth:`Store.insert`)."""
        self.store.insert(_INSERT, rows, also=lambda conn: add_to_budget_totals(conn, rows))

    @staticmethod
    def period_total(conn: Any, provider: str | None, since: str | None) -> tuple[int, int]:
        """(picodollars spent, priced rows) by ``provider`` (None: all) from ``since`` (None:
        all time) on, read as one row of ``budget_totals`` inside the caller's transaction
        (which must hold :data:`BUDGET_LOCK` alone). A period no budget read before is first
        summed from the ledger, so rows written with no budget configured count too."""
        scope, start = provider or "", since or ""
        found = conn.execute("SELECT spent_pico, priced FROM budget_totals "
                             "WHERE scope = ? AND period_start = ?", (scope, start)).fetchall()
        if found:
            return int(found[0][0]), int(found[0][1])
        by = " AND provider = ?" if provider else ""
        row = conn.execute(
            "SELECT COALESCE(SUM(cost_pico), 0), COUNT(cost_pico) FROM usage "  # noqa: S608
            f"WHERE ts >= ?{by}", (start, provider) if provider else (start,)).fetchall()[0]
        pico, priced = int(row[0]), int(row[1])
        # Totals of periods long past are dropped (any still read is summed again).
        stale = (dt.datetime.now(dt.UTC) - dt.timedelta(days=40)).isoformat(
            timespec="microseconds")
        conn.execute("DELETE FROM budget_totals WHERE period_start != '' AND "
                     "period_start < ?", (stale,))
        conn.execute("INSERT INTO budget_totals (scope, period_start, spent_pico, priced) "
                     "VALUES (?, ?, ?, ?)", (scope, start, pico, priced))
        return pico, priced

    def _where(self, since: dt.date | dt.datetime | None, until: dt.date | dt.datetime | None,
               filters: dict[str, str | None]) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if since is not None:
            clauses.append("ts >= ?")
            params.append(_day_bound(since))
        if until is not None:
            clauses.append("ts < ?")
            params.append(_day_bound(until))
        for column, value in filters.items():
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def totals(self, by: str | Sequence[str] = (), *,
               since: dt.date | dt.datetime | None = None,
               until: dt.date | dt.datetime | None = None,
               provider: str | None = None, model: str | None = None) -> list[UsageTotal]:
        """Totals grouped ``by`` any of :data:`GROUPS` (``"provider"``, ``("provider",
        "model")``, ``"day"``, ...), from ``since`` (inclusive) to ``until`` (exclusive);
        a date means its midnight UTC. No grouping gives one total over every row."""
        from jtd_ai.errors import ValidationError

        groups = (by,) if isinstance(by, str) else tuple(by)
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise ValidationError(f"cannot group usage by {unknown[0]!r}; use any of "
                                  f"{', '.join(GROUPS)}", field="by")
        where, params = self._where(since, until, {"provider": provider, "model": model})
        keys = ", ".join(groups)
        sql = (
            f"SELECT {keys + ', ' if keys else ''}COUNT(*), "  # noqa: S608
            f"{_count('error')}, SUM(COALESCE(input_tokens, 0)), "
            "SUM(COALESCE(output_tokens, 0)), SUM(COALESCE(cached_input_tokens, 0)), "
            "SUM(COALESCE(cache_write_tokens, 0)), SUM(COALESCE(reasoning_tokens, 0)), "
            "SUM(COALESCE(cost_pico, 0)), "
            "SUM(CASE WHEN status = 'ok' AND cost_pico IS NULL THEN 1 ELSE 0 END), "
            f"{_count('cancelled')}, {_count('interrupted')} "
            f"FROM usage{where}"
            + (f" GROUP BY {keys} ORDER BY {keys}" if keys else "")
        )
        result = []
        for row in self.store.query(sql, params):
            n = len(groups)
            calls = int(row[n] or 0)
            if not groups and calls == 0:
                continue
            ints = [int(v or 0) for v in row[n:]]
            result.append(UsageTotal(
                {g: (None if v is None else str(v)) for g, v in zip(groups, row, strict=False)},
                calls, ints[1], ints[2], ints[3], ints[4], ints[5], ints[6],
                Decimal(ints[7]) / PICO, ints[8], ints[9], ints[10],
            ))
        return result

    def total(self, *, since: dt.date | dt.datetime | None = None,
              until: dt.date | dt.datetime | None = None, provider: str | None = None,
              model: str | None = None) -> UsageTotal:
        """One total over the rows that match (zeros when none do)."""
        found = self.totals(since=since, until=until, provider=provider, model=model)
        return found[0] if found else UsageTotal({}, 0, 0, 0, 0, 0, 0, 0, Decimal(0), 0)

    def spent(self, *, since: str | None, provider: str | None,
              after_id: int = 0) -> tuple[int, int, int]:
        """(picodollars spent, priced rows, the last row id seen) over the rows after
        ``after_id`` from ``since`` on: what budgets read. On a store whose ids may commit out
        of order (PostgreSQL), pass ``after_id=0`` and read the whole period."""
        where, params = self._where(None, None, {"provider": provider})
        clauses = [where[len(" WHERE "):]] if where else []
        clauses.append("id > ?")
        params.append(after_id)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(since)
        row = self.store.query(
            "SELECT COALESCE(SUM(cost_pico), 0), COUNT(cost_pico), "  # noqa: S608
            f"COALESCE(MAX(id), ?) FROM usage WHERE {' AND '.join(clauses)}",
            [after_id, *params])[0]
        return int(row[0]), int(row[1]), int(row[2])

    def records(self, *, limit: int = 100, provider: str | None = None,
                model: str | None = None) -> list[UsageRecord]:
        """The latest rows, newest first."""
        where, params = self._where(None, None, {"provider": provider, "model": model})
        fields = [f for f in _FIELDS if f not in ("day", "cost_pico")]
        rows = self.store.query(
            f"SELECT {', '.join(fields)} FROM usage{where} "  # noqa: S608
            "ORDER BY id DESC LIMIT ?", [*params, int(limit)])
        out = []
        for row in rows:
            data: dict[str, Any] = dict(zip(fields, row, strict=True))
            data["ts"] = dt.datetime.fromisoformat(str(data["ts"]))
            data["cost"] = Decimal(str(data["cost"])) if data["cost"] is not None else None
            data["streamed"] = bool(data["streamed"])
            data["price_as_of"] = (dt.date.fromisoformat(str(data["price_as_of"]))
                                   if data["price_as_of"] else None)
            out.append(UsageRecord(**data))
        return out


class LedgerPlugin:
    """Hook implementations that write one ledger row per chat call; never raises.

    ``on_lost(exc, rows)`` hears of rows that could not be made or written (``exc`` None: the
    store is unusable, already reported), ``on_written(rows)`` of rows written (in the
    background, the writer reports instead)."""

    def __init__(self, ledger: Callable[[], Ledger | None], *,
                 pricing: Callable[[str, str], Pricing | None] | None = None,
                 on_lost: Callable[[BaseException | None, int], None] | None = None,
                 on_written: Callable[[int], None] | None = None,
                 active: Callable[[], bool] | None = None,
                 writer: LedgerWriter | None = None,
                 settle: Callable[[CallInfo, tuple[Any, ...],
                                   Callable[[], Ledger | None]], bool] | None = None
                 ) -> None:
        self._ledger = ledger
        self._writer = writer
        self._settle = settle
        self._pricing = pricing
        self._on_lost = on_lost
        self._on_written = on_written
        self._active = active

    def _lost(self, exc: BaseException | None) -> None:
        if self._on_lost is not None:
            self._on_lost(exc, 1)

    def _write(self, row: Callable[[], tuple[Any, ...]], call: CallInfo | None = None) -> None:
        try:
            if self._active is not None and not self._active():
                return
            made = row()
        except Exception as exc:
            self._lost(exc)
            return
        if self._settle is not None and call is not None and self._settled(call, made):
            return
        if self._writer is not None:
            self._writer.put(made)  # never raises; failures are the writer's to report
            return
        try:
            ledger = self._ledger()
            if ledger is None:
                self._lost(None)
                return
            ledger.record_rows([made])
        except Exception as exc:
            self._lost(exc)
            return
        if self._on_written is not None:
            self._on_written(1)

    def _settled(self, call: CallInfo, made: tuple[Any, ...]) -> bool:
        """Whether the budget wrote the row with its settle (a budgeted call); when the
        settle fails the row goes the usual way (and is counted if that fails too)."""
        assert self._settle is not None
        try:
            if not self._settle(call, made, self._ledger):
                return False
        except Exception:
            return False
        if self._on_written is not None:
            self._on_written(1)
        return True

    @hookimpl
    def after_response(self, call: CallInfo, response: Response) -> None:
        if call.operation in _LEDGER_OPERATIONS:
            self._write(lambda: usage_row(call, response), call)

    @hookimpl
    def on_error(self, call: CallInfo, error: AIError) -> None:
        if call.operation not in _LEDGER_OPERATIONS:
            return

        def row() -> tuple[Any, ...]:
            from jtd_ai.calls import CallStoppedError

            partial = error.partial
            pricing = None
            if (partial is not None and partial.usage is not None and partial.cost is None
                    and self._pricing is not None):
                pricing = self._pricing(call.provider, partial.model)
            latency = time.perf_counter() - call.started if call.started else None
            if isinstance(error, CallStoppedError):
                status, kind = error.status, error.kind
            else:
                status, kind = "error", type(error).__name__
            return usage_row(call, partial, status=status, error=kind, latency=latency,
                             pricing=pricing)

        self._write(row, call)
