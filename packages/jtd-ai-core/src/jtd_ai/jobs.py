"""Provider batch jobs: many prompts run on the provider's own batch API (OpenAI Batch,
Gemini batch mode) at its batch price, resumable across processes.

``run_batch_job(driver, items, store=...)`` (and ``arun_batch_job``) checks every item,
splits the input by the provider's per-job limits, then for each job: uploads the input,
creates the job, polls it with backoff until it ends, downloads its results and maps them
back to input order, each a Response or the typed error of that item, as ``send_batch``
gives. Every step is written to the store (table ``batch_jobs``) before the next begins, so
running the same input again after a crash continues where the dead process stopped:

- died before the upload was recorded: the input is uploaded again (an unused file may be
  left at the provider), the job is created once;
- died while creating the job: the provider's job list is searched for the job's tag before
  creating, so the job is never created twice;
- died while polling or downloading: polling and the download resume; each item's ledger
  row is written in the same transaction that marks the job collected, so exactly once.

A new run is checked against the manager's ``[budget]`` before anything is uploaded, and its
jobs' ceilings are held until they are collected (:mod:`jtd_ai.job_budget`).

The step logic is one generator (no I/O: it yields the requests to send and the pauses to
take); :func:`run_batch_job` and :func:`arun_batch_job` are its two thin drivers.
"""


from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from jtd_ai.errors import AIError, ConfigurationError, ValidationError
from jtd_ai.job_book import JobBook, JobRecord
from jtd_ai.job_plan import JobPlan, batch_protocol_of, plan_batch_job
from jtd_ai.job_steps import (
    OPERATION,
    JobRun,
    Send,
    Sleep,
    Steps,
    cancel_steps,
    collect_steps,
    refresh_steps,
    run_steps,
)

if TYPE_CHECKING:
    from jtd_ai.calls import CallInfo
    from jtd_ai.driver import BatchItem, Driver
    from jtd_ai.responses import Response
    from jtd_ai.retry import RetryPolicy
    from jtd_ai.store import AnyStore

__all__ = ["MAX_POLL_INTERVAL", "POLL_INTERVAL", "JobPlan", "acancel_batch_job",
           "acollect_batch_job", "arefresh_batch_job", "arun_batch_job",
           "asend_provider_batch", "batch_protocol_of", "cancel_batch_job",
           "collect_batch_job", "find_batch_jobs", "plan_batch_job", "refresh_batch_job",
           "run_batch_job"]

#: Seconds between polls: the first wait, growing by half each time up to the maximum.
POLL_INTERVAL = 10.0
MAX_POLL_INTERVAL = 300.0
StatusCallback = Callable[[JobRecord], Any]


# -- the two runners -----------------------------------------------------------------------------


def _single(driver: Driver, effect: Send) -> tuple[CallInfo, RetryPolicy]:
    """The call record and a one-attempt policy for a request sent without retries."""
    import attrs

    from jtd_ai.calls import CallInfo
    from jtd_ai.retry import RetryPolicy

    call = CallInfo(provider=driver.provider, driver=driver.get_name(), operation=OPERATION,
                    model=effect.model)
    return call, attrs.evolve(RetryPolicy.from_config(driver.config), attempts=1)


def _drive(driver: Driver, steps: Steps) -> Any:
    value: Any = None
    error: AIError | None = None
    while True:
        try:
            effect = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        if isinstance(effect, Sleep):
            time.sleep(effect.seconds)
            continue
        try:
            if effect.once:
                value = driver.transport.send(effect.request, *_single(driver, effect))
            else:
                value = driver.request(effect.request, operation=OPERATION,
                                       model=effect.model)
        except AIError as exc:
            error = exc


async def _adrive(driver: Driver, steps: Steps) -> Any:
    import asyncio

    value: Any = None
    error: AIError | None = None
    while True:
        try:
            effect = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        if isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
            continue
        try:
            if effect.once:
                value = await driver.transport.asend(effect.request, *_single(driver, effect))
            else:
                value = await driver.arequest(effect.request, operation=OPERATION,
                                              model=effect.model)
        except AIError as exc:
            error = exc


def _job_run(driver: Driver, store: AnyStore | None, ledger: bool | None,
             on_status: StatusCallback | None) -> JobRun:
    """The run's shared state: the store given, else the one of the manager that built the
    driver; ``ledger`` None follows its ``[store] ledger``; new runs are checked against its
    ``[budget]``."""
    from jtd_ai.storage import storage_of

    storage = storage_of(driver)
    if store is None:
        if storage is None or not storage.options.enabled:
            raise ConfigurationError(
                "provider batch jobs are recorded in the jtd-ai store so they can be "
                "resumed, and the store is off ([store] enabled = false) or the driver was "
                "made without a manager; turn it on, or pass store=...")
        store = storage.store()  # a StoreError naming the store when it is unusable
    if ledger is None:
        ledger = storage.options.ledger if storage is not None else True
    budget = storage.budget if storage is not None else None
    if storage is not None and budget is not None:
        storage.flush()  # the rows this process queued count in the check
    return JobRun(driver, JobBook(store), ledger=ledger, on_status=on_status, budget=budget)


def _prepare(driver: Driver, items: Iterable[BatchItem], store: AnyStore | None,
             model: str | None, run: str | None, ledger: bool | None, mode: str,
             on_status: StatusCallback | None, options: dict[str, Any],
             ) -> tuple[JobRun, JobPlan]:
    if mode not in ("auto", "inline", "file"):
        raise ValidationError(f"input must be 'auto', 'inline' or 'file', not {mode!r}",
                              field="input")
    plan = plan_batch_job(driver, items, model=model, run=run, **options)
    return _job_run(driver, store, ledger, on_status), plan


def run_batch_job(driver: Driver, items: Iterable[BatchItem], *, store: AnyStore | None = None,
                  model: str | None = None, input: str = "auto", wait: bool = True,
                  poll_interval: float = POLL_INTERVAL,
                  max_poll_interval: float = MAX_POLL_INTERVAL, timeout: float | None = None,
                  run: str | None = None, ledger: bool | None = None,
                  on_status: StatusCallback | None = None, **options: Any) -> Any:
    """Run ``items`` as provider batch jobs and return the results in input order (a
    Response or the item's AIError each); with ``wait=False``, submit and return the run
    id. The same input run again resumes the stored run (``run=`` names a run instead).
    ``input``: ``auto``, ``inline`` or ``file`` where the provider offers both;
    ``on_status(JobRecord)`` hears of each step and state change. ``store`` defaults to the
    manager's store and ``ledger`` to its ``[store] ledger``; a new run is checked against
    ``[budget]`` before anything is uploaded (BudgetExceededError; see docs/batches.md)."""
    state, plan = _prepare(driver, items, store, model, run, ledger, input, on_status,
                           options)
    return _drive(driver, run_steps(state, plan, mode=input, wait=wait,
                                    poll_interval=poll_interval,
                                    max_poll_interval=max_poll_interval, timeout=timeout))


async def arun_batch_job(driver: Driver, items: Iterable[BatchItem], *,
                         store: AnyStore | None = None, model: str | None = None,
                         input: str = "auto", wait: bool = True,
                         poll_interval: float = POLL_INTERVAL,
                         max_poll_interval: float = MAX_POLL_INTERVAL,
                         timeout: float | None = None, run: str | None = None,
                         ledger: bool | None = None,
                         on_status: StatusCallback | None = None,
                         **options: Any) -> Any:
    """Async form of :func:`run_batch_job`."""
    state, plan = _prepare(driver, items, store, model, run, ledger, input, on_status,
                           options)
    return await _adrive(driver, run_steps(state, plan, mode=input, wait=wait,
                                           poll_interval=poll_interval,
                                           max_poll_interval=max_poll_interval,
                                           timeout=timeout))


def _collecting(driver: Driver, run_id: str, store: AnyStore | None, poll_interval: float,
                max_poll_interval: float, timeout: float | None, ledger: bool | None,
                on_status: StatusCallback | None) -> Steps:
    state = _job_run(driver, store, ledger, on_status)
    return collect_steps(state, run_id, poll_interval=poll_interval,
                         max_poll_interval=max_poll_interval, timeout=timeout)


def collect_batch_job(driver: Driver, run_id: str, *, store: AnyStore | None = None,
                      poll_interval: float = POLL_INTERVAL,
                      max_poll_interval: float = MAX_POLL_INTERVAL,
                      timeout: float | None = None, ledger: bool | None = None,
                      on_status: StatusCallback | None = None) -> list[Response | AIError]:
    """Wait for a stored run (or one job of it) and return its results in input order.
    Without the input, replies are read against a bare request of the run's model."""
    results: list[Response | AIError] = _drive(driver, _collecting(
        driver, run_id, store, poll_interval, max_poll_interval, timeout, ledger, on_status))
    return results


async def acollect_batch_job(driver: Driver, run_id: str, *, store: AnyStore | None = None,
                             poll_interval: float = POLL_INTERVAL,
                             max_poll_interval: float = MAX_POLL_INTERVAL,
                             timeout: float | None = None, ledger: bool | None = None,
                             on_status: StatusCallback | None = None,
                             ) -> list[Response | AIError]:
    """Async form of :func:`collect_batch_job`."""
    results: list[Response | AIError] = await _adrive(driver, _collecting(
        driver, run_id, store, poll_interval, max_poll_interval, timeout, ledger, on_status))
    return results


def cancel_batch_job(driver: Driver, run_id: str, *,
                     store: AnyStore | None = None) -> list[JobRecord]:
    """Ask the provider to cancel every unfinished job of a run; returns the jobs as now
    recorded. Collect the run afterwards for what finished before the cancel."""
    state = _job_run(driver, store, False, None)
    records: list[JobRecord] = _drive(driver, cancel_steps(state, run_id))
    return records


async def acancel_batch_job(driver: Driver, run_id: str, *,
                            store: AnyStore | None = None) -> list[JobRecord]:
    """Async form of :func:`cancel_batch_job`."""
    state = _job_run(driver, store, False, None)
    records: list[JobRecord] = await _adrive(driver, cancel_steps(state, run_id))
    return records


def refresh_batch_job(driver: Driver, run_id: str, *,
                      store: AnyStore | None = None) -> list[JobRecord]:
    """Ask the provider once for the state of every unfinished job of a run (or one job);
    returns the jobs as now recorded."""
    state = _job_run(driver, store, False, None)
    records: list[JobRecord] = _drive(driver, refresh_steps(state, run_id))
    return records


async def arefresh_batch_job(driver: Driver, run_id: str, *,
                             store: AnyStore | None = None) -> list[JobRecord]:
    """Async form of :func:`refresh_batch_job`."""
    state = _job_run(driver, store, False, None)
    records: list[JobRecord] = await _adrive(driver, refresh_steps(state, run_id))
    return records


def find_batch_jobs(store: AnyStore, ident: str | None = None, *,
                    limit: int = 50) -> list[JobRecord]:
    """The recorded jobs of a run (or one job, by its provider id), or the most recent."""
    book = JobBook(store)
    return book.find(ident) if ident else book.recent(limit)


#: The keyword arguments of :func:`run_batch_job` that are not request options.
_JOB_KEYS = frozenset({"store", "input", "wait", "poll_interval", "max_poll_interval",
                       "timeout", "run", "ledger", "on_status"})


async def asend_provider_batch(driver: Driver, items: Any, *, mode: str, model: str | None,
                               progress: Any, on_result: Any, cancel: Any,
                               options: dict[str, Any]) -> list[Response | AIError]:
    """``asend_batch(mode="provider")``: the items as provider batch jobs, waited for;
    ``on_result`` hears each result once the jobs end. Job settings (``poll_interval``,
    ``timeout``, ``input``, ``run``, ``store``...) may be passed among the options."""
    if mode != "provider":
        raise ValidationError(f"mode must be 'live' or 'provider', not {mode!r}",
                              field="mode")
    if not isinstance(items, Iterable):
        raise ValidationError("mode='provider' takes an iterable of items (the whole input "
                              "is uploaded), not an async iterable", field="items")
    if progress is not None or cancel is not None:
        raise ValidationError("mode='provider' has no per-item progress and no cancel "
                              "event: cancel a provider job with jtd_ai.jobs."
                              "cancel_batch_job", field="mode")
    settings = {k: v for k, v in options.items() if k in _JOB_KEYS}
    request_options = {k: v for k, v in options.items() if k not in _JOB_KEYS}
    results: list[Response | AIError] = await arun_batch_job(
        driver, items, model=model, **settings, **request_options)
    if on_result is not None:
        for index, result in enumerate(results):
            on_result(index, result)
    return results
