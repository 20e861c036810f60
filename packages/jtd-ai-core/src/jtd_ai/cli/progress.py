"""Batch progress on stderr: a rich bar on a terminal, a plain line every 10% otherwise
(every 10 seconds when the total is not known)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import click

from jtd_ai.cli.output import is_terminal, money

if TYPE_CHECKING:
    from jtd_ai.batch import BatchProgress

__all__ = ["Display", "describe", "make_display"]


def _eta(progress: BatchProgress) -> str:
    if progress.total is None:
        return "?"  # an input read as the batch goes: its length is not known
    left = progress.total - progress.finished
    if left <= 0:
        return "0s"
    if progress.rate <= 0:
        return "?"
    seconds = int(left / progress.rate + 0.5)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def describe(progress: BatchProgress) -> str:
    """Rate, ETA, tokens, cost and failures, as one short text."""
    return (f"{progress.rate:.1f}/s, eta {_eta(progress)}, tokens "
            f"{progress.input_tokens} in / {progress.output_tokens} out, "
            f"{money(progress.cost)}, {progress.failed} failed")


class Display(Protocol):
    """What the batch command tells as it goes."""

    def update(self, progress: BatchProgress) -> None: ...

    def note(self, text: str) -> None: ...

    def stop(self) -> None: ...


class _Quiet:
    def update(self, progress: BatchProgress) -> None:
        pass

    def note(self, text: str) -> None:
        click.echo(text, err=True)

    def stop(self) -> None:
        pass


class _Lines(_Quiet):
    """One line at each tenth of the batch (for logs and CI); every 10 seconds when the
    total is not known."""

    #: Seconds between lines when the total is not known.
    every = 10.0

    def __init__(self, label: str) -> None:
        self.label = label
        self._step = -1
        self._next = 0.0

    def update(self, progress: BatchProgress) -> None:
        if progress.total is None:
            if progress.elapsed >= self._next:
                self._next = progress.elapsed + self.every
                click.echo(f"{self.label}: {progress.finished} done, {describe(progress)}",
                           err=True)
            return
        total = max(progress.total, 1)
        step = progress.finished * 10 // total
        if step > self._step:
            self._step = step
            click.echo(f"{self.label}: {progress.finished}/{progress.total} "
                       f"({progress.finished * 100 // total}%), {describe(progress)}", err=True)


class _Bar:
    """A rich progress bar with rate, ETA, tokens and cost."""

    def __init__(self, label: str, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), console=Console(stderr=True),
        )
        self._task: Any = self._progress.add_task(label, total=total, stats="starting")
        self._progress.start()

    def update(self, progress: BatchProgress) -> None:
        self._progress.update(self._task, completed=progress.finished,
                              stats=describe(progress))

    def note(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        self._progress.stop()


def make_display(label: str, total: int | None, *, quiet: bool = False) -> Display:
    """The display that suits stderr: a bar on a terminal, lines elsewhere, or none."""
    if quiet:
        return _Quiet()
    if is_terminal(err=True):
        return _Bar(label, total)
    return _Lines(label)
