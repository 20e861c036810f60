"""One resource per event loop (a connection pool, an httpx client), closed with its loop.

Connections belong to the loop that opened them. A script may call ``asyncio.run`` again
and again, so each loop gets its own resource, and it is closed when that loop shuts down:
``asyncio.run`` closes async generators before it closes the loop, and a generator parked
per resource does the closing. A loop closed without that step (``loop.close()`` alone)
has its resource dropped, synchronously, the next time a resource is made.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

__all__ = ["PerLoop"]

T = TypeVar("T")


class PerLoop(Generic[T]):
    """``make()`` once per running loop; ``close(resource)`` when the loop shuts down, or
    ``drop(resource)`` when the loop was closed without shutting down."""

    def __init__(self, make: Callable[[], T], close: Callable[[T], Awaitable[None]],
                 drop: Callable[[T], None]) -> None:
        self._make = make
        self._close = close
        self._drop = drop
        self._items: dict[asyncio.AbstractEventLoop, T] = {}
        self._guards: dict[asyncio.AbstractEventLoop, AsyncIterator[None]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    async def get(self) -> T:
        """The running loop's resource, made on first use."""
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is None:
            item = await self._new(loop)
        return item

    async def _new(self, loop: asyncio.AbstractEventLoop) -> T:
        self._forget_closed_loops()
        item = self._make()
        guard = self._guard(loop, item)
        await guard.__anext__()  # parked until the loop shuts its async generators down
        with self._lock:
            self._items[loop] = item
            self._guards[loop] = guard
        return item

    async def _guard(self, loop: asyncio.AbstractEventLoop, item: T) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with self._lock:
                if self._items.get(loop) is item:  # not a newer resource of this loop
                    self._items.pop(loop, None)
                    self._guards.pop(loop, None)
            await self._close(item)

    def _forget_closed_loops(self) -> None:
        with self._lock:
            gone = [loop for loop in list(self._items) if loop.is_closed()]
            items = [self._items.pop(loop) for loop in gone]
            guards = [self._guards.pop(loop, None) for loop in gone]
        # Let go of the guards outside the lock: without a loop to finalize them, dropping
        # one runs its ``finally`` here, and that takes the lock.
        del guards
        for item in items:
            self._drop(item)

    async def close(self) -> None:
        """Close the running loop's resource now (the others close with their loops)."""
        guard: Any = self._guards.get(asyncio.get_running_loop())
        if guard is not None:
            await guard.aclose()  # forgets the resource and closes it
