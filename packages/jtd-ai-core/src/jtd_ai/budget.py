"""Opt-in spending limits, checked before each chat call against the usage ledger.

``[budget]`` in the config sets a global ``limit`` and/or per-provider limits in
``[budget.providers]``, in US dollars over a ``period`` ("day", "month" or "all"; calendar
periods in UTC). Before a call is sent, the spend so far in the period (from the ledger,
every process's rows included) is compared with each limit that applies; once a limit is
reached the call raises :class:`~jtd_ai.errors.BudgetExceededError` saying the limit and the
spend. Calls already in flight are not counted until they end, so concurrent calls can pass
the check together and overshoot a limit by their own cost.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
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

__all__ = ["PERIODS", "BudgetLimits", "BudgetPlugin", "period_start"]

log = logging.getLogger("jtd_ai.budget")

PERIODS = ("day", "month", "all")
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
    """A ``before_request`` hook that refuses calls once a limit is reached.

    The spend is read incrementally (rows after the last one seen), so a check costs one
    indexed query however long the ledger is. If the ledger cannot be read the call goes
    ahead and the failure is reported: a broken database never blocks work.
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
        # (scope, period start) -> (last row id read, picodollars spent up to it)
        self._seen: dict[tuple[str | None, str | None], tuple[int, int]] = {}
        _PLUGINS.add(self)

    def spent(self, provider: str | None = None) -> Decimal:
        """Dollars spent in the current period, by ``provider`` or (None) in all."""
        ledger = self._ledger()
        if ledger is None:
            return Decimal(0)
        return Decimal(self._spent_pico(ledger, provider)) / PICO

    def _spent_pico(self, ledger: Ledger, provider: str | None) -> int:
        since = period_start(self.limits.period, self._clock())
        key = (provider, since)
        with self._lock:
            last_id, total = self._seen.get(key, (0, 0))
            more, last_id = ledger.spent_pico(since=since, provider=provider, after_id=last_id)
            total += more
            self._seen = {k: v for k, v in self._seen.items() if k[1] == since}
            self._seen[key] = (last_id, total)
        return total

    @hookimpl
    def before_request(self, call: CallInfo) -> None:
        if call.operation not in _CHECKED_OPERATIONS:
            return
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
            for scope, provider, limit in checks:
                spent = Decimal(self._spent_pico(ledger, provider)) / PICO
                if spent >= limit:
                    raise self._exceeded(scope, limit, spent)
        except BudgetExceededError:
            raise
        except Exception as exc:
            if self._on_error is not None:
                self._on_error(exc)

    def _exceeded(self, scope: str, limit: Decimal, spent: Decimal) -> BudgetExceededError:
        period = self.limits.period
        span = {"day": "today (UTC)", "month": "this month (UTC)", "all": "in all"}[period]
        where = (f"[budget.providers] {scope}" if scope != "global" else "[budget] limit")
        who = f"provider {scope!r}" if scope != "global" else "all providers together"
        return BudgetExceededError(
            f"budget reached: {who} spent ${spent} {span}, limit ${limit}; raise {where} or "
            f"wait for the next period", scope=scope, limit=limit, spent=spent, period=period)
