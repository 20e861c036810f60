"""Keeping forked children from inheriting locks held by the parent's other threads.

Only the forking thread lives on in a child of ``os.fork()``; a lock another thread held at
that instant stays held there for good, and the child's first use of it hangs. Two remedies,
both here so every module applies them the same way:

- Python locks in an object's state are made anew in the child: :func:`renew_after_fork`
  (what a dead thread was doing under the lock is then the child's to do again).
- Locks that cannot be made anew are never held at a fork: work that takes them passes
  :func:`held`, and ``os.fork()`` waits until no thread is inside (up to ``FORK_WAIT``
  seconds), letting none in until it has forked. That covers OpenSSL's process-wide locks
  (taken while a TLS context is built and its CA certificates load), an import under way
  (its module lock) and the class-wide lock of a ``functools.cached_property`` on Python
  3.11 (``EntryPoint.load()`` takes one). The store has a gate of its own, another
  :class:`ForkGate`, for SQLite's mutexes (:mod:`jtd_ai.store`).

Nothing inside the gate waits for another gate (the store's), so a fork never waits on a
thread that waits for it. Other threads' TLS traffic is not gated: a handshake under way in
another thread when the fork comes may still leave an OpenSSL lock held in the child (fork
before starting threads that talk TLS, as with any threaded program).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["FORK_WAIT", "ForkGate", "held", "renew_after_fork"]

#: Seconds a fork waits for the threads inside the gate to come out before it goes ahead.
FORK_WAIT = 10.0

T = TypeVar("T")


class ForkGate:
    """Counts the threads inside; a fork waits for none to be. Re-entrant per thread;
    threads inside at once do not wait for each other."""

    def __init__(self) -> None:
        # Re-entrant: a signal handler may run in a thread interrupted while holding it.
        self._cond = threading.Condition(threading.RLock())
        self._inside = 0
        self._forking = 0
        self._depth = threading.local()

    def enter(self) -> None:
        local = self._depth
        depth: int = getattr(local, "n", 0)
        if depth == 0:
            with self._cond:
                while self._forking:
                    self._cond.wait()
                self._inside += 1
        local.n = depth + 1

    def leave(self) -> None:
        local = self._depth
        depth: int = local.n - 1
        local.n = depth
        if depth == 0:
            with self._cond:
                self._inside -= 1
                if self._forking:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def before_fork(self) -> None:
        mine = 1 if getattr(self._depth, "n", 0) else 0  # forking from inside: not waited on
        with self._cond:
            self._forking += 1
            self._cond.wait_for(lambda: self._inside <= mine, FORK_WAIT)

    def after_fork_in_parent(self) -> None:
        with self._cond:
            self._forking -= 1
            self._cond.notify_all()

    def after_fork_in_child(self) -> None:
        # Only the forking thread lives on; the lock may have been held by one that did not.
        self._cond = threading.Condition(threading.RLock())
        self._inside = 1 if getattr(self._depth, "n", 0) else 0
        self._forking = 0

    def register(self) -> ForkGate:
        """Have ``os.fork()`` wait on this gate (POSIX; once, at import of its module)."""
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(before=self.before_fork,
                                after_in_parent=self.after_fork_in_parent,
                                after_in_child=self.after_fork_in_child)
        return self


_GATE = ForkGate().register()


def held() -> contextlib.AbstractContextManager[None]:
    """Inside, no fork happens (a fork waits for the block to end)."""
    return _GATE.held()


#: Objects whose locks a forked child makes anew: id -> (weak reference, reset).
_RENEW: dict[int, tuple[weakref.ref[Any], Callable[[Any], None]]] = {}


def renew_after_fork(obj: T, reset: Callable[[T], None]) -> T:
    """Call ``reset(obj)`` in each process forked while ``obj`` lives (it makes the locks of
    ``obj`` anew); returns ``obj``."""
    key = id(obj)

    def gone(ref: weakref.ref[Any], key: int = key) -> None:
        entry = _RENEW.get(key)
        if entry is not None and entry[0] is ref:  # not a newer object given the same id
            del _RENEW[key]

    _RENEW[key] = (weakref.ref(obj, gone), reset)
    return obj


def _after_fork_in_child() -> None:
    for ref, reset in list(_RENEW.values()):
        obj = ref()
        if obj is not None:
            reset(obj)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
