"""Exit codes of ``jtd-ai``, and the error that carries one out of a command."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from jtd_ai.errors import AIError

__all__ = ["INTERRUPTED", "ITEMS_FAILED", "OK", "OUTPUT_FAILED", "PROVIDER", "USAGE", "CliError",
           "code_for"]

#: Everything worked.
OK = 0
#: The command ran, but some of its items failed (batch lines, providers checked or synced).
ITEMS_FAILED = 1
#: Bad usage or configuration: wrong arguments, bad input file, no provider, bad option.
USAGE = 2
#: The provider failed: unreachable, rejected the key, unknown model, timed out, ...
PROVIDER = 3
#: The output could not be written (a full disk, a file gone or not writable); every line
#: written before stays, and running the same command again resumes after it.
OUTPUT_FAILED = 4
#: Interrupted with Ctrl-C (128 + SIGINT), after keeping everything already finished.
INTERRUPTED = 130


def code_for(error: AIError) -> int:
    """The exit code for an error that stopped a command."""
    from jtd_ai.errors import BatchCancelledError, ProviderError

    if isinstance(error, ProviderError):
        return PROVIDER
    if isinstance(error, BatchCancelledError):
        return INTERRUPTED
    return USAGE


class CliError(click.ClickException):
    """A message for stderr (``error: ...``) and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # per error, not per class

    def show(self, file: IO[Any] | None = None) -> None:
        text = f"error: {self.format_message()}"
        try:
            click.echo(text, err=True, file=file)
        except UnicodeEncodeError:  # e.g. a provider's message holding a lone surrogate
            click.echo(text.encode("ascii", "backslashreplace").decode("ascii"), err=True,
                       file=file)
