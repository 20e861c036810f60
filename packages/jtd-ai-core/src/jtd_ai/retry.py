"""When to try again, and how long to wait: the policy the core's stamina loops follow.

Retried: errors whose ``retryable`` is true (408, 409, 429, 5xx, connection failures and
timeouts). Never retried: 400, 401, 403, 404, 422, quota-exhausted 429s, malformed input.
The wait is exponential backoff with full jitter (a random wait between zero and
``retry_delay * 2**n``), capped by ``retry_max_delay``; a ``Retry-After`` from the provider
replaces it (also capped). No attempt starts after the whole-call deadline, and no wait is
begun that would end past it.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING

from attrs import define, field

from jtd_ai.errors import AIError, ProviderError

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig

__all__ = ["RetryPolicy", "RetryState"]

log = logging.getLogger("jtd_ai.retry")


@define(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 60.0
    deadline: float = 300.0

    @classmethod
    def from_config(cls, config: ProviderConfig, deadline: float | None = None) -> RetryPolicy:
        return cls(
            attempts=config.retry_attempts,
            base_delay=config.retry_delay / 1000,
            max_delay=config.retry_max_delay,
            deadline=deadline if deadline is not None else config.deadline,
        )

    def start(self, provider: str, what: str) -> RetryState:
        return RetryState(self, provider, what)


@define
class RetryState:
    """The state of one call's retry loop; :meth:`backoff` is stamina's ``on`` hook."""

    policy: RetryPolicy
    provider: str
    what: str
    started: float = field(factory=time.monotonic)
    failures: int = 0
    #: The waits chosen so far, in seconds (what the log lines report).
    waits: list[float] = field(factory=list)

    @property
    def ends_at(self) -> float:
        """``time.monotonic()`` at the deadline."""
        return self.started + self.policy.deadline

    @property
    def remaining(self) -> float:
        return self.policy.deadline - (time.monotonic() - self.started)

    def backoff(self, exc: Exception) -> bool | float:
        """False to give up on ``exc``; else the seconds to wait before the next attempt."""
        self.failures += 1
        if not isinstance(exc, ProviderError) or not exc.retryable:
            return False
        if self.failures >= self.policy.attempts:
            return False
        if exc.retry_after is not None:
            wait = min(exc.retry_after, self.policy.max_delay)
        else:
            ceiling = min(self.policy.max_delay, self.policy.base_delay * 2 ** (self.failures - 1))
            wait = random.uniform(0, ceiling)
        if wait >= self.remaining:
            log.warning(
                "%s %s: not retrying after %s: waiting %.2fs would pass the deadline",
                self.provider, self.what, _short(exc), wait,
            )
            return False
        self.waits.append(wait)
        log.warning(
            "%s %s: attempt %d of %d failed (%s); retrying in %.2fs",
            self.provider, self.what, self.failures, self.policy.attempts, _short(exc), wait,
            extra={"jtd_ai": {"provider": self.provider, "attempt": self.failures,
                              "wait": wait, "status": getattr(exc, "status", None)}},
        )
        return wait


def _short(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, AIError) else f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:200] + "..."
