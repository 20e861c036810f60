"""Ledger rows written off the call path: queued, then committed in batches by one thread.

A call only appends its row to a queue (microseconds); a daemon thread writes whatever has
queued in one transaction, at most every ``LINGER`` seconds (sooner once ``BATCH`` rows
wait), so a busy process commits a few times a second instead of once per call and the
writer seldom competes with the calls for the interpreter. Reads of the ledger (totals,
budgets) flush first, so they see every row this process queued; ``close()`` and
interpreter exit flush too. A process killed outright (SIGKILL, power loss) can lose the
rows of its last ``LINGER`` seconds: set ``[store] background_writes = false`` to write
each row before the call returns.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jtd_ai.ledger import Ledger

__all__ = ["LedgerWriter"]

_WRITERS: weakref.WeakSet[LedgerWriter] = weakref.WeakSet()

#: Seconds rows may wait to share a transaction, and the count that ends the wait early.
LINGER = 0.05
BATCH = 1000


@atexit.register
def _flush_all() -> None:
    for writer in list(_WRITERS):
        writer.close(timeout=10.0)


class LedgerWriter:
    """One background thread writing queued rows; safe to use from any thread."""

    def __init__(self, ledger: Callable[[], Ledger | None],
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self._ledger = ledger
        self._on_error = on_error
        self._cond = threading.Condition()
        self._queue: list[tuple[Any, ...]] = []  # rows made by ledger.usage_row
        self._pending = 0  # queued or being written
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._urgent = False  # a flush is waiting: write without lingering
        _WRITERS.add(self)

    def put(self, record: tuple[Any, ...]) -> None:
        """Queue a row; the writer thread commits it shortly."""
        with self._cond:
            if self._pid != os.getpid():  # a forked child: the parent's thread is not here
                self._pid, self._thread, self._queue, self._pending = os.getpid(), None, [], 0
            queue = self._queue
            queue.append(record)
            self._pending += 1
            if self._thread is None:  # not started yet, or closed: a new writer
                self._thread = threading.Thread(target=self._run, name="jtd-ai-ledger",
                                                daemon=True)
                self._thread.start()
            if len(queue) == 1 or len(queue) >= BATCH:  # the writer waits for these two
                self._cond.notify()

    def _run(self) -> None:
        me = threading.current_thread()

        def stop_lingering() -> bool:
            return self._thread is not me or self._urgent or len(self._queue) >= BATCH

        while True:
            with self._cond:
                while not self._queue and self._thread is me:
                    self._cond.wait()
                if self._thread is not None and self._thread is not me:
                    return  # a newer writer took over (after a close): it writes the queue
                if self._thread is me and not self._urgent:
                    self._cond.wait_for(stop_lingering, LINGER)
                if not self._queue:
                    return  # closed, and nothing left to write
                batch, self._queue = self._queue, []
                self._urgent = False
            try:
                ledger = self._ledger()
                if ledger is not None:
                    ledger.record_rows(batch)
            except Exception as exc:
                if self._on_error is not None:
                    self._on_error(exc)
            finally:
                with self._cond:
                    self._pending -= len(batch)
                    self._cond.notify_all()

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every queued row is written (or failed and reported); False on
        timeout."""
        with self._cond:
            if self._pid != os.getpid():
                return True
            if self._pending:
                self._urgent = True
                self._cond.notify_all()
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush, then stop the thread (a later ``put`` starts a new one; rows queued while
        closing are still written by the old thread before it stops)."""
        self.flush(timeout)
        with self._cond:
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
