"""When to try again, and how long to wait: the policy the core's stamina loops follow.

Retried: errors whose ``retryable`` is true (408, 409, 429, 5xx, connection failures and
timeouts). Never retried: 400, 401, 403, 404, 422, quota-exhausted 429s, malformed input.
The wait is exponential backoff with full jitter (a random wait between zero and
``retry_delay * 2**n``), capped by ``retry_max_delay``; a ``Retry-After`` from the provider
replaces it (also capped). No attempt starts after the whole-call deadline, and no wait is
begun that would end past it.

Each retry is logged once, at WARNING on the ``jtd_ai.retry`` logger, with the provider,
the attempt, the wait and the error's type (the error's text is masked like every error
text). The ``jtd_ai`` logger has a ``NullHandler``, so nothing is printed unless the
application configured logging. stamina would log the same retry again on its own
``stamina`` logger (where Python's last-resort handler prints it on stderr when nothing is
configured): its logging hooks are told to skip the retries logged here, and only those.
Every other hook (Prometheus, the application's own) and the application's own stamina
retries are left as they are.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import TYPE_CHECKING, Any

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
        if not wait >= 0:  # a negative or NaN wait (a bad setting) is no wait, not a crash
            wait = 0.0
        if wait >= self.remaining:
            log.warning(
                "%s %s: not retrying after %s: waiting %.2fs would pass the deadline",
                self.provider, self.what, _short(exc), wait,
            )
            return False
        self.waits.append(wait)
        kind = type(exc).__name__
        log.warning(
            "%s %s: attempt %d of %d failed (%s: %s); retrying in %.2fs",
            self.provider, self.what, self.failures, self.policy.attempts, kind, _short(exc),
            wait,
            extra={"jtd_ai": {"provider": self.provider, "operation": self.what,
                              "attempt": self.failures, "attempts": self.policy.attempts,
                              "wait": wait, "error": kind,
                              "status": getattr(exc, "status", None)}},
        )
        _logged_here(exc)
        return wait


def _short(exc: BaseException) -> str:
    from jtd_ai.secret import redact

    text = str(exc) if isinstance(exc, AIError) else redact(f"{type(exc).__name__}: {exc}")
    return text if len(text) <= 200 else text[:200] + "..."


# -- keeping stamina's own retry log quiet for the retries logged above --------------------

#: Set on an exception whose retry :meth:`RetryState.backoff` logged.
_MARK = "_jtd_ai_retry_logged"


def _logged_here(exc: BaseException) -> None:
    """Mark ``exc`` as logged, and make sure stamina's logging hooks skip marked errors."""
    try:
        setattr(exc, _MARK, True)
    except (AttributeError, TypeError):  # pragma: no cover - exceptions take attributes
        return
    quiet_stamina_logging()


def is_stamina_logging_hook(hook: object) -> bool:
    """Whether ``hook`` is one of stamina's own retry loggers (stdlib logging or structlog),
    as :func:`stamina.instrumentation.get_on_retry_hooks` returns them once initialised."""
    module = getattr(hook, "__module__", None) or ""
    name = getattr(hook, "__qualname__", None) or ""
    return module.startswith("stamina.") and (
        module.endswith(("._logging", "._structlog")) or name.endswith("log_retries"))


class _SkipLoggedRetries:
    """A stamina logging hook that stays silent about retries jtd-ai logged itself."""

    def __init__(self, hook: Any) -> None:
        self.hook = hook

    def __call__(self, details: Any) -> Any:
        if getattr(details.caused_by, _MARK, False):
            return None
        return self.hook(details)

    def __repr__(self) -> str:
        return f"<jtd_ai: {self.hook!r}, silent for jtd-ai's own logged retries>"


_quiet_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _quiet_lock
    _quiet_lock = threading.Lock()  # a thread of the parent may have held it


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def quiet_stamina_logging() -> None:
    """Wrap stamina's logging hooks (once, and again if the application set new hooks) so
    they skip the retries :class:`RetryState` logged. Called on each retry scheduled."""
    try:
        from stamina.instrumentation import get_on_retry_hooks, set_on_retry_hooks
    except ImportError:  # pragma: no cover - stamina is a dependency
        return
    with _quiet_lock:
        hooks = get_on_retry_hooks()
        if not any(is_stamina_logging_hook(hook) for hook in hooks):
            return  # none, or already wrapped
        set_on_retry_hooks(tuple(_SkipLoggedRetries(hook) if is_stamina_logging_hook(hook)
                                 else hook for hook in hooks))
