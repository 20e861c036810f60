"""In-process httpx transports for driver tests: a scripted server, and a body that breaks.

Hand a :class:`ScriptedTransport` to a manager in place of the network and say, in order,
what each request gets::

    transport = ScriptedTransport(
        httpx.Response(429, headers={"retry-after": "1"}),    # the first request
        httpx.ConnectError("refused"),                       # the second: raised
        lambda request: httpx.Response(200, json=reply),      # the third: built from it
    )
    ai = AIManager(providers={"acme": {"api_key": "test-key"}}, config_file=False, env={},
                   transports={"acme": transport})
    ...
    assert len(transport.requests) == 3
    assert transport.bodies[0]["model"] == "acme-1"

A request beyond the script fails the test with an AssertionError that names it, so a
transport scripted with nothing proves that no request was sent. :class:`BrokenStream` is a
response body that breaks after its first parts, like a connection reset mid-stream:
``httpx.Response(200, stream=BrokenStream(b"data: {...}\\n\\n"))``. Both work with sync and
async clients.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeAlias

import httpx

__all__ = ["BrokenStream", "ScriptItem", "ScriptedTransport"]

#: What a scripted request gets: a response, an exception to raise, or a function of the
#: request that returns the response.
ScriptItem: TypeAlias = httpx.Response | BaseException | Callable[[httpx.Request], httpx.Response]


class ScriptedTransport(httpx.MockTransport):
    """Answers each request with the next scripted item (see :data:`ScriptItem`) and records
    every request in :attr:`requests`. An unscripted request raises AssertionError."""

    def __init__(self, *items: ScriptItem) -> None:
        #: What is left of the script.
        self.items: list[ScriptItem] = list(items)
        #: Every request received, in order (including an unscripted one).
        self.requests: list[httpx.Request] = []
        super().__init__(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.items:
            raise AssertionError(
                f"unscripted request {request.method} {request.url}: the script had no "
                f"answer left (request {len(self.requests)}, more than expected)")
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, httpx.Response):
            return item
        return item(request)

    @property
    def bodies(self) -> list[Any]:
        """The JSON body of each request, in order (None for a request without a body)."""
        return [json.loads(r.content) if r.content else None for r in self.requests]


class BrokenStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that yields ``parts`` and then raises ``httpx.ReadError``, like a
    connection reset by the peer in the middle of a stream."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = parts

    def __iter__(self) -> Iterator[bytes]:
        yield from self.parts
        raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part
        raise httpx.ReadError("connection reset by peer")
