"""Provider batch jobs against ``[budget]``: before a new run uploads anything, the most its
jobs may cost is checked against what is left of each limit and held
(``budget_reservations``) until the job's results are collected (:mod:`jtd_ai.jobs`).

The ceiling of one item at the batch price: its input counted as one token per byte of the
line uploaded for it (no tokenizer makes more tokens than the bytes it reads, and the line
holds the prompt, the tools and schema and the JSON around them), and its output as
``max_tokens``, or :data:`UNBOUNDED_OUTPUT_TOKENS` when the item sets none (then the ceiling
is an estimate, not a bound). Items of a model without a known price, or whose provider
publishes no batch price, are not counted: their ledger rows carry no cost either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from jtd_ai.errors import BudgetExceededError

if TYPE_CHECKING:
    from jtd_ai.budget import BudgetLimits
    from jtd_ai.driver import Driver
    from jtd_ai.job_plan import JobPlan
    from jtd_ai.store import AnyStore

__all__ = ["JOB_RESERVATION_TTL", "UNBOUNDED_OUTPUT_TOKENS", "job_ceilings", "release_sql",
           "reservation_id", "reserve_for_jobs"]

#: Output tokens counted for an item without ``max_tokens``.
UNBOUNDED_OUTPUT_TOKENS = 4096
#: Seconds a job's reservation holds budget at most: the providers' 24-hour window, a day
#: of their slack (Gemini keeps a job up to 48 hours) and a day to collect it.
JOB_RESERVATION_TTL = 3 * 24 * 3600.0
#: Drops one job's reservation (run in the transaction that writes its ledger rows).
release_sql = "DELETE FROM budget_reservations WHERE id = ?"


def reservation_id(job: str) -> str:
    """The ``budget_reservations`` id holding budget for the job with local id ``job``."""
    return f"job:{job}"


def job_ceilings(driver: Driver, plan: JobPlan) -> list[Decimal] | None:
    """The most each job of ``plan`` may cost at the batch price, in dollars; None when the
    model has no known batch price (nothing to check)."""
    from jtd_ai.responses import TokenUsage

    pricing = driver.pricing(plan.model)
    batch = pricing.for_batch() if pricing is not None else None
    if batch is None:
        return None
    ceilings = []
    for first, count in plan.parts:
        total = Decimal(0)
        for request, line in zip(plan.requests[first:first + count],
                                 plan.lines[first:first + count], strict=True):
            usage = TokenUsage(input_tokens=len(line) + 1,
                               output_tokens=request.max_tokens or UNBOUNDED_OUTPUT_TOKENS)
            total += batch.cost(usage)
        ceilings.append(total)
    return ceilings


def reserve_for_jobs(conn: Any, store: AnyStore, limits: BudgetLimits, provider: str,
                     jobs: Sequence[tuple[str, Decimal]]) -> None:
    """Check that ``jobs`` ((local job id, ceiling) each) fit in every limit that applies
    to ``provider``, counting the period's spend and what calls and jobs in flight hold,
    and hold their ceilings; raises BudgetExceededError otherwise. Runs in the caller's
    write transaction, which must hold the ``budget`` lock."""
    from jtd_ai.budget import period_start
    from jtd_ai.ledger import Ledger
    from jtd_ai.migrations import PICO, to_pico

    checks: list[tuple[str, str | None, Decimal]] = []
    if provider in limits.providers:
        checks.append((provider, provider, limits.providers[provider]))
    if limits.limit is not None:
        checks.append(("global", None, limits.limit))
    if not checks:
        return
    now = dt.datetime.now(dt.UTC)
    stamp = now.isoformat(timespec="microseconds")
    conn.execute("DELETE FROM budget_reservations WHERE expires < ?", (stamp,))
    wanted = sum((ceiling for _, ceiling in jobs), Decimal(0))
    since = period_start(limits.period, now)
    ledger = Ledger(store)
    for scope, only, limit in checks:
        spent = ledger.spent(since=since, provider=only)[0]
        where, params = (" WHERE provider = ?", (only,)) if only else ("", ())
        held = int(conn.execute("SELECT COALESCE(SUM(estimate_pico), 0) "  # noqa: S608
                                f"FROM budget_reservations{where}", params).fetchall()[0][0])
        if Decimal(spent + held) / PICO + wanted > limit:
            who = f"provider {scope!r}" if only else "all providers together"
            setting = f"[budget.providers] {scope}" if only else "[budget] limit"
            raise BudgetExceededError(
                f"budget: this provider batch run may cost up to ${wanted.normalize():f} at "
                f"the batch price, and {who} spent ${Decimal(spent) / PICO} this period"
                f"{f' (calls and jobs in flight hold ${Decimal(held) / PICO})' if held else ''}"
                f", limit ${limit}; nothing was uploaded. Raise {setting}, set max_tokens "
                f"(the ceiling counts {UNBOUNDED_OUTPUT_TOKENS} output tokens for an item "
                f"without it), or send fewer items", scope=scope, limit=limit,
                spent=Decimal(spent) / PICO, period=limits.period)
    expires = (now + dt.timedelta(seconds=JOB_RESERVATION_TTL)).isoformat(
        timespec="microseconds")
    conn.executemany("INSERT INTO budget_reservations (id, provider, estimate_pico, created, "
                     "expires) VALUES (?, ?, ?, ?, ?)",
                     [(reservation_id(job), provider, to_pico(ceiling) or 0, stamp, expires)
                      for job, ceiling in jobs])
