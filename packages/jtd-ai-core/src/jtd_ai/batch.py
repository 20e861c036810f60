"""The batch engine: many requests on one pooled client, in bounded memory, nothing lost.

:func:`stream_batch` reads its input (any iterable or async iterable) as it goes, sends with
bounded concurrency (asyncio) and yields ``(index, result)`` as items finish, or in input
order through a bounded reordering window; at most ``window`` items are held at once, so
memory does not grow with the batch. :func:`collect_batch` and :func:`run_batch` gather the
same results into one list. Each item's result is a Response or the typed error that ended
it. Client-side pacing keeps a large batch under the provider's limits
before it answers 429: ``requests_per_minute`` and ``tokens_per_minute`` from the provider
config, and the provider's own rate-limit headers (remaining = 0 pauses new starts until the
reset). Retry-After is honoured by the core's retry loop. A progress callback sees done,
failed, tokens and cost so far; cancelling returns what finished, marking the rest.

One item never takes the batch down: whatever ends an item, while building its request
(:func:`prepare`), sending it or reading the reply, becomes that item's result. A jtd-ai
error is kept as it is; any other exception (a bug in jtd-ai, a driver or a hook, or input
no check caught) becomes an :class:`UnexpectedError` naming the original type, or a
``ValidationError`` when the item could not be built or encoded. An exception raised by the
``progress`` or ``on_result`` callback is logged (logger ``jtd_ai.batch``, ERROR) and
neither stops the batch nor loses a result; use ``cancel`` to stop one.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
import traceback
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
    Sized,
)
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define, field

from jtd_ai.errors import (
    AIError,
    BatchCancelledError,
    BatchInputError,
    UnexpectedError,
    ValidationError,
)

if TYPE_CHECKING:
    from jtd_ai.request import ChatRequest
    from jtd_ai.responses import RateLimitInfo, Response

__all__ = ["BatchInputError", "BatchProgress", "Pacer", "UnexpectedError", "batch_window",
           "check_items", "collect_batch", "item_error", "prepare", "run_batch", "stream_batch"]

log = logging.getLogger("jtd_ai.batch")

T = TypeVar("T")

#: How much of an unexpected exception's text an item's error repeats.
_DETAIL_LIMIT = 300


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}")


def item_error(exc: BaseException, *, index: int | None = None,
               built: bool = True) -> AIError:
    """The typed error of one batch item that ended in ``exc``.

    An AIError is returned as it is. Otherwise the message names the original type and
    repeats its text, masked by :func:`jtd_ai.secret.redact` (the ``AIError`` constructor
    masks every message); the exception itself is not chained, since its arguments may
    hold secrets or the whole payload. ``built=False`` (the request could not be built)
    and a ``UnicodeEncodeError`` (text that cannot be sent as UTF-8, such as a lone
    surrogate) give a ``ValidationError``: the item was bad input and was never sent."""
    if isinstance(exc, AIError):
        return exc
    from jtd_ai.secret import redact

    kind = _type_name(exc)
    text = redact(str(exc))  # masked before the cut: no key is left half shown
    if len(text) > _DETAIL_LIMIT:
        text = text[:_DETAIL_LIMIT] + "..."
    detail = f"{kind}: {text}" if text else kind
    where = f"item {index}" if index is not None else "a batch item"
    if log.isEnabledFor(logging.DEBUG):
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.debug("%s failed with %s", where, redact(trace))
    if not built:
        return ValidationError(f"{where} could not be made into a request ({detail}); it "
                               f"was not sent")
    if isinstance(exc, UnicodeEncodeError):
        return ValidationError(
            f"{where} holds text that cannot be sent as UTF-8 ({detail}); a lone surrogate "
            f"such as '\\ud800' is the usual cause. It was not sent", field="messages")
    return UnexpectedError(f"{where} failed with an unexpected {detail} (a bug in jtd-ai, a "
                           f"driver or a hook: please report it)", error_type=kind)


def prepare(items: Iterable[T], build: Callable[[T], ChatRequest]) -> list[
        ChatRequest | AIError]:
    """``build(item)`` for every item, in order, before anything is sent; an item that
    cannot be built is its error instead (:func:`item_error`), and the others go on.
    (:func:`stream_batch` builds each item as it takes it instead: ``build=``.)"""
    prepared: list[ChatRequest | AIError] = []
    for index, item in enumerate(items):
        try:
            prepared.append(build(item))
        except Exception as exc:  # one item's failure is that item's result
            prepared.append(item_error(exc, index=index, built=False))
    return prepared


@define
class BatchProgress:
    """Where a batch stands; handed to the progress callback after every item. ``total``
    is None when the input's length is not known (an iterator read as the batch goes)."""

    total: int | None
    done: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    started: float = field(factory=time.monotonic)

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Items finished per second so far."""
        return self.finished / self.elapsed if self.elapsed > 0 else 0.0


class Pacer:
    """Spaces request starts to stay under requests and tokens per minute, and pauses when
    the provider says its window is used up."""

    def __init__(self, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._tpm = tokens_per_minute
        self._next_start = 0.0
        self._paused_until = 0.0
        self._spent: collections.deque[tuple[float, int]] = collections.deque()
        self._lock = asyncio.Lock()

    @property
    def active(self) -> bool:
        """Whether starts must wait: a configured pace, or a window the provider reported
        exhausted that has not reset yet."""
        return bool(self._interval or self._tpm) or self._paused_until > self._clock()

    async def acquire(self, estimate: int) -> None:
        """Wait until a request estimated at ``estimate`` tokens may start."""
        async with self._lock:
            while True:
                now = self._clock()
                wait = max(self._next_start, self._paused_until) - now
                if self._tpm:
                    while self._spent and self._spent[0][0] <= now - 60:
                        self._spent.popleft()
                    used = sum(tokens for _, tokens in self._spent)
                    if self._spent and used + estimate > self._tpm:
                        wait = max(wait, self._spent[0][0] + 60 - now)
                if wait <= 0:
                    break
                await self._sleep(wait)
            self._next_start = max(now, self._next_start) + self._interval
            if self._tpm:
                self._spent.append((now, estimate))

    def record(self, estimate: int, actual: int | None) -> None:
        """Replace a request's estimate by the tokens it really used."""
        if self._tpm and actual is not None and actual != estimate:
            self._spent.append((self._clock(), actual - estimate))

    def observe(self, limits: RateLimitInfo | None) -> None:
        """Pause new starts when the provider reports an exhausted window."""
        if limits is None:
            return
        for remaining, reset in ((limits.remaining_requests, limits.reset_requests),
                                 (limits.remaining_tokens, limits.reset_tokens)):
            if remaining is not None and remaining <= 0 and reset:
                self._paused_until = max(self._paused_until, self._clock() + reset)


def estimate_tokens(request: ChatRequest) -> int:
    """A cheap upper-ish guess of a request's tokens: ~4 characters a token, plus the
    output budget."""
    chars = sum(len(m.text) for m in request.messages)
    return chars // 4 + 1 + (request.max_tokens or 256)


def batch_window(concurrency: int, window: int | None = None) -> int:
    """The read-ahead bound of a batch: at most this many items are taken from the input and
    not yet handed out (in flight, or finished and waiting). Raises ValidationError for a
    ``concurrency`` or ``window`` that is not a positive int."""
    for name, value in (("concurrency", concurrency), ("window", window)):
        if value is None and name == "window":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(f"{name} must be at least 1, not {value!r}", field=name)
    return window if window is not None else max(2 * concurrency, concurrency + 16)


#: What the engine hands out for each item: its index in the input, and its result.
Result = tuple[int, "Response | AIError"]

_END = object()


async def stream_batch(
    items: Iterable[Any] | AsyncIterable[Any],
    send: Callable[[ChatRequest], Awaitable[Response]],
    *,
    build: Callable[[Any], ChatRequest] | None = None,
    concurrency: int,
    ordered: bool = False,
    window: int | None = None,
    pacer: Pacer | None = None,
    progress: Callable[[BatchProgress], Any] | None = None,
    on_result: Callable[[int, Response | AIError], Any] | None = None,
    cancel: threading.Event | asyncio.Event | None = None,
    total: int | None = None,
) -> AsyncGenerator[Result, None]:
    """Send every item through ``send`` and yield ``(index, result)`` as items finish
    (``ordered=True``: in input order); see the module docstring for the guarantees.

    ``items`` is read lazily, one item at a time: at most ``window`` items
    (:func:`batch_window`) are taken and not yet yielded, so a slow consumer holds the
    input back and memory does not grow with the batch. Each item is made into a request
    by ``build`` (none: the items are requests already); an item that is an AIError, or
    that ``build`` fails on, is that item's result and is never sent. Once ``cancel`` is
    set no new item is taken, and an item that was waiting for its turn is yielded as a
    BatchCancelledError. An exception raised by ``items`` itself ends the batch: the items
    already taken finish and are yielded first, then it is raised."""
    limit = batch_window(concurrency, window)
    pull = _puller(items)
    del items
    state = BatchProgress(total=total)
    slots = asyncio.Semaphore(limit)
    taking = asyncio.Lock()
    done: asyncio.Queue[Result | None] = asyncio.Queue()
    taken = 0
    exhausted = False
    source_error: BaseException | None = None

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    def finish(index: int, result: Response | AIError) -> None:
        if isinstance(result, AIError):
            state.failed += 1
            usage = result.partial.usage if result.partial is not None else None
        else:
            state.done += 1
            usage = result.usage
            if result.cost is not None:
                state.cost += result.cost
        if usage is not None:
            state.input_tokens += usage.input_tokens
            state.output_tokens += usage.output_tokens
        if on_result is not None:
            _callback("on_result", on_result, index, result)
        if progress is not None:
            _callback("progress", progress, state)

    async def attempt(request: ChatRequest) -> Response | None:
        """The reply; None when the batch was cancelled while this item waited its turn."""
        paced = pacer is not None and pacer.active
        estimate = estimate_tokens(request) if paced else 0
        if pacer is not None and paced:
            await pacer.acquire(estimate)
            if cancelled():
                return None
        response = await send(request)
        if pacer is not None:
            try:
                pacer.observe(response.rate_limit)
                if paced:
                    pacer.record(estimate, response.usage.total_tokens if response.usage
                                 else None)
            except Exception:  # pacing is advice: it never costs the item its reply
                log.debug("batch pacing failed on a reply", exc_info=True)
        return response

    async def one(index: int, item: Any) -> Response | AIError | None:
        """The item's result; None when it was cancelled before it was sent."""
        if isinstance(item, AIError):
            return item  # could not be built (prepare): never sent
        if build is not None:
            try:
                item = build(item)
            except Exception as exc:  # one item's failure is that item's result
                return item_error(exc, index=index, built=False)
        try:
            return await attempt(item)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # the batch itself is being cancelled
            # A stray CancelledError from inside the item's own work (a library's timeout):
            # the item failed, the batch goes on.
            return item_error(asyncio.CancelledError("the request was cancelled"),
                              index=index)
        except Exception as exc:  # whatever ends one item is its result
            return item_error(exc, index=index)

    async def take() -> tuple[int, Any] | None:
        """The next item and its index, once the window has room; None when there is none
        to take (the input ended, failed, or the batch was cancelled)."""
        nonlocal taken, exhausted, source_error
        async with taking:  # one at a time, so indexes follow the input's order
            if exhausted or cancelled():
                return None
            await slots.acquire()
            item: Any = _END
            try:
                if not cancelled():
                    item = await pull()
            except Exception as exc:  # the input itself failed: raised after the others
                source_error = exc
            if item is _END:
                exhausted = True
                slots.release()
                return None
            index, taken = taken, taken + 1
            return index, item

    async def worker() -> None:
        try:
            while (got := await take()) is not None:
                index, item = got
                del got
                result = await one(index, item)
                del item  # the request is let go before the result is handed out
                if result is None:
                    result = BatchCancelledError(
                        f"item {index} was not sent: the batch was cancelled")
                else:
                    finish(index, result)
                done.put_nowait((index, result))
                del result
        finally:
            done.put_nowait(None)

    # ``concurrency`` workers take the next item in turn: fewer tasks than one per item,
    # and the same bound on requests in flight.
    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    try:
        running = len(workers)
        waiting: dict[int, Response | AIError] = {}  # finished ahead of their turn
        turn = 0
        while running:
            got = await done.get()
            if got is None:
                running -= 1
                continue
            if not ordered:
                slots.release()
                yield got
                continue
            waiting[got[0]] = got[1]
            del got
            while turn in waiting:
                result = waiting.pop(turn)
                slots.release()
                yield turn, result
                turn += 1
        for task in workers:  # a worker that died of something no item caught
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if source_error is not None:
            raise source_error
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def _puller(items: Iterable[Any] | AsyncIterable[Any]) -> Callable[[], Awaitable[Any]]:
    """A function giving the next item of ``items`` (``_END`` after the last)."""
    if isinstance(items, AsyncIterable):
        ait = aiter(items)

        async def next_async() -> Any:
            return await anext(ait, _END)

        return next_async
    check_items(items)
    it = iter(items)

    async def next_sync() -> Any:
        return next(it, _END)

    return next_sync


async def collect_batch(
    items: Iterable[Any] | AsyncIterable[Any],
    send: Callable[[ChatRequest], Awaitable[Response]],
    **engine: Any,
) -> list[Response | AIError]:
    """Every result of :func:`stream_batch`, in input order, as one list.

    Once ``cancel`` is set, an input whose length is known (a list, or ``total=``) gives one
    result per item, those never taken a BatchCancelledError; any other input (an iterator,
    perhaps endless) is not read further, and the list ends at the last item taken. An
    exception raised by the input ends the batch as a :class:`BatchInputError` holding the
    finished results."""
    check_items(items)
    size = engine.get("total")
    if size is None and isinstance(items, Sized):
        size = len(items)
    failures: list[Exception] = []
    source = _guarded_async(aiter(items), failures) if isinstance(items, AsyncIterable) else (
        _guarded(iter(items), failures))
    del items
    results: list[Response | AIError | None] = []
    async for index, result in stream_batch(source, send, **engine):
        if index >= len(results):
            results.extend([None] * (index + 1 - len(results)))
        results[index] = result
    cancel = engine.get("cancel")
    if cancel is not None and cancel.is_set() and size is not None and not failures:
        results.extend([None] * (size - len(results)))  # never taken: not sent
    finished: list[Response | AIError] = [r if r is not None else BatchCancelledError(
        f"item {i} was not sent: the batch was cancelled") for i, r in enumerate(results)]
    if failures:
        error = failures[0]
        raise BatchInputError(
            f"the batch's input raised {_type_name(error)} after {len(finished)} items were "
            f"taken; their results are on this error's .results", results=finished) from error
    return finished


def _guarded(it: Iterator[T], failures: list[Exception]) -> Iterator[T]:
    """The items of ``it``; an exception it raises ends them and is kept in ``failures``."""
    try:
        yield from it
    except Exception as exc:
        failures.append(exc)


async def _guarded_async(it: AsyncIterator[T], failures: list[Exception]) -> AsyncIterator[T]:
    """The async form of :func:`_guarded`."""
    try:
        async for item in it:
            yield item
    except Exception as exc:
        failures.append(exc)


def check_items(items: Iterable[T] | AsyncIterable[T]) -> Iterable[T] | AsyncIterable[T]:
    """``items``, if it is an iterable or async iterable of items; ValidationError if not
    (a str is one prompt, not a batch)."""
    if isinstance(items, AsyncIterable):
        return items
    if not isinstance(items, Iterable) or isinstance(items, str | bytes):
        raise ValidationError(f"a batch takes a list, an iterable or an async iterable of "
                              f"prompts, not {type(items).__name__}", field="items")
    return items


async def run_batch(
    requests: Sequence[ChatRequest | AIError],
    send: Callable[[ChatRequest], Awaitable[Response]],
    *,
    concurrency: int,
    pacer: Pacer | None = None,
    progress: Callable[[BatchProgress], Any] | None = None,
    on_result: Callable[[int, Response | AIError], Any] | None = None,
    cancel: threading.Event | asyncio.Event | None = None,
) -> list[Response | AIError]:
    """Send every request of a list through ``send``; results in input order. The
    list form of :func:`stream_batch`.

    An entry of ``requests`` that is already an AIError (an item :func:`prepare` could not
    build) is that item's result: it is not sent, and reported like any other result.
    A request is let go once sent, so a large batch does not hold every request until its
    end (when the caller keeps no reference to ``requests`` either)."""
    batch_window(concurrency)
    pending: list[ChatRequest | AIError | None] = list(requests)
    del requests
    return await collect_batch(_handed_out(pending), send, concurrency=concurrency,
                               pacer=pacer, progress=progress, on_result=on_result,
                               cancel=cancel, total=len(pending))


def _handed_out(pending: list[T | None]) -> Iterator[T]:
    """The entries of ``pending`` in order, each cleared from the list as it is taken."""
    for index in range(len(pending)):
        entry, pending[index] = pending[index], None
        yield entry  # type: ignore[misc]  # every entry is set until taken


def _callback(name: str, function: Callable[..., Any], *args: Any) -> None:
    """Call a caller's callback; an exception from it is logged, never raised into the
    batch (it would cost every other item its result)."""
    try:
        function(*args)
    except Exception:
        log.error("the batch's %s callback %r raised; the batch goes on", name, function,
                  exc_info=True)
