"""An async connection pool split into shards, so many requests in flight stay cheap.

Used by the httpx backend (an application's own transport aside, jtd-ai's async calls go
through the core's own asyncio client: see docs/performance.md). httpcore's pool rescans
every connection for each request it queues or releases, so its cost per request grows
with the square of the open connections: at 64 in flight on a fast server the scan, not
the network, limits a batch. Each request here goes to the shard with the fewest requests
in flight (the first on a tie), so a lone caller keeps reusing one connection and a large
batch spreads over small pools.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

__all__ = ["ShardedAsyncTransport"]

#: Shards per pool: enough to keep each pool small at the concurrencies batches use.
SHARDS = 8


class _Tracked(httpx.AsyncByteStream):
    """A response body that tells its shard when it is closed, once."""

    def __init__(self, stream: httpx.AsyncByteStream, release: _Release) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()


class _Release:
    def __init__(self, loads: list[int], index: int) -> None:
        self._loads = loads
        self._index = index
        self._done = False

    def __call__(self) -> None:
        if not self._done:
            self._done = True
            self._loads[self._index] -= 1


class ShardedAsyncTransport(httpx.AsyncBaseTransport):
    """``SHARDS`` httpx transports sharing the limits; one event loop uses it at a time."""

    def __init__(self, limits: httpx.Limits, *, shards: int = SHARDS) -> None:
        per = max(1, -(-(limits.max_connections or 100) // shards))
        shard_limits = httpx.Limits(max_connections=per, max_keepalive_connections=per,
                                    keepalive_expiry=limits.keepalive_expiry)
        context = httpx.create_ssl_context()  # built once: loading the CA bundle is slow
        self._shards = [httpx.AsyncHTTPTransport(limits=shard_limits, verify=context)
                        for _ in range(shards)]
        self._loads = [0] * shards

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loads = self._loads
        index = loads.index(min(loads))
        loads[index] += 1
        release = _Release(loads, index)
        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Tracked(response.stream, release)
        return response

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()
