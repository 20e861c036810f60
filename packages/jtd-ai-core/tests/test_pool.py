"""The sharded async pool: a lone caller reuses one connection, a crowd spreads out, and
every request gives its slot back (read, streamed, or failed)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from jtd_ai.pool import ShardedAsyncTransport
from jtd_ai.testing.server import FakeProviderServer

LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=30)
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def connections(transport: ShardedAsyncTransport) -> list[int]:
    return [len(shard._pool.connections) for shard in transport._shards]


@pytest.fixture(scope="module")
def server():
    with FakeProviderServer() as running:
        yield running


async def test_sequential_calls_reuse_one_connection(server: FakeProviderServer) -> None:
    transport = ShardedAsyncTransport(LIMITS)
    async with httpx.AsyncClient(transport=transport, base_url=server.base_url("openai")) as c:
        for _ in range(5):
            reply = await c.post("/chat/completions", json=BODY)
            assert reply.json()["choices"][0]["message"]["content"] == "echo: hi"
        assert connections(transport) == [1] + [0] * (len(transport._shards) - 1)
        assert transport._loads == [0] * len(transport._shards)


async def test_concurrent_calls_spread_over_shards(server: FakeProviderServer) -> None:
    transport = ShardedAsyncTransport(LIMITS)
    slow = {"x-fake-fault": "delay=0.2"}
    async with httpx.AsyncClient(transport=transport, base_url=server.base_url("openai")) as c:
        replies = await asyncio.gather(*(c.post("/chat/completions", json=BODY, headers=slow)
                                         for _ in range(16)))
        assert all(r.status_code == 200 for r in replies)
        counts = connections(transport)
        assert sum(1 for n in counts if n) == len(counts)  # every shard took a share
        assert max(counts) - min(counts) <= 1
        assert transport._loads == [0] * len(counts)


async def test_streams_and_failures_give_their_slot_back(server: FakeProviderServer) -> None:
    transport = ShardedAsyncTransport(LIMITS)
    async with httpx.AsyncClient(transport=transport, base_url=server.base_url("openai")) as c:
        request = c.build_request("POST", "/chat/completions", json={**BODY, "stream": True})
        response = await c.send(request, stream=True)
        assert sum(transport._loads) == 1  # held while the body is open
        lines = [line async for line in response.aiter_lines() if line]
        await response.aclose()
        assert lines[-1] == "data: [DONE]"
        assert sum(transport._loads) == 0
    closed = ShardedAsyncTransport(LIMITS)
    async with httpx.AsyncClient(transport=closed, base_url="http://127.0.0.1:9") as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/nothing")
    assert sum(closed._loads) == 0
