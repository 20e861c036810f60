"""The leanest bounded-concurrency loop, shared by every baseline that has no batch call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def run_workers(items: list[str], concurrency: int,
                      one: Callable[[str], Awaitable[str]]) -> list[str]:
    """``concurrency`` tasks pulling from one iterator; results in input order."""
    results: list[str] = [""] * len(items)
    queue = iter(enumerate(items))

    async def worker() -> None:
        for index, item in queue:
            results[index] = await one(item)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results
