"""Ctrl-C during a batch: the first stops new sends and lets those in flight finish, the
second cancels them. Both go through the event loop, so no line is ever written half."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["graceful_sigint"]


@contextlib.contextmanager
def graceful_sigint(cancel: threading.Event, notice: Callable[[str], Any]) -> Iterator[None]:
    """Inside a running loop: SIGINT sets ``cancel``, a second SIGINT cancels this task."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if threading.current_thread() is not threading.main_thread() or task is None:
        yield  # signals reach only the main thread; elsewhere Ctrl-C is the caller's
        return

    def stop_sending() -> None:
        notice("stopping: no new requests; waiting for those in flight (Ctrl-C again to "
               "abandon them)")

    def on_sigint(signum: int, frame: Any) -> None:
        if not cancel.is_set():
            cancel.set()
            loop.call_soon_threadsafe(stop_sending)
        else:
            loop.call_soon_threadsafe(task.cancel)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
