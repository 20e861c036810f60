"""Reading an async iterator from sync code, even inside a running event loop.

The iterator runs on a helper thread with its own event loop, which keeps working between
two ``next()`` calls (a batch keeps sending while the caller handles a result). Each
``next()`` waits for one item; nothing is buffered beyond what the async iterator itself
holds, so its memory bound is kept.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["SyncIterator"]

T = TypeVar("T")


class SyncIterator(Generic[T]):
    """``for x in SyncIterator(agen)``: the items of ``agen``, read from sync code.

    Close it (``close()``, or ``with``) to stop early: the async iterator is closed on its
    loop, then ``cleanup`` (closing connections opened on that loop) runs there too."""

    def __init__(self, source: AsyncIterator[T], *,
                 cleanup: Callable[[], Awaitable[Any]] | None = None,
                 name: str = "jtd-ai-sync-iterator") -> None:
        self._source = source
        self._cleanup = cleanup
        self._loop = asyncio.new_event_loop()
        self._pending: concurrent.futures.Future[T] | None = None
        self._closed = False
        # The thread holds the loop, not this object: one dropped unclosed is collected,
        # and its ``__del__`` stops the loop.
        self._thread = threading.Thread(target=_run, args=(self._loop,), name=name,
                                        daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._closed:
            raise StopIteration
        self._pending = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
        try:
            item = self._pending.result()
        except StopAsyncIteration:
            self.close()
            raise StopIteration from None
        except BaseException:
            self.close()
            raise
        self._pending = None
        return item

    async def _next(self) -> T:
        return await anext(self._source)

    async def _shutdown(self) -> None:
        try:
            await self._source.aclose()  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):
            pass  # not a generator, or already finished by the cancelled step
        finally:
            if self._cleanup is not None:
                await self._cleanup()

    def close(self) -> None:
        """Stop the async iterator (what it has in flight is cancelled) and the thread."""
        if self._closed:
            return
        self._closed = True
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()  # an interrupted next(): cancelled on the loop before closing
        done = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        if threading.current_thread() is not self._thread:
            with contextlib.suppress(BaseException):
                done.result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> SyncIterator[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self._closed = True
                self._loop.call_soon_threadsafe(self._loop.stop)


def _run(loop: asyncio.AbstractEventLoop) -> None:
    """The helper thread: the loop runs until stopped, then closes what is left on it."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
