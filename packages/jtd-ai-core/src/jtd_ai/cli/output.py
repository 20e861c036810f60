"""Printing results: JSON for scripts, tables (rich on a terminal, plain text otherwise)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import click

__all__ = ["emit_json", "is_terminal", "money", "table"]


def is_terminal(*, err: bool = False) -> bool:
    """Whether stdout (or stderr) is an interactive terminal."""
    stream = sys.stderr if err else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def emit_json(data: Any) -> None:
    """One JSON document on stdout; Decimals as exact strings."""
    click.echo(json.dumps(data, indent=2, default=_default, ensure_ascii=False))


def money(value: Decimal | None) -> str:
    """Dollars exactly as computed (no float rounding); ``-`` when unknown."""
    if value is None:
        return "-"
    exact = value.normalize()
    if exact.as_tuple().exponent > -2:  # type: ignore[operator]  # finite Decimals only here
        exact = exact.quantize(Decimal("0.01"))
    return f"${exact:f}"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
          title: str | None = None) -> None:
    """A table on stdout: rich when stdout is a terminal, aligned plain text otherwise."""
    cells = [[_cell(v) for v in row] for row in rows]
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        grid = Table(*columns, title=title, title_justify="left")
        for row in cells:
            grid.add_row(*row)
        Console().print(grid)
        return
    if title:
        click.echo(title)
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    for row in [list(columns), *cells]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
