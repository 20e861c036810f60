"""``jtd-ai batch``: a JSONL file of prompts through one provider, resumable and safe to stop."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from jtd_ai.cli.exits import INTERRUPTED, ITEMS_FAILED, OK, OUTPUT_FAILED, USAGE, CliError
from jtd_ai.cli.options import options_from_pairs
from jtd_ai.cli.output import echo, emit_json, money
from jtd_ai.cli.progress import Display, make_display
from jtd_ai.cli.render import error_dict, response_dict
from jtd_ai.cli.state import state

if TYPE_CHECKING:
    from jtd_ai.batch import BatchProgress
    from jtd_ai.cli.jsonl import BatchItem
    from jtd_ai.driver import Driver
    from jtd_ai.errors import AIError
    from jtd_ai.request import ChatRequest
    from jtd_ai.responses import Response

__all__ = ["batch"]


class _Tally:
    """What this run did, kept as results arrive (a cancelled item was never sent)."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        #: Items that finished after the output stopped taking lines (sent again next run).
        self.unwritten = 0
        #: Why the output stopped taking lines, if it did.
        self.write_error: OSError | None = None
        self.progress: BatchProgress | None = None

    def seen(self, progress: BatchProgress) -> None:
        self.progress = progress


def _requests(driver: Driver, items: list[BatchItem], model: str | None,
              defaults: dict[str, Any], source: str) -> list[ChatRequest]:
    """Each item's validated request; a bad option stops the batch before any send."""
    from jtd_ai.batch import item_error

    requests = []
    for item in items:
        try:
            requests.append(driver.build_request(
                list(item.messages), model=item.model or model, **{**defaults, **item.options}))
        except Exception as exc:  # a ValidationError, or whatever else a bad item raised
            error = item_error(exc, built=False)
            raise CliError(f"{source} line {item.line} (id {item.key}): {error}; nothing "
                           f"was sent", USAGE) from None
    return requests


async def _send(driver: Driver, requests: list[ChatRequest], *, concurrency: int,
                display: Display, on_result: Any, cancel: threading.Event,
                tally: _Tally) -> bool:
    """Run the batch; True when a second Ctrl-C abandoned the requests in flight."""
    import asyncio

    from jtd_ai.cli.interrupt import graceful_sigint

    def progress(now: BatchProgress) -> None:
        tally.seen(now)
        display.update(now)

    try:
        with graceful_sigint(cancel, display.note):
            await driver.asend_batch(requests, concurrency=concurrency, progress=progress,
                                     on_result=on_result, cancel=cancel)
    except asyncio.CancelledError:
        return True
    finally:
        await driver.aclose()
    return False


def _summary(tally: _Tally, *, skipped: int, pending: int, elapsed: float, output: Path,
             interrupted: bool) -> dict[str, Any]:
    progress = tally.progress
    sent = progress.finished if progress else 0
    return {
        "output": str(output), "sent": sent, "ok": tally.ok,
        "failed": tally.failed, "skipped": skipped,
        "not_sent": pending - sent, "interrupted": interrupted,
        "unwritten": tally.unwritten,
        "output_error": _why(tally.write_error) if tally.write_error else None,
        "input_tokens": progress.input_tokens if progress else 0,
        "output_tokens": progress.output_tokens if progress else 0,
        "cost": str(progress.cost) if progress else "0",
        "elapsed": round(elapsed, 3),
        "rate": round((tally.ok + tally.failed) / elapsed, 2) if elapsed > 0 else 0.0,
    }


def _why(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _print_summary(data: dict[str, Any]) -> None:
    from decimal import Decimal

    unwritten = (f", {data['unwritten']} not written (the output failed)"
                 if data["unwritten"] else "")
    echo(
        f"{data['ok']} ok, {data['failed']} failed, {data['skipped']} skipped (already in "
        f"{data['output']}), {data['not_sent']} not sent{unwritten}; tokens "
        f"{data['input_tokens']} in / {data['output_tokens']} out, "
        f"{money(Decimal(data['cost']))}; {data['elapsed']:.1f}s, {data['rate']:.1f}/s",
        err=True)
    if data["not_sent"] or data["unwritten"]:
        echo("run the same command again to send the rest", err=True)


@click.command()
@click.argument("input_file", metavar="INPUT",
                type=click.File("r", encoding="utf-8", errors="surrogateescape"))
@click.option("-o", "--output", required=True,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Output JSONL: one line per finished item, appended; ids already in it "
                   "are skipped (resume).")
@click.option("-p", "--provider", help="Provider name (default: the configured default).")
@click.option("-m", "--model", help="Model for items that name none.")
@click.option("--option", "option_pairs", nargs=2, multiple=True, metavar="KEY VALUE",
              help="A request option for every item (an item's own \"options\" win), "
                   "e.g. --option temperature 0.")
@click.option("-c", "--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="Requests in flight at once.")
@click.option("--retry-failed", is_flag=True,
              help="Send again the ids whose only lines in the output are errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def batch(input_file: IO[str], output: Path, provider: str | None, model: str | None,
          option_pairs: tuple[tuple[str, str], ...], concurrency: int, retry_failed: bool,
          quiet: bool, as_json: bool) -> None:
    """Send every prompt of INPUT (JSONL, '-' for stdin) and write the replies to OUTPUT.

    Each output line carries its input's id; failed items are written as error lines
    ({"id": ..., "ok": false, "error": {...}}). Ctrl-C stops sending and keeps every
    finished line; run the same command again to resume. Exit 1 if any item failed, 4 if
    the output could not be written (a full disk). See docs/cli.md for the line formats.
    """
    import asyncio

    from jtd_ai.cli.jsonl import OutputFile, parse_items

    source = getattr(input_file, "name", "input")
    items = parse_items(input_file, source)
    driver = state().manager.driver(provider)
    requests = _requests(driver, items, model, options_from_pairs(option_pairs), source)
    out = OutputFile(output)
    try:
        skip, _, _ = out.finished(retry_failed=retry_failed)
        todo = [(item, req) for item, req in zip(items, requests, strict=True)
                if item.key not in skip]
        out.open()
    except OSError as exc:
        raise CliError(f"cannot use {output} as the output: {_why(exc)}; nothing was sent",
                       OUTPUT_FAILED) from None
    skipped = len(items) - len(todo)
    if out.trimmed:
        echo(f"{output}: removed an unfinished last line (a crash mid-write, or a line that "
             f"is not UTF-8); that item will be sent again", err=True)
    tally = _Tally()
    cancel = threading.Event()

    def on_result(index: int, result: Response | AIError) -> None:
        from jtd_ai.errors import AIError, BatchCancelledError

        item = todo[index][0]
        if isinstance(result, BatchCancelledError):
            return  # never sent: a re-run sends it
        if tally.write_error is not None:
            tally.unwritten += 1  # not recorded, so a re-run sends it again
            return
        if isinstance(result, AIError):
            line = {"id": item.id, "ok": False, "error": error_dict(result)}
        else:
            line = {"id": item.id, "ok": True, **response_dict(result)}
        try:
            out.write(line)
        except OSError as exc:  # a full disk, a file gone: stop sending, keep what is there
            tally.write_error = exc
            tally.unwritten += 1
            cancel.set()
            display.note(f"error: cannot write to {output}: {_why(exc)}; no new requests "
                         f"are sent")
            return
        if isinstance(result, AIError):
            tally.failed += 1
        else:
            tally.ok += 1

    started = time.monotonic()
    display = make_display("batch", len(todo), quiet=quiet or not todo)
    if skipped:
        display.note(f"skipping {skipped} of {len(items)} ids already in {output}")
    try:
        abandoned = False
        if todo:
            abandoned = asyncio.run(_send(
                driver, [req for _, req in todo], concurrency=concurrency, display=display,
                on_result=on_result, cancel=cancel, tally=tally))
    finally:
        display.stop()
        try:
            out.close()
        except OSError as exc:  # a file system that reports a failed write only now
            tally.write_error = tally.write_error or exc
    failed_output = tally.write_error is not None
    interrupted = abandoned or (cancel.is_set() and not failed_output)
    data = _summary(tally, skipped=skipped, pending=len(todo),
                    elapsed=time.monotonic() - started, output=output, interrupted=interrupted)
    if as_json:
        emit_json(data)
    _print_summary(data)
    if tally.write_error is not None:
        raise CliError(
            f"cannot write to {output}: {_why(tally.write_error)}. The {out.written} lines "
            f"written before it are kept; make room (or choose another --output) and run the "
            f"same command again to send the rest", OUTPUT_FAILED)
    code = INTERRUPTED if interrupted else ITEMS_FAILED if tally.failed else OK
    click.get_current_context().exit(code)
