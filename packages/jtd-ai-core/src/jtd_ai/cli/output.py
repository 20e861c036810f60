"""Printing results: JSON for scripts, tables (rich on a terminal, plain text otherwise).

Everything printed here may come from a provider (a reply, a model name) or from the
user's files, so nothing is trusted to be printable: text the stream's encoding cannot
take (a lone surrogate such as ``"\\ud800"`` from a reply's JSON, or any character on a
non-UTF-8 terminal) is written as a backslash escape instead of raising, JSON falls back
to ASCII escapes (so it stays exact and parseable), and rich tables get their cells as
``Text`` objects, never as markup (a model named ``x[/oops]`` prints as it is).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import IO, Any

import click

__all__ = ["echo", "emit_json", "is_terminal", "json_text", "money", "printable", "table"]


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


def _encoding(stream: IO[Any] | None) -> str:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "".encode(encoding)
    except LookupError:
        return "ascii"
    return str(encoding)


def printable(text: str, *, err: bool = False) -> str:
    """``text`` as stdout (or stderr) can print it: what its encoding cannot take is
    written as a backslash escape (``\\ud800``)."""
    encoding = _encoding(sys.stderr if err else sys.stdout)
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    return text


def echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo``, escaping what the stream's encoding cannot take instead of raising
    (the common case costs nothing: the text is only checked when printing it fails)."""
    try:
        click.echo(message, err=err, nl=nl)
    except UnicodeEncodeError:  # raised before anything was written
        click.echo(printable(message, err=err), err=err, nl=nl)


def json_text(data: Any, *, encoding: str = "utf-8", indent: int | None = None) -> str:
    """``data`` as JSON text: non-ASCII characters as they are when ``encoding`` can take
    them all, else every one as a JSON escape (a lone surrogate included, exactly)."""
    text = json.dumps(data, indent=indent, default=_default, ensure_ascii=False)
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return json.dumps(data, indent=indent, default=_default, ensure_ascii=True)
    return text


def emit_json(data: Any) -> None:
    """One JSON document on stdout; Decimals as exact strings."""
    click.echo(json_text(data, encoding=_encoding(sys.stdout), indent=2))


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
    """A table on stdout: rich when stdout is a terminal, aligned plain text otherwise.

    On a terminal narrower than the table, cells wrap at spaces, and a word longer than its
    column (a model id, a URL) is folded across lines, whole; plain text is never cut."""
    cells = [[printable(_cell(v)) for v in row] for row in rows]
    title = printable(title) if title else None
    if is_terminal():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        # Text objects, never strings: rich would read "[...]" in a value as markup. A cell
        # too long for its column (a model id, a URL, a path: words without spaces) is folded
        # onto the next lines, never cut with an ellipsis: a cut id cannot be copied back.
        grid = Table(title=Text(title, overflow="fold") if title else None,
                     title_justify="left")
        for column in columns:
            grid.add_column(Text(column), overflow="fold")
        for row in cells:
            grid.add_row(*(Text(cell) for cell in row))
        Console().print(grid)
        return
    if title:
        click.echo(title)
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    for row in [list(columns), *cells]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
