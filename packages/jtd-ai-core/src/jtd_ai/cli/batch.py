"""``jtd-ai batch``: a JSONL file of prompts through one provider, resumable and safe to stop."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import click

from jtd_ai.cli.exits import INTERRUPTED, ITEMS_FAILED, OK, OUTPUT_FAILED, USAGE, CliError
from jtd_ai.cli.jobs import provider_batch_options, run_provider_batch
from jtd_ai.cli.options import options_from_pairs
from jtd_ai.cli.output import echo, emit_json, money
from jtd_ai.cli.progress import Display, make_display
from jtd_ai.cli.render import error_dict, response_dict
from jtd_ai.cli.schema_option import parsed_json
from jtd_ai.cli.state import state

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping

    from jtd_ai.batch import BatchProgress
    from jtd_ai.cli.jsonl import BadLine, BatchItem, Finished
    from jtd_ai.driver import Driver
    from jtd_ai.errors import AIError
    from jtd_ai.request import ChatRequest
    from jtd_ai.responses import Response
    from jtd_ai.structured import OutputSpec

    #: An item's request, and the spec its reply is parsed with (None: no schema).
    Built = tuple[ChatRequest, OutputSpec[Any] | None]

__all__ = ["batch"]


class _Tally:
    """What this run did, kept as results arrive (a cancelled item was never sent)."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        #: Replies that did not match their schema (the engine counted them as done).
        self.invalid = 0
        #: Items that finished after the output stopped taking lines (sent again next run).
        self.unwritten = 0
        #: Why the output stopped taking lines, if it did.
        self.write_error: OSError | None = None
        self.progress: BatchProgress | None = None

    def seen(self, progress: BatchProgress) -> None:
        self.progress = progress


class _Feed:
    """The input as the batch takes it: items whose id (or bad line) the output already
    holds are skipped, each other item is made into its request (a bad line, option or
    schema is that item's ValidationError, never sent), and the id (and output spec) of
    each index in flight is kept until its result is written. Nothing else of an item is
    kept."""

    def __init__(self, entries: Iterable[BatchItem | BadLine], done: Finished,
                 build: Callable[[BatchItem], Built], source: str) -> None:
        self._entries = entries
        self._source = source
        self._done = done
        self._build = build
        #: Non-blank input lines read so far, and those skipped as already done.
        self.read = 0
        self.skipped = 0
        #: Items handed to the batch so far; whether the input was read to its end.
        self.taken = 0
        self.ended = False
        #: index -> (id, line, spec): the line only for an input problem (how resume knows
        #: it), the spec only for an item whose reply is parsed.
        self._flight: dict[int, tuple[str | int, int | None, OutputSpec[Any] | None]] = {}

    def __iter__(self) -> Iterator[ChatRequest | AIError]:
        from jtd_ai.batch import item_error
        from jtd_ai.cli.jsonl import BadLine
        from jtd_ai.errors import ValidationError

        for entry in self._entries:
            self.read += 1
            if isinstance(entry, BadLine):
                if entry.line in self._done.lines:
                    self.skipped += 1
                    continue
                yield self._hand(entry.id, entry.line, ValidationError(entry.problem,
                                                                       field="input"))
                continue
            if entry.key in self._done.ids or entry.line in self._done.lines:
                self.skipped += 1
                continue
            spec = None
            try:
                request: ChatRequest | AIError
                request, spec = self._build(entry)
                line = None
            except Exception as exc:  # a ValidationError, or whatever else a bad item raised
                error = item_error(exc, built=False)
                request = ValidationError(f"{self._source} line {entry.line} (id "
                                          f"{entry.key}): {error}",
                                          field=getattr(error, "field", None))
                line = entry.line
            yield self._hand(entry.id, line, request, spec)
        self.ended = True

    def _hand(self, ident: str | int, line: int | None, request: ChatRequest | AIError,
              spec: OutputSpec[Any] | None = None) -> ChatRequest | AIError:
        self._flight[self.taken] = (ident, line, spec)
        self.taken += 1
        return request

    def item(self, index: int) -> tuple[str | int, int | None, OutputSpec[Any] | None]:
        """The (id, bad line or None, spec or None) of the item at ``index``, forgotten once
        asked."""
        return self._flight.pop(index)


def _regular_file(file: IO[str]) -> bool:
    try:
        return stat.S_ISREG(os.fstat(file.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # no descriptor (a test's StringIO)
        return False


async def _off_loop(items: Iterable[Any], stop: threading.Event) -> AsyncIterator[Any]:
    """``items``, read on a thread of their own: reading a pipe or a terminal waits for the
    writer, and must not stop the event loop (and the requests in flight) meanwhile. The
    thread is a daemon, handing over one item at a time: a reader still waiting for input
    when the batch is stopped holds nothing up, nor does one waiting once ``stop`` is set
    (the first Ctrl-C while the terminal or the pipe has sent nothing more)."""
    import asyncio

    loop = asyncio.get_running_loop()
    handed: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=1)

    def hand(entry: tuple[bool, Any]) -> None:
        asyncio.run_coroutine_threadsafe(handed.put(entry), loop).result()

    def read() -> None:
        try:
            for item in items:
                hand((True, item))
            last: tuple[bool, Any] = (False, None)
        except Exception as exc:  # the input failed: raised in the batch, after the others
            last = (False, exc)
        except BaseException:  # the loop is gone (the batch stopped): nothing to tell
            return
        with contextlib.suppress(BaseException):
            hand(last)

    threading.Thread(target=read, name="jtd-ai-batch-input", daemon=True).start()
    while True:
        try:
            more, item = await asyncio.wait_for(handed.get(), 0.2)
        except TimeoutError:  # still waiting for the writer: stopped meanwhile?
            if stop.is_set():
                return
            continue
        if not more:
            if item is not None:
                raise item
            return
        yield item


async def _send(driver: Driver, feed: Iterable[Any] | AsyncIterable[Any], *,
                concurrency: int, display: Display, on_result: Any, cancel: threading.Event,
                tally: _Tally) -> bool:
    """Run the batch; True when a second Ctrl-C abandoned the requests in flight."""
    import asyncio

    from jtd_ai.cli.interrupt import graceful_sigint

    def progress(now: BatchProgress) -> None:
        tally.seen(now)
        display.update(_as_shown(now, tally.invalid))

    try:
        with graceful_sigint(cancel, display.note):
            # Results are written by on_result as each item finishes; the stream is only
            # drained here (so nothing waits to be handed out).
            async with contextlib.aclosing(driver.astream_batch(
                    feed, concurrency=concurrency, progress=progress,
                    on_result=on_result, cancel=cancel)) as results:
                async for _ in results:
                    pass
    except asyncio.CancelledError:
        return True
    finally:
        await driver.aclose()
    return False


def _as_shown(progress: BatchProgress, invalid: int) -> BatchProgress:
    """The progress as the display shows it: a reply that did not match its schema is a
    failure, although the engine counted it done (it was a reply)."""
    if not invalid:
        return progress
    import attrs

    return attrs.evolve(progress, done=progress.done - invalid,
                        failed=progress.failed + invalid)


def _batch_spec(schema: str | None, defaults: dict[str, Any]) -> OutputSpec[Any] | None:
    """The spec of ``--schema`` (every item's, unless an item gives its own); a usage error
    for a schema the core cannot use, before anything is sent."""
    if schema is None:
        return None
    from jtd_ai.cli.schema_option import load_output
    from jtd_ai.errors import ValidationError
    from jtd_ai.structured import output_spec

    if "response_format" in defaults:
        raise CliError("--schema sets the response format itself; leave --option "
                       "response_format out", USAGE)
    try:
        return output_spec(load_output(schema))
    except ValidationError as exc:
        raise CliError(f"--schema {schema}: {exc}; nothing was sent", USAGE) from None


def _with_spec(options: dict[str, Any], own: Mapping[str, Any],
               spec: OutputSpec[Any] | None) -> dict[str, Any]:
    """An item's request options with the response format of its spec (its own
    ``response_format`` besides a schema is that item's ValidationError)."""
    if spec is None:
        return options
    from jtd_ai.errors import ValidationError

    if "response_format" in own:
        raise ValidationError("'schema' sets the response format itself; leave "
                              "response_format out of the item's options",
                              field="response_format")
    return {**options, "response_format": spec.response_format}


def _check_defaults(model: str | None, defaults: dict[str, Any]) -> None:
    """A bad ``--option`` (every item's default) stops the batch before anything is sent."""
    from jtd_ai.errors import ValidationError
    from jtd_ai.messages import Message
    from jtd_ai.request import ChatRequest

    try:
        ChatRequest.build((Message.user("probe"),), model or "probe", **defaults)
    except ValidationError as exc:
        raise CliError(f"{exc}; nothing was sent", USAGE) from None


def _summary(tally: _Tally, *, feed: _Feed, elapsed: float, output: Path,
             interrupted: bool) -> dict[str, Any]:
    progress = tally.progress
    sent = progress.finished if progress else 0
    return {
        "output": str(output), "sent": sent, "ok": tally.ok,
        "failed": tally.failed, "skipped": feed.skipped,
        "not_sent": feed.taken - sent, "input_finished": feed.ended,
        "interrupted": interrupted,
        "unwritten": tally.unwritten,
        "output_error": _why(tally.write_error) if tally.write_error else None,
        "input_tokens": progress.input_tokens if progress else 0,
        "output_tokens": progress.output_tokens if progress else 0,
        "cost": str(progress.cost) if progress else "0",
        "elapsed": round(elapsed, 3),
        "rate": round((tally.ok + tally.failed) / elapsed, 2) if elapsed > 0 else 0.0,
    }


def _parsed(spec: OutputSpec[Any], response: Response, tally: _Tally) -> Response | AIError:
    """The reply with ``parsed`` set, or the OutputValidationError saying why it does not
    match its schema (counted in ``tally.invalid``)."""
    from jtd_ai.errors import OutputValidationError

    try:
        return spec.parse(response)
    except OutputValidationError as error:
        tally.invalid += 1
        return error


def _why(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _print_summary(data: dict[str, Any]) -> None:
    from decimal import Decimal

    unwritten = (f", {data['unwritten']} not written (the output failed)"
                 if data["unwritten"] else "")
    unread = "" if data["input_finished"] else " (nor the rest of the input, not read)"
    echo(
        f"{data['ok']} ok, {data['failed']} failed, {data['skipped']} skipped (already in "
        f"{data['output']}), {data['not_sent']} not sent{unread}{unwritten}; tokens "
        f"{data['input_tokens']} in / {data['output_tokens']} out, "
        f"{money(Decimal(data['cost']))}; {data['elapsed']:.1f}s, {data['rate']:.1f}/s",
        err=True)
    if data["not_sent"] or data["unwritten"] or not data["input_finished"]:
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
@click.option("--schema", "schema", metavar="FILE|MODULE:CLASS",
              help="Every reply must match this JSON schema (a file) or Python type "
                   "(module:Class); an item's own \"schema\" wins. Output lines carry the "
                   "parsed reply under \"parsed\".")
@click.option("--retry-failed", is_flag=True,
              help="Send again the ids whose only lines in the output are errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@provider_batch_options
def batch(input_file: IO[str], output: Path, provider: str | None, model: str | None,
          option_pairs: tuple[tuple[str, str], ...], concurrency: int, schema: str | None,
          retry_failed: bool, quiet: bool, as_json: bool, provider_batch: bool = False,
          poll_interval: float | None = None) -> None:
    """Send every prompt of INPUT (JSONL, '-' for stdin) and write the replies to OUTPUT.

    INPUT is read as the batch goes, so its size does not matter. Each output line carries
    its input's id; failed items, and input lines that cannot be sent, are written as error
    lines ({"id": ..., "ok": false, "error": {...}}). An item with a "schema" (or every
    item, with --schema) asks for JSON matching it; its line carries the parsed reply under
    "parsed", or an OutputValidationError. Ctrl-C stops sending and keeps every
    finished line; run the same command again to resume. Exit 1 if any item failed, 4 if
    the output could not be written (a full disk). See docs/cli.md for the line formats.
    """
    import asyncio

    from jtd_ai.cli.jsonl import OutputFile, read_items

    source = getattr(input_file, "name", "input")
    defaults = options_from_pairs(option_pairs)
    _check_defaults(model, defaults)
    batch_spec = _batch_spec(schema, defaults)
    if provider_batch:  # the provider's own batch jobs: jtd_ai.cli.jobs
        raise click.exceptions.Exit(run_provider_batch(
            input_file, output, provider=provider, model=model, defaults=defaults,
            quiet=quiet, as_json=as_json, poll_interval=poll_interval,
            batch_spec=batch_spec))
    driver = state().manager.driver(provider)
    out = OutputFile(output)
    try:
        done = out.finished(retry_failed=retry_failed)
        out.open()
    except OSError as exc:
        raise CliError(f"cannot use {output} as the output: {_why(exc)}; nothing was sent",
                       OUTPUT_FAILED) from None
    if out.trimmed:
        echo(f"{output}: removed an unfinished last line (a crash mid-write, or a line that "
             f"is not UTF-8); that item will be sent again", err=True)

    def build(item: BatchItem) -> Built:
        from jtd_ai.structured import output_spec

        spec = output_spec(item.schema) if item.schema is not None else batch_spec
        options = _with_spec({**defaults, **item.options}, item.options, spec)
        return driver.build_request(list(item.messages), model=item.model or model,
                                    **options), spec

    # The input is read as the batch goes: memory holds the items in flight, not the file.
    feed = _Feed(read_items(input_file, source), done, build, source)
    tally = _Tally()
    cancel = threading.Event()

    def on_result(index: int, result: Response | AIError) -> None:
        from jtd_ai.errors import AIError

        ident, bad_line, spec = feed.item(index)
        if tally.write_error is not None:
            tally.unwritten += 1  # not recorded, so a re-run sends it again
            return
        if spec is not None and not isinstance(result, AIError):
            result = _parsed(spec, result, tally)
        if isinstance(result, AIError):
            line = {"id": ident, "ok": False, "error": error_dict(result)}
            if bad_line is not None:
                line["line"] = bad_line  # resume knows a bad line by its number
        else:
            line = {"id": ident, "ok": True, **response_dict(result)}
            if spec is not None:
                line["parsed"] = parsed_json(result.parsed)
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
    display = make_display("batch", None, quiet=quiet)
    try:
        # A file on disk is read on the loop (fast, never waits); a pipe or a terminal on a
        # thread, so a writer that is slow to send its lines does not stall the batch.
        source = (cast("Iterable[Any]", feed) if _regular_file(input_file)
                  else _off_loop(feed, cancel))
        abandoned = asyncio.run(_send(driver, source, concurrency=concurrency,
                                      display=display, on_result=on_result, cancel=cancel,
                                      tally=tally))
    finally:
        display.stop()
        try:
            out.close()
        except OSError as exc:  # a file system that reports a failed write only now
            tally.write_error = tally.write_error or exc
    if feed.skipped:
        echo(f"skipping {feed.skipped} of {feed.read} ids already in {output}", err=True)
    failed_output = tally.write_error is not None
    interrupted = abandoned or (cancel.is_set() and not failed_output)
    data = _summary(tally, feed=feed, elapsed=time.monotonic() - started, output=output,
                    interrupted=interrupted)
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
