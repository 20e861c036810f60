"""The batch engine: many requests on one pooled client, in order, nothing lost.

Bounded concurrency (asyncio), results in input order, each item a Response or the typed
error that ended it. Client-side pacing keeps a large batch under the provider's limits
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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define, field

from jtd_ai.errors import AIError, BatchCancelledError, UnexpectedError, ValidationError

if TYPE_CHECKING:
    from jtd_ai.request import ChatRequest
    from jtd_ai.responses import RateLimitInfo, Response

__all__ = ["BatchProgress", "Pacer", "UnexpectedError", "item_error", "prepare", "run_batch"]

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
    cannot be built is its error instead (:func:`item_error`), and the others go on."""
    prepared: list[ChatRequest | AIError] = []
    for index, item in enumerate(items):
        try:
            prepared.append(build(item))
        except Exception as exc:  # one item's failure is that item's result
            prepared.append(item_error(exc, index=index, built=False))
    return prepared


@define
class BatchProgress:
    """Where a batch stands; handed to the progress callback after every item."""

    total: int
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
    """Send every request through ``send``; see the module docstring for the guarantees.

    An entry of ``requests`` that is already an AIError (an item :func:`prepare` could not
    build) is that item's result: it is not sent, and reported like any other result.
    A request is let go once sent, so a large batch does not hold every request until its
    end (when the caller keeps no reference to ``requests`` either)."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError(f"concurrency must be at least 1, not {concurrency!r}",
                              field="concurrency")
    pending: list[ChatRequest | AIError | None] = list(requests)
    del requests
    count = len(pending)
    results: list[Response | AIError | None] = [None] * count
    state = BatchProgress(total=count)

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    def finish(index: int, result: Response | AIError) -> None:
        results[index] = result
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

    async def one(index: int, request: ChatRequest) -> None:
        result: Response | AIError | None
        try:
            result = await attempt(request)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # the batch itself is being cancelled
            # A stray CancelledError from inside the item's own work (a library's timeout):
            # the item failed, the batch goes on.
            result = item_error(asyncio.CancelledError("the request was cancelled"),
                                index=index)
        except Exception as exc:  # whatever ends one item is its result
            result = item_error(exc, index=index)
        if result is not None:
            finish(index, result)

    # ``concurrency`` workers take the next item in turn: fewer tasks than one per item
    # behind a semaphore, and the same bound on requests in flight.
    queue = iter(range(count))

    async def worker() -> None:
        for index in queue:
            if cancelled():
                return
            request, pending[index] = pending[index], None
            assert request is not None
            if isinstance(request, AIError):
                finish(index, request)  # could not be built: never sent
                continue
            await one(index, request)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, count))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return [r if r is not None else BatchCancelledError(
        f"item {i} was not sent: the batch was cancelled") for i, r in enumerate(results)]


def _callback(name: str, function: Callable[..., Any], *args: Any) -> None:
    """Call a caller's callback; an exception from it is logged, never raised into the
    batch (it would cost every other item its result)."""
    try:
        function(*args)
    except Exception:
        log.error("the batch's %s callback %r raised; the batch goes on", name, function,
                  exc_info=True)
