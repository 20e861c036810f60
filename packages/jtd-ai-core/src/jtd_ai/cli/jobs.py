"""Provider batch jobs from the command line: ``jtd-ai batch --provider-batch`` (the command
logic is :func:`run_provider_batch`) and ``jtd-ai jobs`` (list, status, cancel, collect)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from jtd_ai.cli.exits import ITEMS_FAILED, OK, OUTPUT_FAILED, USAGE, CliError
from jtd_ai.cli.output import echo, emit_json, money, table
from jtd_ai.cli.state import state

if TYPE_CHECKING:
    from jtd_ai.driver import Driver
    from jtd_ai.errors import AIError
    from jtd_ai.job_book import JobRecord
    from jtd_ai.manager import AIManager
    from jtd_ai.responses import Response
    from jtd_ai.structured import OutputSpec

__all__ = ["jobs", "provider_batch_options", "run_provider_batch"]

_COLUMNS = ("run", "part", "provider", "model", "job", "step", "state", "items", "ok",
            "failed", "updated")


def _store(manager: AIManager) -> Any:
    storage = manager.storage
    if not storage.options.enabled:
        raise CliError("provider batch jobs are recorded in the jtd-ai store, which is turned "
                       "off ([store] enabled = false)", USAGE)
    return storage.store()


def _note(quiet: bool) -> Any:
    """A status callback printing each job's step and state on stderr (or nothing)."""
    seen: dict[str, tuple[str, str | None]] = {}

    def note(record: JobRecord) -> None:
        now = (record.step, record.state)
        if quiet or seen.get(record.id) == now:
            return
        seen[record.id] = now
        job = record.job_id or "-"
        echo(f"job {record.part} ({record.items} items): {record.step}"
             f"{', ' + record.state if record.state else ''} [{job}]", err=True)

    return note


#: ``jtd-ai batch`` options of the live batch that mean nothing for provider jobs.
_LIVE_ONLY = {"concurrency": "--concurrency (the provider runs the job at its own pace)",
              "retry_failed": "--retry-failed (a run is resumed as it was submitted; send "
                              "the failed ids again as a new input)"}


def _refuse_live_options() -> None:
    """A usage error for a live-batch option given with --provider-batch."""
    context = click.get_current_context(silent=True)
    if context is None:
        return
    from click.core import ParameterSource

    for name, what in _LIVE_ONLY.items():
        if context.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            raise CliError(f"{what} does not apply with --provider-batch; nothing was "
                           f"uploaded", USAGE)


def provider_batch_options(command: Any) -> Any:
    """The options ``jtd-ai batch`` takes for provider batch jobs."""
    command = click.option(
        "--poll-interval", type=click.FloatRange(min=0.001), default=None,
        help="With --provider-batch: seconds before the first poll of the jobs (then "
             "growing; default 10).")(command)
    return click.option(
        "--provider-batch", is_flag=True,
        help="Run the input as the provider's own batch jobs (OpenAI Batch, Gemini batch "
             "mode): half price, results within 24 hours; resumable. See docs/batches.md."
    )(command)


def run_provider_batch(input_file: IO[str], output: Path, *, provider: str | None,
                       model: str | None, defaults: dict[str, Any], quiet: bool,
                       as_json: bool, poll_interval: float | None = None,
                       input_mode: str = "auto",
                       batch_spec: OutputSpec[Any] | None = None) -> int:
    """``jtd-ai batch --provider-batch``: the whole input as provider batch jobs; each item's
    line written in input order once the jobs end. Nothing is uploaded unless every line is
    usable. An item's ``schema`` (or ``batch_spec``, from ``--schema``) is sent as its
    response format and its reply parsed under ``"parsed"``, as in a live batch. Running the
    same command again resumes the stored jobs (a line already in the output is not written
    twice). Returns the exit code."""
    from jtd_ai.cli.batch import _with_spec
    from jtd_ai.cli.jsonl import BadLine, OutputFile, read_items
    from jtd_ai.cli.render import error_dict, response_dict
    from jtd_ai.cli.schema_option import parsed_json
    from jtd_ai.errors import AIError, OutputValidationError
    from jtd_ai.jobs import POLL_INTERVAL, run_batch_job
    from jtd_ai.structured import output_spec

    _refuse_live_options()
    source = getattr(input_file, "name", "input")
    manager = state().manager
    driver = manager.driver(provider)
    ids: list[str | int] = []
    specs: list[OutputSpec[Any] | None] = []
    requests = []
    for entry in read_items(input_file, source):
        if isinstance(entry, BadLine):
            raise CliError(f"{entry.problem}; nothing was uploaded", USAGE)
        try:
            spec = output_spec(entry.schema) if entry.schema is not None else batch_spec
            options = _with_spec({**defaults, **entry.options}, entry.options, spec)
            requests.append(driver.build_request(list(entry.messages),
                                                 model=entry.model or model, **options))
        except AIError as exc:
            raise CliError(f"{source} line {entry.line}: {exc}; nothing was uploaded",
                           USAGE) from None
        ids.append(entry.id)
        specs.append(spec)
    out = OutputFile(output)
    try:
        done = out.finished()
        out.open()
    except OSError as exc:
        raise CliError(f"cannot use {output} as the output: {exc.strerror or exc}; nothing "
                       f"was uploaded", OUTPUT_FAILED) from None
    from jtd_ai.cli.jsonl import id_key

    try:
        results = run_batch_job(
            driver, requests, store=_store(manager), input=input_mode,
            ledger=manager.storage.options.ledger,
            poll_interval=POLL_INTERVAL if poll_interval is None else poll_interval,
            on_status=_note(quiet))
        ok = failed = 0
        cost = Decimal(0)
        for ident, spec, result in zip(ids, specs, results, strict=True):
            if spec is not None and not isinstance(result, AIError):
                try:
                    result = spec.parse(result)
                except OutputValidationError as error:
                    result = error
            if isinstance(result, AIError):
                failed += 1
                line = {"id": ident, "ok": False, "error": error_dict(result)}
            else:
                ok += 1
                cost += result.cost or 0
                line = {"id": ident, "ok": True, **response_dict(result)}
                if spec is not None:
                    line["parsed"] = parsed_json(result.parsed)
            if id_key(ident) not in done.ids:
                out.write(line)
    except OSError as exc:
        raise CliError(f"{output}: {exc.strerror or exc}; run the same command again to "
                       f"write the rest", OUTPUT_FAILED) from None
    finally:
        out.close()
    summary = {"output": str(output), "ok": ok, "failed": failed, "cost": str(cost),
               "mode": "provider"}
    if as_json:
        emit_json(summary)
    else:
        echo(f"{ok} ok, {failed} failed; {money(cost)} at the batch price", err=True)
    return ITEMS_FAILED if failed else OK


@click.group()
def jobs() -> None:
    """Provider batch jobs recorded in the store (made by 'jtd-ai batch --provider-batch')."""


def _rows(records: list[JobRecord]) -> list[list[Any]]:
    return [[r.run_id, r.part, r.provider, r.model, r.job_id or "-", r.step, r.state or "-",
             r.items, r.completed, r.failed, r.updated[:19]] for r in records]


def _records_json(records: list[JobRecord]) -> list[dict[str, Any]]:
    import attrs

    return [attrs.asdict(r) for r in records]


def _show(records: list[JobRecord], as_json: bool) -> None:
    if as_json:
        emit_json(_records_json(records))
    elif records:
        table(_COLUMNS, _rows(records))
    else:
        echo("no provider batch jobs recorded", err=True)


def _run_driver(manager: AIManager, ident: str) -> Driver:
    from jtd_ai.jobs import find_batch_jobs

    found = find_batch_jobs(_store(manager), ident)
    if not found:
        raise CliError(f"no provider batch run or job {ident!r} in the store", USAGE)
    return manager.driver(found[0].provider)


@jobs.command("list")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_jobs(limit: int, as_json: bool) -> None:
    """The most recently changed jobs."""
    from jtd_ai.jobs import find_batch_jobs

    _show(find_batch_jobs(_store(state().manager), limit=limit), as_json)


@jobs.command()
@click.argument("ident", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(ident: str, as_json: bool) -> None:
    """Ask the provider for the state of RUN's jobs (a run id, or a provider job id)."""
    from jtd_ai.jobs import refresh_batch_job

    manager = state().manager
    _show(refresh_batch_job(_run_driver(manager, ident), ident, store=_store(manager)),
          as_json)


@jobs.command()
@click.argument("ident", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def cancel(ident: str, as_json: bool) -> None:
    """Ask the provider to cancel RUN's unfinished jobs."""
    from jtd_ai.jobs import cancel_batch_job

    manager = state().manager
    _show(cancel_batch_job(_run_driver(manager, ident), ident, store=_store(manager)),
          as_json)


@jobs.command()
@click.argument("ident", metavar="RUN")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Where to write the JSONL results (default: stdout).")
@click.option("--timeout", type=click.FloatRange(min=0), default=None,
              help="Give up waiting after this many seconds (the jobs go on).")
@click.option("--poll-interval", type=click.FloatRange(min=0.001), default=None,
              help="Seconds before the first poll (then growing).")
def collect(ident: str, output: IO[str], timeout: float | None,
            poll_interval: float | None) -> None:
    """Wait for RUN's jobs to end and write one JSONL line per item, by input position
    ({"index": ..., "ok": ...}). To get your input's ids, run the same
    'jtd-ai batch --provider-batch' command again instead: it resumes the same jobs."""
    from jtd_ai.cli.output import json_text
    from jtd_ai.cli.render import error_dict, response_dict
    from jtd_ai.errors import AIError
    from jtd_ai.jobs import POLL_INTERVAL, collect_batch_job

    manager = state().manager
    results: list[Response | AIError] = collect_batch_job(
        _run_driver(manager, ident), ident, store=_store(manager), timeout=timeout,
        poll_interval=POLL_INTERVAL if poll_interval is None else poll_interval,
        ledger=manager.storage.options.ledger)
    failed = 0
    for index, result in enumerate(results):
        if isinstance(result, AIError):
            failed += 1
            line = {"index": index, "ok": False, "error": error_dict(result)}
        else:
            line = {"index": index, "ok": True, **response_dict(result)}
        output.write(json_text(line) + "\n")
    if failed:
        raise click.exceptions.Exit(ITEMS_FAILED)
