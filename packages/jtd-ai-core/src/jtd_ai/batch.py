"""The batch engine: many requests on one pooled client, in order, nothing lost.

Bounded concurrency (asyncio), results in input order, each item a Response or the typed
error that ended it. Client-side pacing keeps a large batch under the provider's limits
before it answers 429: ``requests_per_minute`` and ``tokens_per_minute`` from the provider
config, and the provider's own rate-limit headers (remaining = 0 pauses new starts until the
reset). Retry-After is honoured by the core's retry loop. A progress callback sees done,
failed, tokens and cost so far; cancelling returns what finished, marking the rest.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from attrs import define, field

from jtd_ai.errors import AIError, BatchCancelledError, ValidationError

if TYPE_CHECKING:
    from jtd_ai.request import ChatRequest
    from jtd_ai.responses import RateLimitInfo, Response

__all__ = ["BatchProgress", "Pacer", "run_batch"]



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
    requests: Sequence[ChatRequest],
    send: Callable[[ChatRequest], Awaitable[Response]],
    *,
    concurrency: int,
    pacer: Pacer | None = None,
    progress: Callable[[BatchProgress], Any] | None = None,
    on_result: Callable[[int, Response | AIError], Any] | None = None,
    cancel: threading.Event | asyncio.Event | None = None,
) -> list[Response | AIError]:
    """Send every request through ``send``; see the module docstring for the guarantees.

    A request is let go once sent, so a large batch does not hold every request until its
    end (when the caller keeps no reference to ``requests`` either)."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError(f"concurrency must be at least 1, not {concurrency!r}",
                              field="concurrency")
    pending: list[ChatRequest | None] = list(requests)
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
            on_result(index, result)
        if progress is not None:
            progress(state)

    async def one(index: int, request: ChatRequest) -> None:
        paced = pacer is not None and pacer.active
        estimate = estimate_tokens(request) if paced else 0
        if pacer is not None and paced:
            await pacer.acquire(estimate)
            if cancelled():
                return
        try:
            response = await send(request)
        except AIError as error:
            finish(index, error)
            return
        if pacer is not None:
            pacer.observe(response.rate_limit)
            if paced:
                pacer.record(estimate, response.usage.total_tokens if response.usage else None)
        finish(index, response)

    # ``concurrency`` workers take the next item in turn: fewer tasks than one per item
    # behind a semaphore, and the same bound on requests in flight.
    queue = iter(range(count))

    async def worker() -> None:
        for index in queue:
            if cancelled():
                return
            request, pending[index] = pending[index], None
            assert request is not None
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
