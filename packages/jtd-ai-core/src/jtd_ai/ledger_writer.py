"""Ledger rows written off the call path: queued, then committed in batches by one thread.

A call only appends its row to a queue (microseconds); a daemon thread writes whatever has
queued in one transaction, at most every ``LINGER`` seconds (sooner once ``BATCH`` rows
wait), so a busy process commits a few times a second instead of once per call and the
writer seldom competes with the calls for the interpreter. Reads of the ledger (totals,
budgets) flush first, so they see every row this process queued.

That is in the process that imported jtd-ai. A process forked from it (``os.fork()``, the
workers of ``multiprocessing`` and of pre-fork servers) and any ``multiprocessing`` child
(spawn, forkserver) writes each row itself before the call returns: such processes are often
ended without notice (``Pool`` ends its workers with SIGTERM, they leave through
``os._exit``, skipping ``atexit``), and then no row of a call that returned is lost. In a
forked child the writer starts afresh (empty queue, new locks, no thread): the rows the
parent had queued are the parent's to write, never written twice.

On a PostgreSQL store a batch that meets a lost connection (a restarted server, a failover)
is tried again on a new one for several seconds (:meth:`PostgresStore.insert
<jtd_ai.store_postgres.PostgresStore.insert>`) before its rows are counted as lost; the
queue keeps filling meanwhile and is written in the next batches. The writer thread waits
up to ``max(2, busy_timeout)`` seconds for a new connection, where a call waits only
``[store] connect_timeout``.

When queued rows are written, at the latest (each a row of a call that had ended before):

- ``flush()``, ``close()``, a read of the ledger, ``AI.close()``: every row queued before.
- Interpreter exit (``atexit``): every queued row, waiting up to ``EXIT_TIMEOUT`` seconds
  for the database.
- SIGTERM: if SIGTERM still had its default action when the process queued a row from its
  main thread, a handler is installed then. It writes every queued row (up to
  ``SIGTERM_TIMEOUT`` seconds), restores the default action and sends SIGTERM to the process
  again, so it ends as it would have (killed by SIGTERM: exit status -15, or 143 in a shell).
  An application with its own handler (or ignoring SIGTERM) keeps it: call ``AI.close()``
  in it, or raise ``SystemExit`` there, which leaves through ``atexit``. Like any Python
  handler it runs when the main thread next runs Python code: a main thread in a long native
  call, or one that began an untimed wait at the very instant the signal came (CPython runs
  handlers only once such a wait ends), ends later than SIGTERM's default would have.
  ``HANDLE_SIGTERM = False`` (set before the first call) leaves SIGTERM alone. The handler
  is removed in forked children, which need none.

Not covered: SIGKILL, ``os._exit``, a crash of the interpreter or power loss lose the rows of
the last ``LINGER`` seconds of the importing process (``[store] background_writes = false``
writes each row before the call returns there too). Calls still in flight when a process is
stopped (in other threads, or in the main thread at SIGTERM) get no row. Rows that could not
be written in time at exit or SIGTERM are counted as lost and logged.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jtd_ai.ledger import Ledger

__all__ = ["BATCH", "EXIT_TIMEOUT", "HANDLE_SIGTERM", "LINGER", "SIGTERM_TIMEOUT",
           "LedgerWriter", "flush_all"]

_WRITERS: weakref.WeakSet[LedgerWriter] = weakref.WeakSet()

#: Seconds rows may wait to share a transaction, and the count that ends the wait early.
LINGER = 0.05
BATCH = 1000
#: Seconds the queued rows may take to be written at interpreter exit, and on SIGTERM.
EXIT_TIMEOUT = 10.0
SIGTERM_TIMEOUT = 5.0
#: Whether to install the SIGTERM handler described above (where SIGTERM has its default).
HANDLE_SIGTERM = True


class LedgerWriter:
    """One background thread writing queued rows; safe to use from any thread.

    ``on_lost(exc, rows)`` hears of rows that could not be written (``exc`` None: the store
    is unusable, already reported), ``on_written(rows)`` of rows written."""

    def __init__(self, ledger: Callable[[], Ledger | None],
                 on_lost: Callable[[BaseException | None, int], None] | None = None,
                 on_written: Callable[[int], None] | None = None) -> None:
        self._ledger = ledger
        self._on_lost = on_lost
        self._on_written = on_written
        self._reset()
        _WRITERS.add(self)

    def _reset(self) -> None:
        """A new, idle writer (at creation, and in a forked child)."""
        self._cond = threading.Condition()
        self._queue: list[tuple[Any, ...]] = []  # rows made by ledger.usage_row
        self._taken = 0  # rows taken off the queue so far (the next row's number)
        self._inflight: dict[int, int] = {}  # batches being written: first row -> rows
        self._given_up = 0  # rows before this one were counted as lost (exit, SIGTERM)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._urgent = False  # a flush is waiting: write without lingering
        self._through: bool | None = None  # each row written by put() (decided on the first)

    # -- queueing ----------------------------------------------------------------------------

    def put(self, record: tuple[Any, ...]) -> None:
        """Queue a row; the writer thread commits it shortly (in a forked or multiprocessing
        child: written before put returns). Never raises."""
        with self._cond:
            queue = self._queue
            queue.append(record)
            if self._through is None:
                self._through = _writes_through()
            queued = not self._through and (self._thread is not None or self._start())
            if queued and (len(queue) == 1 or len(queue) >= BATCH):
                self._cond.notify()  # the writer waits for these two
        if not queued:  # written here: a child process, or no thread can start (exit)
            self._drain()
        elif _sigterm_pid != self._pid:
            _arm_sigterm()

    def _start(self) -> bool:
        """Start a writer thread (called holding the lock); False if none can start."""
        thread = threading.Thread(target=self._run, name="jtd-ai-ledger", daemon=True)
        self._thread = thread
        try:
            thread.start()
        except RuntimeError:
            self._thread = None
            return False
        return True

    def _take(self) -> tuple[list[tuple[Any, ...]], int]:
        """The queued rows and the number of the first (called holding the lock)."""
        batch, self._queue = self._queue, []
        first = self._taken
        self._taken += len(batch)
        self._inflight[first] = len(batch)
        return batch, first

    def _write(self, batch: list[tuple[Any, ...]], first: int) -> None:
        lost: BaseException | None = None
        written = False
        try:
            ledger = self._ledger()
            if ledger is not None:
                ledger.record_rows(batch)
                written = True
        except Exception as exc:
            lost = exc
        finally:
            # Reported before the batch counts as done, so a flush sees its report; marked
            # empty first, so a give_up() meanwhile does not count it again.
            with self._cond:
                counted = first < self._given_up  # already counted as lost
                self._inflight[first] = 0
            try:
                if not counted:
                    self._report(written, lost, len(batch))
            finally:
                with self._cond:
                    del self._inflight[first]
                    self._cond.notify_all()

    def _report(self, written: bool, lost: BaseException | None, rows: int) -> None:
        try:
            if written:
                if self._on_written is not None:
                    self._on_written(rows)
            elif self._on_lost is not None:
                self._on_lost(lost, rows)
        except Exception:  # noqa: S110 - a failing report must not stop the writer
            pass

    def _drain(self) -> None:
        """Write what is queued in the calling thread (given the writer's patience with a
        database server: a row written before the call returns is meant not to be lost)."""
        from jtd_ai.store import patient

        with self._cond:
            if not self._queue:
                return
            batch, first = self._take()
        with patient():
            self._write(batch, first)

    def _run(self) -> None:
        from jtd_ai.store import patient

        with patient():  # off the call path: a database server may take its time to answer
            self._loop()

    def _loop(self) -> None:
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
                batch, first = self._take()
                self._urgent = False
            self._write(batch, first)

    # -- flushing ----------------------------------------------------------------------------

    def pending(self) -> int:
        """Rows queued or being written."""
        with self._cond:
            return len(self._queue) + sum(self._inflight.values())

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every row queued so far is written (or failed and reported); False
        on timeout. With no writer thread to wait for, the rows are written here."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._taken + len(self._queue)

            def done() -> bool:
                return self._taken >= target and all(
                    first >= target for first in self._inflight)

            if done():
                return True
            thread = self._thread
            if thread is not None and thread.is_alive() and thread is not \
                    threading.current_thread():
                self._urgent = True
                self._cond.notify_all()
                return self._cond.wait_for(done, timeout)
        self._drain()
        with self._cond:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            return self._cond.wait_for(done, left)

    def give_up(self, why: str) -> int:
        """Count every row not yet written as lost (reported through ``on_lost``); the
        queue is emptied. Returns how many."""
        with self._cond:
            queued, self._queue = self._queue, []
            self._taken += len(queued)
            lost = len(queued) + sum(
                n for first, n in self._inflight.items() if first >= self._given_up)
            self._given_up = self._taken
            self._cond.notify_all()
        if lost and self._on_lost is not None:
            self._on_lost(RuntimeError(why), lost)
        return lost

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush, then stop the thread (a later ``put`` starts a new one; rows queued while
        closing are still written by the old thread before it stops)."""
        self.flush(timeout)
        with self._cond:
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


def flush_all(timeout: float, *, when: str, close: bool = False) -> bool:
    """Write the queued rows of every writer of this process, within ``timeout`` seconds
    in all; rows still waiting then are counted as lost (``when`` says at what moment).
    True if every row was written."""
    deadline = time.monotonic() + timeout
    complete = True
    for writer in list(_WRITERS):
        left = max(0.0, deadline - time.monotonic())
        if close:
            writer.close(left)
        else:
            writer.flush(left)
        if writer.pending():
            complete = False
            writer.give_up(f"not written within {timeout:g}s of {when}: the database did "
                           f"not take them in time")
    return complete


# -- process lifecycle: exit, SIGTERM, fork -----------------------------------------------------

#: The process that imported jtd-ai: the only one whose rows wait in a queue.
_ORIGIN = os.getpid()


def _writes_through() -> bool:
    """Whether this process writes each row before the call returns: a process forked from
    the one that imported jtd-ai, or any multiprocessing child."""
    if os.getpid() != _ORIGIN:
        return True
    mp = sys.modules.get("multiprocessing")  # never imported just to be asked
    try:
        return mp is not None and mp.parent_process() is not None
    except Exception:
        return False


@atexit.register
def _flush_at_exit() -> None:
    flush_all(EXIT_TIMEOUT, when="interpreter exit", close=True)


_sigterm_pid = 0  # the process that settled whether to handle SIGTERM


def _arm_sigterm() -> None:
    """Install the SIGTERM handler if SIGTERM has its default action, once per process,
    from the main thread (the only one that may); other threads leave it to a later row."""
    global _sigterm_pid
    if threading.current_thread() is not threading.main_thread():
        return
    _sigterm_pid = os.getpid()
    if not HANDLE_SIGTERM:
        return
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # not the main interpreter; no SIGTERM
        pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Write the queued rows, then end as SIGTERM's default action would have."""
    try:
        flush_all(SIGTERM_TIMEOUT, when="SIGTERM")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        os._exit(128 + signal.SIGTERM)  # only if the signal could not end us (blocked)


def _after_fork_in_child() -> None:
    global _sigterm_pid
    for writer in list(_WRITERS):
        writer._reset()
    # A child writes its rows as it goes and needs no handler; ours was installed over the
    # default action, which the child gets back (a worker ended by SIGTERM while it enters a
    # wait would otherwise never run the handler, and never end).
    _sigterm_pid = 0
    with contextlib.suppress(ValueError, OSError, AttributeError):
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
