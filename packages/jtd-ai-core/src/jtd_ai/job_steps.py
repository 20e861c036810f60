"""The steps of a provider batch run, without I/O: generators that yield the requests to
send (:class:`Send`) and the pauses to take (:class:`Sleep`), are sent the replies, and
record every step in the store before the next (see :mod:`jtd_ai.jobs`, whose two thin
runners drive them, sync and async)."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from attrs import frozen

from jtd_ai.batch_protocol import BatchJobError, JobState, JobStatus
from jtd_ai.errors import (
    AIError,
    BatchCancelledError,
    ProviderError,
    ResponseTooLargeError,
    ValidationError,
)
from jtd_ai.job_book import LOCK, JobBook, JobRecord
from jtd_ai.job_plan import JobPlan, batch_protocol_of

if TYPE_CHECKING:
    from jtd_ai.budget import BudgetLimits
    from jtd_ai.driver import Driver
    from jtd_ai.request import ChatRequest
    from jtd_ai.responses import Response
    from jtd_ai.wire import HttpRequest

__all__ = ["OPERATION", "JobRun", "Send", "Sleep", "Steps", "cancel_steps", "collect_steps",
           "refresh_steps", "run_steps"]

#: The operation name of the requests a run sends, and of its ledger rows.
OPERATION = "batch_job"
StatusCallback = Callable[[JobRecord], Any]


@frozen
class Send:
    """Send ``request`` (with the core's retries, unless ``once``); the reply is sent back
    in, or the AIError thrown in."""

    request: HttpRequest
    model: str | None = None
    #: Send it once, without the core's retries (a job's creation: see ``_create``).
    once: bool = False


@frozen
class Sleep:
    """Wait ``seconds`` before the next step."""

    seconds: float


Effect = Send | Sleep
Steps = Generator[Effect, Any, Any]


class JobRun:
    """What the step generators share for one run."""

    def __init__(self, driver: Driver, book: JobBook, *, ledger: bool,
                 on_status: StatusCallback | None, budget: BudgetLimits | None = None) -> None:
        self.driver = driver
        self.batch = batch_protocol_of(driver)
        self.book = book
        self.ledger = ledger
        #: The limits a new run is checked against (and holds budget under), if any.
        self.budget = budget
        self.on_status = on_status
        self.statuses: dict[str, JobStatus] = {}

    def changed(self, record: JobRecord) -> JobRecord:
        if self.on_status is not None:
            self.on_status(record)
        return record

    def status(self, record: JobRecord, status: JobStatus) -> JobRecord:
        self.statuses[record.id] = status
        return self.changed(self.book.update(
            record, state=status.state.value, completed=status.completed, failed=status.failed,
            output_ref=status.output_ref, error_ref=status.error_ref, message=status.message))


def _records(run: JobRun, plan: JobPlan) -> list[JobRecord]:
    """The run's jobs from the store, added first when the run is new: read and added in
    one transaction under the jobs' lock (two processes starting the same run add it once),
    after the budget check that holds the jobs' ceilings (see :mod:`jtd_ai.job_budget`)."""
    records = run.book.run(plan.run_id)
    if not records:
        from jtd_ai.job_budget import job_ceilings, reserve_for_jobs

        ceilings = job_ceilings(run.driver, plan) if run.budget is not None else None
        with run.book.store.write(lock=LOCK) as conn:
            records = run.book.run(plan.run_id, conn)
            if not records:
                records = [JobRecord(id=f"{plan.run_id}:{i}", run_id=plan.run_id, part=i,
                                     provider=plan.provider, driver=plan.driver,
                                     model=plan.model, input_digest=plan.digest(i),
                                     first_index=first, items=count)
                           for i, (first, count) in enumerate(plan.parts)]
                if run.budget is not None and ceilings is not None:
                    reserve_for_jobs(conn, run.book.store, run.budget, plan.provider,
                                     [(r.id, c) for r, c in zip(records, ceilings,
                                                                strict=True)])
                run.book.add_in(conn, records)
    if [(r.first_index, r.items, r.input_digest) for r in records] != [
            (f, c, plan.digest(i)) for i, (f, c) in enumerate(plan.parts)]:
        raise ValidationError(f"run {plan.run_id!r} in the store holds other items than "
                              f"these", field="run")
    return records


def _submit(run: JobRun, plan: JobPlan, record: JobRecord, mode: str) -> Steps:
    """Upload and create one job, each step recorded; resumes from the record's step."""
    batch = run.batch
    first, count = plan.parts[record.part]
    lines = plan.lines[first:first + count]
    tag = plan.tag(record.part)
    if record.step == "new":
        data = b"".join(line + b"\n" for line in lines)
        request = batch.upload_request(tag, data, mode=mode)
        file_id = None
        while request is not None:
            answer = batch.parse_upload((yield Send(request)), data)
            if isinstance(answer, str):
                file_id, request = answer, None
            else:
                request = answer
        record = run.changed(run.book.update(record, step="uploaded", file_id=file_id))
    if record.step == "creating":  # a process died while creating: was the job made?
        found = yield from _find(run, record, tag)
        if found is not None:
            record = run.book.update(record, step="submitted", job_id=found.job_id)
            return run.status(record, found)
    if record.step in ("uploaded", "creating"):
        if record.step == "uploaded":  # the time of the first attempt stays: see _find
            record = run.book.update(record, step="creating")
        status = yield from _create(run, plan, record, lines, tag)
        record = run.book.update(record, step="submitted", job_id=status.job_id)
        return run.status(record, status)
    return record


def _create(run: JobRun, plan: JobPlan, record: JobRecord, lines: Sequence[bytes],
            tag: str) -> Generator[Effect, Any, JobStatus]:
    """Create the job. A failed attempt may have created it anyway (the reply lost on the
    way back), so it is never simply sent again: the provider's jobs are searched for its
    tag first, and the job found is taken; only when none is found is it created again, up
    to the provider's ``retry_attempts``."""
    batch = run.batch
    config = run.driver.config
    attempt = 0
    while True:
        try:
            return batch.parse_job((yield Send(batch.create_request(
                tag, plan.model, lines, record.file_id), plan.model, once=True)))
        except ProviderError as error:
            attempt += 1
            if not error.retryable or attempt >= config.retry_attempts:
                raise
            wait = error.retry_after
            if wait is None:
                wait = min(config.retry_delay / 1000 * 2 ** (attempt - 1),
                           config.retry_max_delay)
        yield Sleep(wait)
        found = yield from _find(run, record, tag)
        if found is not None:
            return found


#: How far before the recorded start of a job's creation the search for it looks: the
#: provider stamps the job with its own clock, which may be behind ours.
CLOCK_MARGIN = 3600.0
#: A bound on the pages read looking for one job (a listing that never ends is a bug).
_MAX_FIND_PAGES = 10_000


def _find(run: JobRun, record: JobRecord, tag: str) -> Generator[Effect, Any, JobStatus | None]:
    """The provider's job tagged ``tag``, if it was created: the listing is read page by page
    (newest first) down to the jobs created before this one's creation began, however many
    other jobs the account made meanwhile."""
    from jtd_ai.wire import HttpRequest

    batch = run.batch
    since = record.creating_since() - CLOCK_MARGIN
    request = batch.find_request(tag)
    for _ in range(_MAX_FIND_PAGES):
        answer = batch.find_job((yield Send(request)), tag, since)
        if not isinstance(answer, HttpRequest):
            return answer
        request = answer
    raise ProviderError(f"{run.driver.provider}: listed {_MAX_FIND_PAGES} pages of batch "
                        f"jobs looking for {tag!r} without reaching the end; not creating it "
                        f"again (it may exist)", provider=run.driver.provider,
                        retryable=False)


def _poll(run: JobRun, records: list[JobRecord], poll_interval: float,
          max_poll_interval: float, deadline: float | None) -> Generator[Effect, Any,
                                                                         list[JobRecord]]:
    """Poll every unfinished job until all have ended, waiting longer each round."""
    wait = poll_interval
    while True:
        for i, record in enumerate(records):
            if record.step == "submitted" and not _ended(record) and record.job_id:
                status = run.batch.parse_job((yield Send(run.batch.poll_request(
                    record.job_id))))
                records[i] = run.status(record, status)
        if all(_ended(r) or r.step == "collected" for r in records):
            return records
        if deadline is not None and time.monotonic() + wait > deadline:
            from jtd_ai.errors import TimeoutError

            raise TimeoutError(
                f"{run.driver.provider}: the batch jobs of run {records[0].run_id} have not "
                f"ended yet; they go on at the provider: run the same input again, or "
                f"`jtd-ai jobs collect {records[0].run_id}`, to collect them later",
                provider=run.driver.provider, retryable=False)
        yield Sleep(wait)
        wait = min(wait * 1.5, max_poll_interval)


def _ended(record: JobRecord) -> bool:
    return record.state is not None and JobState(record.state).terminal


def _collect(run: JobRun, record: JobRecord, requests: Sequence[ChatRequest | None],
             results: list[Any]) -> Generator[Effect, Any, JobRecord]:
    """Download one ended job's results into ``results`` (by input index); the first time,
    write their ledger rows and mark the job collected, in one transaction."""
    batch = run.batch
    status = run.statuses.get(record.id)
    if status is None and record.job_id:  # resumed: ask again (inline results come here)
        status = batch.parse_job((yield Send(batch.poll_request(record.job_id))))
    if status is None:
        status = JobStatus(job_id=record.job_id or "", state=JobState.FAILED,
                           message=record.message)
    replies = []
    for request in batch.results_requests(status):
        try:
            replies.append((yield Send(request)))
        except ResponseTooLargeError as error:
            raise _too_large(run, record, error) from None
    first, count = record.first_index, record.items
    seen: set[int] = set()
    for outcome in batch.parse_results(status, replies):
        index = _index(outcome.key)
        if index is None or not first <= index < first + count or index in seen:
            continue
        seen.add(index)
        results[index] = _item_result(run, outcome.status, outcome.body, requests[index],
                                      record.model)
    state = status.state
    for index in range(first, first + count):
        if index not in seen:
            results[index] = _missing(run, record, state, status.message)
    if record.step != "collected":
        from jtd_ai.job_budget import release_sql, reservation_id

        rows = _ledger_rows(run, record, [results[i] for i in sorted(seen)]) \
            if run.ledger else []
        # Read again under the lock: another process collecting the same job meanwhile
        # wrote its rows already (the ledger then holds them once).
        with run.book.store.write(lock=LOCK) as conn:
            if run.book.step_in(conn, record) != "collected":
                if rows:
                    from jtd_ai.ledger import Ledger

                    Ledger.insert_rows(conn, rows)
                conn.execute(release_sql, (reservation_id(record.id),))
                record = run.book.update_in(conn, record, step="collected")
            else:
                record = attrs.evolve(record, step="collected")
        run.changed(record)
    return record


def _too_large(run: JobRun, record: JobRecord,
               error: ResponseTooLargeError) -> ResponseTooLargeError:
    """A result file over the reply cap: which setting to raise, and that nothing is lost."""
    config = run.driver.config
    return ResponseTooLargeError(
        f"{config.name}: a result file of batch job {record.job_id} is larger than "
        f"providers.{config.name}.max_response_size ({config.max_response_size:,} bytes), "
        f"which caps every reply of this provider, result files included, and is held in "
        f"memory whole; raise it for this provider, then collect again (`jtd-ai jobs "
        f"collect {record.run_id}`, or run the same input): this job's results stay at "
        f"the provider, none of them recorded yet", provider=config.name,
        status=error.status, retryable=False)


def _index(key: str) -> int | None:
    number = key.removeprefix("item-")
    return int(number) if number.isdigit() and number != key else None


def _item_result(run: JobRun, status: int, body: bytes, request: ChatRequest | None,
                 model: str) -> Response | AIError:
    from jtd_ai.wire import HttpResponse

    chat = run.driver.protocol
    reply = HttpResponse(status, {}, body)
    if request is None:
        from jtd_ai.messages import Message
        from jtd_ai.request import ChatRequest

        request = ChatRequest.build((Message.user(""),), model)
    try:
        if status >= 400:
            return chat.parse_error(reply)
        response = chat.parse_chat(reply, request)
    except AIError as error:
        return error
    driver = run.driver
    pricing = driver.pricing(response.model) or driver.pricing(request.model)
    batch_price = pricing.for_batch() if pricing is not None else None
    cost = batch_price.cost(response.usage) if batch_price and response.usage else None
    return response.completed(latency=None, cost=cost, pricing=batch_price,
                              keep_raw=driver.keep_raw)


def _missing(run: JobRun, record: JobRecord, state: JobState, message: str | None) -> AIError:
    provider = run.driver.provider
    job = record.job_id or "(never created)"
    if state in (JobState.CANCELLED, JobState.CANCELLING):
        return BatchCancelledError(f"{provider} batch job {job} was cancelled before this "
                                   f"item ran")
    why = f": {message}" if message else ""
    return BatchJobError(f"{provider} batch job {job} ended {state.value} without this "
                         f"item's result{why}", provider=provider, job_id=record.job_id,
                         job_state=state.value)


def _ledger_rows(run: JobRun, record: JobRecord,
                 answered: Sequence[Any]) -> list[tuple[Any, ...]]:
    from jtd_ai.calls import CallInfo
    from jtd_ai.ledger import usage_row
    from jtd_ai.responses import Response

    rows = []
    for result in answered:
        call = CallInfo(provider=record.provider, driver=record.driver, operation=OPERATION,
                        model=record.model, attempts=1, batch_id=record.job_id)
        if isinstance(result, Response):
            rows.append(usage_row(call, result))
        else:
            rows.append(usage_row(call, None, status="error", error=type(result).__name__))
    return rows


def run_steps(run: JobRun, plan: JobPlan, *, mode: str, wait: bool, poll_interval: float,
              max_poll_interval: float, timeout: float | None) -> Steps:
    """A whole run: submit every job, then (with ``wait``) poll them all and collect each;
    returns the results in input order (without ``wait``: the run id)."""
    deadline = time.monotonic() + timeout if timeout is not None else None
    records = _records(run, plan)
    for i, record in enumerate(records):
        records[i] = yield from _submit(run, plan, record, mode)
    if not wait:
        return plan.run_id
    records = yield from _poll(run, records, poll_interval, max_poll_interval, deadline)
    results: list[Any] = [None] * len(plan.requests)
    for record in records:
        yield from _collect(run, record, plan.requests, results)
    return results


def collect_steps(run: JobRun, run_id: str, *, poll_interval: float,
                  max_poll_interval: float, timeout: float | None) -> Steps:
    """Results of a stored run without its input (``jtd-ai jobs collect``)."""
    deadline = time.monotonic() + timeout if timeout is not None else None
    records = _stored(run, run_id)
    for record in records:
        if record.step not in ("submitted", "collected"):
            raise ValidationError(f"job {record.id} was never created at the provider; run "
                                  f"its input again to resume it", field="run")
    records = yield from _poll(run, records, poll_interval, max_poll_interval, deadline)
    total = max(r.first_index + r.items for r in records)
    results: list[Any] = [None] * total
    for record in records:
        yield from _collect(run, record, [None] * total, results)
    return [results[i] for r in records for i in range(r.first_index, r.first_index + r.items)]


def _stored(run: JobRun, run_id: str) -> list[JobRecord]:
    records = run.book.find(run_id)
    if not records:
        raise ValidationError(f"no provider batch run or job {run_id!r} in the store",
                              field="run")
    return records


def refresh_steps(run: JobRun, run_id: str) -> Steps:
    """One status check of each unfinished job of a stored run."""
    records = _stored(run, run_id)
    for i, record in enumerate(records):
        if record.step == "submitted" and record.job_id and not _ended(record):
            status = run.batch.parse_job((yield Send(run.batch.poll_request(record.job_id))))
            records[i] = run.status(record, status)
    return records


def cancel_steps(run: JobRun, run_id: str) -> Steps:
    """Cancel each unfinished job of a stored run, then check its state once."""
    records = _stored(run, run_id)
    out = []
    for record in records:
        if record.step == "submitted" and record.job_id and not _ended(record):
            yield Send(run.batch.cancel_request(record.job_id))
            status = run.batch.parse_job((yield Send(run.batch.poll_request(record.job_id))))
            record = run.status(record, status)
        out.append(record)
    return out
