"""Reading a prompt piped on stdin, without ever blocking on a terminal or a socket."""

from __future__ import annotations

import io
import os
import stat
import sys
from typing import IO, Any

__all__ = ["piped_text", "stdin_is_terminal"]


def _stdin() -> IO[Any]:
    return sys.stdin  # click's test runner swaps it too


def stdin_is_terminal() -> bool:
    try:
        return _stdin().isatty()
    except (AttributeError, ValueError):
        return False


def piped_text() -> str | None:
    """The text piped or redirected into stdin, or None when stdin is a terminal, empty,
    or something that is not a pipe or file (``/dev/null``, an inherited socket)."""
    stream = _stdin()
    if stdin_is_terminal():
        return None
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        mode = None  # an in-memory stream (tests, embedding): read it
    if mode is not None and not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode)):
        return None
    text = stream.read()
    return text if text.strip() else None
