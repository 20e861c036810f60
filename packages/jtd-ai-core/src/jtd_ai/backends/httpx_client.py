"""Calls through httpx: for an application's own httpx transport or client, and for proxies.

Applications (and tests) may hand the core an ``httpx.MockTransport``, a transport with
their own TLS or proxy settings, or a whole ``httpx.Client``/``httpx.AsyncClient``; then
every byte goes through it. Without one, this backend serves only when
``http_backend = "httpx"`` is configured or the environment sets a proxy for the
provider's URL (httpx reads ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx

from jtd_ai.backends import Failure, HTTPFailure, LineSplitter, Timeouts
from jtd_ai.backends.per_loop import PerLoop

__all__ = ["HttpxAsync", "HttpxSync"]

_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30)


#: What building or sending a request can raise.
_SEND_ERRORS = (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError)


def _failure(exc: Exception) -> HTTPFailure:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return HTTPFailure(Failure.CONNECT_TIMEOUT, detail)
    if isinstance(exc, httpx.TimeoutException):
        return HTTPFailure(Failure.READ_TIMEOUT, detail)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.InvalidURL
                  | ValueError | TypeError):
        return HTTPFailure(Failure.INVALID, detail)
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return HTTPFailure(Failure.CONNECT, detail)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError
                  | httpx.DecodingError):
        return HTTPFailure(Failure.BROKEN, detail)
    return HTTPFailure(Failure.OTHER, detail)


def _timeout(timeouts: Timeouts) -> httpx.Timeout:
    return httpx.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.read,
                         pool=timeouts.connect)


def _headers(response: httpx.Response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


def _safe(url: httpx.URL) -> str:
    # Query strings can carry keys on some providers: keep them out of what we store.
    return str(url.copy_with(query=None)) if url.query else str(url)


class _Reply:
    __slots__ = ("_response", "headers", "status", "url")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = _headers(response)
        self.url = _safe(response.request.url)

    def read(self) -> bytes:
        try:
            return self._response.read()
        except httpx.HTTPError as exc:
            raise _failure(exc) from None

    def lines(self) -> Iterator[str]:
        splitter = LineSplitter()
        try:
            for chunk in self._response.iter_bytes():
                yield from splitter.feed(chunk)
        except httpx.HTTPError as exc:
            raise _failure(exc) from None
        yield from splitter.end()

    def close(self) -> None:
        self._response.close()


class _AsyncReply:
    __slots__ = ("_response", "headers", "status", "url")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = _headers(response)
        self.url = _safe(response.request.url)

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.HTTPError as exc:
            raise _failure(exc) from None

    async def lines(self) -> AsyncIterator[str]:
        splitter = LineSplitter()
        try:
            async for chunk in self._response.aiter_bytes():
                for line in splitter.feed(chunk):
                    yield line
        except httpx.HTTPError as exc:
            raise _failure(exc) from None
        for line in splitter.end():
            yield line

    async def close(self) -> None:
        await self._response.aclose()


class HttpxSync:
    """Sync calls through ``client``, or a client made around ``transport``."""

    def __init__(self, transport: httpx.BaseTransport | None = None,
                 client: httpx.Client | None = None) -> None:
        self._own = client is None
        self._client = client or httpx.Client(transport=transport, limits=_LIMITS,
                                              follow_redirects=False)

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeouts: Timeouts, stream: bool) -> httpx.Response:
        try:
            request = self._client.build_request(method, url, content=body, headers=headers,
                                                 timeout=_timeout(timeouts))
            return self._client.send(request, stream=stream)
        except _SEND_ERRORS as exc:
            raise _failure(exc) from None

    def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        ends_at = None if timeouts.total is None else time.monotonic() + timeouts.total
        response = self._send(method, url, headers, body, timeouts, stream=True)
        try:
            parts = []
            for part in response.iter_bytes():
                parts.append(part)
                if ends_at is not None and time.monotonic() > ends_at:
                    raise HTTPFailure(Failure.DEADLINE, "the reply was still arriving")
        except _SEND_ERRORS as exc:
            raise _failure(exc) from None
        finally:
            response.close()
        return response.status_code, _headers(response), b"".join(parts), _safe(
            response.request.url)

    def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
             timeouts: Timeouts) -> _Reply:
        return _Reply(self._send(method, url, headers, body, timeouts, stream=True))

    def close(self) -> None:
        if self._own:
            self._client.close()


class HttpxAsync:
    """Async calls through ``client``, or a client per event loop around ``transport``
    (by default jtd-ai's sharded pool, see :mod:`jtd_ai.pool`)."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        self._given = client
        self._transport = transport
        self._clients = PerLoop(self._new_client, _aclose, _forget)

    def _new_client(self) -> httpx.AsyncClient:
        transport = self._transport
        if transport is None:  # one big httpcore pool slows down as connections grow
            from jtd_ai.pool import ShardedAsyncTransport

            transport = ShardedAsyncTransport(_LIMITS)
        return httpx.AsyncClient(transport=transport, limits=_LIMITS, follow_redirects=False)

    async def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts, stream: bool) -> httpx.Response:
        client = self._given or await self._clients.get()
        try:
            request = client.build_request(method, url, content=body, headers=headers,
                                           timeout=_timeout(timeouts))
            if timeouts.total is None:
                return await client.send(request, stream=stream)
            async with asyncio.timeout(timeouts.total):
                response = await client.send(request, stream=stream)
                if not stream:
                    await response.aread()
                return response
        except _SEND_ERRORS as exc:
            raise _failure(exc) from None
        except TimeoutError:
            raise HTTPFailure(Failure.DEADLINE, "the call's deadline passed") from None

    async def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        response = await self._send(method, url, headers, body, timeouts, stream=False)
        return response.status_code, _headers(response), response.content, _safe(
            response.request.url)

    async def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                   timeouts: Timeouts) -> _AsyncReply:
        return _AsyncReply(await self._send(method, url, headers, body, timeouts, stream=True))

    async def close(self) -> None:
        """Close this loop's client (the application's own client is the application's)."""
        if self._given is None:
            await self._clients.close()


async def _aclose(client: httpx.AsyncClient) -> None:
    await client.aclose()


def _forget(client: httpx.AsyncClient) -> None:
    """A client whose loop was closed: nothing can be awaited there; its sockets are freed
    with it."""
