"""``jtd-ai usage``: spend and tokens by provider, model and day, from the usage ledger."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from jtd_ai.cli.exits import USAGE, CliError
from jtd_ai.cli.output import emit_json, money, table
from jtd_ai.cli.state import state

__all__ = ["usage"]


def _day(value: str | None, what: str) -> dt.date | None:
    """An ISO date, or ``Nd`` for N days ago (UTC)."""
    if value is None:
        return None
    text = value.strip().lower()
    if text.endswith("d") and text[:-1].isdigit():
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=int(text[:-1]))
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{what} must be a date (2026-01-31) or a number of days ago (7d), "
                       f"not {value!r}", USAGE) from None


def _groups(value: str) -> tuple[str, ...]:
    from jtd_ai.ledger import GROUPS

    groups = tuple(g.strip() for g in value.split(",") if g.strip())
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise CliError(f"--by: cannot group by {unknown[0]!r}; use any of {', '.join(GROUPS)}",
                       USAGE)
    return groups


@click.command()
@click.option("--by", "by", default="day,provider,model", show_default=True,
              help="Group by any of: provider, model, day, driver, status (ok, error, "
                   "cancelled, interrupted), error (its type), operation, batch_id (comma "
                   "list).")
@click.option("--since", help="From this day on (2026-01-31, or 7d for a week ago), UTC.")
@click.option("--until", help="Before this day (exclusive), UTC.")
@click.option("-p", "--provider", help="Only this provider.")
@click.option("-m", "--model", help="Only this model.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def usage(by: str, since: str | None, until: str | None, provider: str | None,
          model: str | None, as_json: bool) -> None:
    """Calls, tokens and cost recorded in the usage ledger (one row per call)."""
    groups = _groups(by)
    manager = state().manager
    storage = manager.storage
    if not storage.options.enabled or not storage.options.ledger:
        raise CliError("the usage ledger is turned off in the configuration ([store] "
                       "enabled / ledger = false): nothing is recorded", USAGE)
    if not storage.exists():
        message = (f"no usage ledger yet: {storage.location} does not exist (it is created by "
                   f"the first call)")
        if as_json:
            emit_json({"ledger": storage.location, "exists": False, "totals": []})
        else:
            click.echo(message, err=True)
        return
    window: dict[str, Any] = {"since": _day(since, "--since"), "until": _day(until, "--until"),
                              "provider": provider, "model": model}
    ledger = manager.usage
    totals = ledger.totals(by=groups, **window)
    overall = ledger.total(**window)
    rows: list[dict[str, Any]] = [
        {**t.group, "calls": t.calls, "errors": t.errors, "stopped": t.cancelled + t.interrupted,
         "input_tokens": t.input_tokens,
         "output_tokens": t.output_tokens, "cost": t.cost, "unpriced": t.unpriced}
        for t in totals]
    if as_json:
        emit_json({"ledger": storage.location, "exists": True, "by": list(groups),
                   "totals": rows, "total": {
                       "calls": overall.calls, "errors": overall.errors,
                       "stopped": overall.cancelled + overall.interrupted,
                       "input_tokens": overall.input_tokens,
                       "output_tokens": overall.output_tokens, "cost": overall.cost,
                       "unpriced": overall.unpriced}})
        return
    columns = [*groups, "calls", "errors", "stopped", "tokens in", "tokens out", "cost",
               "unpriced"]
    body = [[*(r[g] for g in groups), r["calls"], r["errors"], r["stopped"], r["input_tokens"],
             r["output_tokens"], money(r["cost"]), r["unpriced"]] for r in rows]
    body.append([*(["total"] + [""] * (len(groups) - 1) if groups else []), overall.calls,
                 overall.errors, overall.cancelled + overall.interrupted,
                 overall.input_tokens, overall.output_tokens, money(overall.cost),
                 overall.unpriced])
    table(columns, body, title=f"usage ledger: {storage.location}")
