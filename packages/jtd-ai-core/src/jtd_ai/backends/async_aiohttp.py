"""Async calls on aiohttp: the fastest async HTTP client for Python we measured.

At 64 requests in flight, httpx's AsyncClient spends several times aiohttp's CPU per
request (docs/performance.md), and a batch is bound by that CPU. Drivers never see the
difference: they describe requests as values and the transport sends them here.

A session (and its connection pool) belongs to one event loop. Each loop gets its own,
closed when the loop shuts down (``asyncio.run`` closes async generators first, and a
parked generator per session does the closing), so ``asyncio.run`` may be called again and
again without leaking connections or warnings.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from yarl import URL

from jtd_ai.backends import Failure, HTTPFailure, LineSplitter, Timeouts, ssl_context

__all__ = ["AiohttpBackend"]


def _failure(exc: BaseException, timeouts: Timeouts) -> HTTPFailure:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, aiohttp.InvalidURL | ValueError | TypeError):
        return HTTPFailure(Failure.INVALID, detail)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return HTTPFailure(Failure.CONNECT_TIMEOUT, detail)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return HTTPFailure(Failure.READ_TIMEOUT, detail)
    if isinstance(exc, TimeoutError):  # the attempt's total time
        kind = Failure.DEADLINE if timeouts.total is not None else Failure.READ_TIMEOUT
        return HTTPFailure(kind, detail)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return HTTPFailure(Failure.CONNECT, detail)
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError
                  | aiohttp.ClientResponseError | OSError):
        return HTTPFailure(Failure.BROKEN, detail)
    return HTTPFailure(Failure.OTHER, detail)


_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
#: What sending can raise: also ValueError for a header or URL it cannot send.
_SEND_ERRORS = (*_ERRORS, ValueError, TypeError)


def _headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


class _Reply:
    __slots__ = ("_response", "_timeouts", "headers", "status", "url")

    def __init__(self, response: aiohttp.ClientResponse, url: str, timeouts: Timeouts) -> None:
        self._response = response
        self._timeouts = timeouts
        self.status = response.status
        self.headers = _headers(response)
        self.url = url

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except _ERRORS as exc:
            raise _failure(exc, self._timeouts) from None

    async def lines(self) -> AsyncIterator[str]:
        splitter = LineSplitter()
        try:
            async for chunk in self._response.content.iter_any():
                for line in splitter.feed(chunk):
                    yield line
        except _ERRORS as exc:
            raise _failure(exc, self._timeouts) from None
        for line in splitter.end():
            yield line

    async def close(self) -> None:
        self._response.release()


class AiohttpBackend:
    """One provider's async connections: a session per event loop."""

    def __init__(self, *, limit: int = 200, keepalive_expiry: float = 30.0,
                 https: bool = True) -> None:
        self._limit = limit
        self._keepalive = keepalive_expiry
        self._https = https
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._guards: dict[asyncio.AbstractEventLoop, AsyncIterator[None]] = {}
        self._urls: dict[str, URL] = {}
        self._lock = threading.Lock()

    async def _new_session(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        self._forget_closed_loops()
        connector = aiohttp.TCPConnector(
            limit=self._limit, limit_per_host=0, keepalive_timeout=self._keepalive,
            ssl=ssl_context() if self._https else True,
        )
        session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
            auto_decompress=True, skip_auto_headers=("User-Agent",),
        )
        guard = self._guard(loop, session)
        await guard.__anext__()  # parked until the loop shuts its async generators down
        self._sessions[loop] = session
        self._guards[loop] = guard
        return session

    async def _guard(self, loop: asyncio.AbstractEventLoop,
                     session: aiohttp.ClientSession) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self._sessions.get(loop) is session:  # not a newer session of this loop
                self._sessions.pop(loop, None)
                self._guards.pop(loop, None)
            await session.close()

    def _forget_closed_loops(self) -> None:
        """Drop sessions of loops closed without shutting down their generators."""
        for loop in [loop for loop in self._sessions if loop.is_closed()]:
            session = self._sessions.pop(loop, None)
            self._guards.pop(loop, None)
            if session is not None and session.connector is not None:
                session.connector._close()  # the loop is gone: close sockets synchronously

    def _url(self, url: str) -> URL:
        known = self._urls.get(url)
        if known is None:
            known = URL(url)  # quotes what a URL may not hold raw, keeps %-escapes
            with self._lock:
                if len(self._urls) > 512:  # paths with model names or page tokens vary
                    self._urls.clear()
                self._urls[url] = known
        return known

    async def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> aiohttp.ClientResponse:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop) or await self._new_session(loop)
        # connect: waiting for a free connection of the pool, and opening one.
        timeout = aiohttp.ClientTimeout(total=timeouts.total, connect=timeouts.connect,
                                        sock_connect=timeouts.connect, sock_read=timeouts.read)
        try:
            return await session.request(method, self._url(url), data=body, headers=headers,
                                         timeout=timeout, allow_redirects=False)
        except _SEND_ERRORS as exc:
            raise _failure(exc, timeouts) from None

    async def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        response = await self._send(method, url, headers, body, timeouts)
        try:
            content = await response.read()
        except _ERRORS as exc:
            raise _failure(exc, timeouts) from None
        finally:
            response.release()
        return response.status, _headers(response), content, url

    async def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                   timeouts: Timeouts) -> _Reply:
        return _Reply(await self._send(method, url, headers, body, timeouts), url, timeouts)

    async def close(self) -> None:
        """Close this loop's session (others close with their loops)."""
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        guard: Any = self._guards.pop(loop, None)
        if session is not None:
            await session.close()
        if guard is not None:
            await guard.aclose()
