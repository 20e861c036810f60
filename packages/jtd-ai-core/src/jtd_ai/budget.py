"""Opt-in spending limits, checked and reserved before each chat call, settled after it.

``[budget]`` in the config sets a global ``limit`` and/or per-provider limits in
``[budget.providers]``, in US dollars over a ``period`` ("day", "month" or "all"; calendar
periods in UTC). Before a call is sent, in one write transaction of the store (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: under an advisory transaction lock, so every host takes its
turn), the spend so far in the period (every process's and host's ledger rows, read as one
running total per provider and period, ``budget_totals``) plus what the calls in flight hold
is compared with each limit that applies: once it reaches a limit
the call raises :class:`~jtd_ai.errors.BudgetExceededError` saying the limit and the spend;
otherwise the call reserves the average cost of the period's priced calls
(``budget_reservations``). When the call ends, its ledger row is written and its reservation
dropped in one transaction (the settle), so its cost is never counted twice nor missed.

The bound: a limit is overshot by less than the cost of the calls that were in flight (on
every host) when the last call was let through, less what they had reserved; so with calls of
about the same cost, by less than one call. A reservation left by a process killed mid-call
expires after :data:`RESERVATION_TTL` seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from jtd_ai.errors import BudgetExceededError, ConfigurationError
from jtd_ai.hookspecs import hookimpl
from jtd_ai.migrations import PICO

if TYPE_CHECKING:
    from jtd_ai.calls import CallInfo
    from jtd_ai.ledger import Ledger

__all__ = ["PERIODS", "RESERVATION_TTL", "BudgetLimits", "BudgetPlugin", "period_start"]

log = logging.getLogger("jtd_ai.budget")

PERIODS = ("day", "month", "all")
#: Seconds a call's reservation holds budget at most (a process killed mid-call never
#: settles its own).
RESERVATION_TTL = 900.0
_CHECKED_OPERATIONS = frozenset({"chat", "stream"})
_PLUGINS: weakref.WeakSet[BudgetPlugin] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for plugin in list(_PLUGINS):
        plugin._lock = threading.Lock()  # a thread of the parent may have held it


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _money(what: str, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ConfigurationError(f"{what} must be an amount in US dollars, not {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ConfigurationError(f"{what} must be an amount in US dollars, not {value!r}"
                                 ) from None
    if not amount.is_finite() or amount < 0:
        raise ConfigurationError(f"{what} must be an amount of 0 or more, not {value!r}")
    return amount


@frozen
class BudgetLimits:
    """Limits in US dollars per ``period``; None means no limit at that scope."""

    limit: Decimal | None = None
    providers: Mapping[str, Decimal] = field(factory=dict)
    period: str = "month"

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> BudgetLimits | None:
        """Limits from a ``[budget]`` table; None when it sets none."""
        unknown = set(table) - {"limit", "providers", "period"}
        if unknown:
            raise ConfigurationError(f"budget: unknown key {sorted(unknown)[0]!r} (known: "
                                     f"limit, period, providers)")
        period = table.get("period", "month")
        if period not in PERIODS:
            raise ConfigurationError(f"budget.period must be one of {', '.join(PERIODS)}, "
                                     f"not {period!r}")
        providers = table.get("providers", {})
        if not isinstance(providers, Mapping):
            raise ConfigurationError("budget.providers must be a table of provider = amount")
        limit = table.get("limit")
        limits = cls(
            limit=_money("budget.limit", limit) if limit is not None else None,
            providers={name: _money(f"budget.providers.{name}", v)
                       for name, v in providers.items()},
            period=period,
        )
        return limits if limits.limit is not None or limits.providers else None


def period_start(period: str, now: dt.datetime | None = None) -> str | None:
    """The ledger timestamp the current ``period`` starts at (UTC), or None for "all"."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if period == "all":
        return None
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.isoformat(timespec="microseconds")


class BudgetPlugin:
    """A ``before_request`` hook that refuses calls once a limit is reached, and reserves
    budget for the calls it lets through (settled by :meth:`settle` when they end).

    The spend is one row of ``budget_totals`` per limit, on both engines, however long the
    ledger is: every ledger write adds its rows to the totals in its own transaction, and a
    period no budget read before is first summed from the ledger (so rows written while no
    budget was configured count too). If the store cannot be used (a server unreachable, or
    not answering within ``[store] connect_timeout``) the call goes ahead and the failure
    is reported: a broken database never blocks work (budgets fail open).
    """

    def __init__(self, limits: BudgetLimits, ledger: Callable[[], Ledger | None], *,
                 on_error: Callable[[BaseException], None] | None = None,
                 active: Callable[[], bool] | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.limits = limits
        self._ledger = ledger
        self._on_error = on_error
        self._active = active
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()
        # id(call) -> its reservation, while the call is in flight
        self._held: dict[int, str] = {}
        _PLUGINS.add(self)

    def spent(self, provider: str | None = None) -> Decimal:
        """Dollars spent in the current period, by ``provider`` or (None) in all."""
        from jtd_ai.ledger import BUDGET_LOCK

        ledger = self._ledger()
        if ledger is None:
            return Decimal(0)
        with ledger.store.write(lock=BUDGET_LOCK) as conn:
            return Decimal(self._spent(conn, provider)[0]) / PICO

    def _spent(self, conn: Any, provider: str | None) -> tuple[int, int]:
        """(picodollars spent, priced rows) in the current period, read in ``conn``'s
        transaction (holding the budget lock)."""
        from jtd_ai.ledger import Ledger

        return Ledger.period_total(conn, provider,
                                   period_start(self.limits.period, self._clock()))

    @hookimpl
    def before_request(self, call: CallInfo) -> None:
        if call.operation not in _CHECKED_OPERATIONS or call.cached:
            return  # a cache hit costs nothing: never refused, nothing reserved
        if self._active is not None and not self._active():
            return
        checks: list[tuple[str, str | None, Decimal]] = []
        if call.provider in self.limits.providers:
            checks.append((call.provider, call.provider, self.limits.providers[call.provider]))
        if self.limits.limit is not None:
            checks.append(("global", None, self.limits.limit))
        if not checks:
            return
        try:
            ledger = self._ledger()
            if ledger is None:
                return
            self._reserve(call, ledger, checks)
        except BudgetExceededError:
            raise
        except Exception as exc:
            if self._on_error is not None:
                self._on_error(exc)

    def _reserve(self, call: CallInfo, ledger: Ledger,
                 checks: list[tuple[str, str | None, Decimal]]) -> None:
        """Check every limit and reserve for ``call``, in one transaction under the budget
        lock (every process and host in turn)."""
        from jtd_ai.ledger import BUDGET_LOCK

        now = dt.datetime.now(dt.UTC)
        stamp = now.isoformat(timespec="microseconds")
        expires = (now + dt.timedelta(seconds=RESERVATION_TTL)).isoformat(
            timespec="microseconds")
        reservation = uuid.uuid4().hex
        estimate: int | None = None
        with ledger.store.write(lock=BUDGET_LOCK) as conn:
            conn.execute("DELETE FROM budget_reservations WHERE expires < ?", (stamp,))
            for scope, provider, limit in checks:
                spent, priced = self._spent(conn, provider)
                where, params = (" WHERE provider = ?", (provider,)) if provider else ("", ())
                reserved = int(conn.execute(
                    "SELECT COALESCE(SUM(estimate_pico), 0) "  # noqa: S608
                    f"FROM budget_reservations{where}", params).fetchall()[0][0])
                if spent + reserved >= limit * PICO:
                    raise self._exceeded(scope, limit, Decimal(spent) / PICO,
                                         Decimal(reserved) / PICO)
                if estimate is None:  # the narrowest scope's average: the provider's
                    estimate = spent // priced if priced else 0
            conn.execute("INSERT INTO budget_reservations (id, provider, estimate_pico, "
                         "created, expires) VALUES (?, ?, ?, ?, ?)",
                         (reservation, call.provider, estimate or 0, stamp, expires))
        key = id(call)
        self._held[key] = reservation
        weakref.finalize(call, self._held.pop, key, None)

    def settle(self, call: CallInfo, row: tuple[Any, ...],
               ledger: Callable[[], Ledger | None]) -> bool:
        """Write ``call``'s ledger row and drop its reservation in one transaction; False
        (nothing done) for a call that holds no reservation, or with no usable store. Raises
        StoreError on failure: the reservation then stays until it expires, still counted."""
        reservation = self._held.pop(id(call), None)
        if reservation is None:
            return False
        from jtd_ai.ledger import BUDGET_LOCK

        found = ledger()
        if found is None:
            return False
        with found.store.write(lock=BUDGET_LOCK) as conn:
            conn.execute("DELETE FROM budget_reservations WHERE id = ?", (reservation,))
            found.insert_rows(conn, [row])
        return True

    def _exceeded(self, scope: str, limit: Decimal, spent: Decimal,
                  held: Decimal = Decimal(0)) -> BudgetExceededError:
        period = self.limits.period
        span = {"day": "today (UTC)", "month": "this month (UTC)", "all": "in all"}[period]
        where = (f"[budget.providers] {scope}" if scope != "global" else "[budget] limit")
        who = f"provider {scope!r}" if scope != "global" else "all providers together"
        return BudgetExceededError(
            f"budget reached: {who} spent ${spent} {span}"
            f"{f' (and calls in flight hold ${held})' if held else ''}, limit ${limit}; "
            f"raise {where} or "
            f"wait for the next period", scope=scope, limit=limit, spent=spent, period=period)
