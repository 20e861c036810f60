"""Async calls and batches on aiohttp (imported on the first async call, never by
``import jtd_ai``).

A session (and its connection pool) belongs to one event loop: each loop gets its own,
closed when the loop shuts down (:mod:`jtd_ai.backends.per_loop`), so ``asyncio.run`` may
be called again and again. The session is built from the provider's
:class:`~jtd_ai.backends.network.Network`: its TLS context, happy-eyeballs connects
(aiohttp's own), the ``proxy`` setting or the environment's proxy for each URL (with its
credentials sent as ``Proxy-Authorization``, CONNECT for https), no cookies, no
decompression (the core decodes, so size caps hold after decompression) and no redirects
(the core follows them by its own rules). An application's own ``ClientSession`` carries the
bytes with its own settings instead.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from yarl import URL

from jtd_ai.backends import (
    BodyReader,
    Failure,
    HTTPFailure,
    Limits,
    Timeouts,
    next_hop,
)
from jtd_ai.backends.network import Network, basic_auth, split_credentials
from jtd_ai.backends.per_loop import PerLoop

__all__ = ["AiohttpAsync"]

#: Connections per provider and event loop, as many as httpx's pool.
_LIMIT = 200
_KEEPALIVE = 30.0


def _failure(exc: BaseException, timeouts: Timeouts) -> HTTPFailure:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return HTTPFailure(Failure.PROXY, detail, status=exc.status)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return HTTPFailure(Failure.TLS, detail)
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
    __slots__ = ("_body", "_response", "_timeouts", "headers", "status", "url")

    def __init__(self, response: aiohttp.ClientResponse, url: str, timeouts: Timeouts,
                 limits: Limits) -> None:
        self._response = response
        self._timeouts = timeouts
        self.status = response.status
        self.headers = _headers(response)
        self.url = url.partition("?")[0]
        self._body = BodyReader(self.headers, limits)

    async def read(self) -> bytes:
        failure = None
        try:
            async for raw in self._response.content.iter_any():
                self._body.add(raw)
        except _ERRORS as exc:
            failure = _failure(exc, self._timeouts)
        finally:
            self._response.release()
        if failure is not None:  # raised outside the handler: no library error as context
            raise failure
        return self._body.body()

    async def lines(self) -> AsyncIterator[str]:
        body = self._body
        failure = None
        try:
            async for raw in self._response.content.iter_any():
                for line in body.lines(raw):
                    yield line
        except _ERRORS as exc:
            failure = _failure(exc, self._timeouts)
        if failure is not None:
            raise failure
        for line in body.last_lines():
            yield line

    async def close(self) -> None:
        self._response.release()  # an unfinished body closes the connection instead


class AiohttpAsync:
    """One provider's async calls: the application's ``session``, else a session per
    event loop built from ``network``."""

    def __init__(self, network: Network, *, session: aiohttp.ClientSession | None = None,
                 https: bool = True) -> None:
        self._network = network
        self._limits = network.limits
        self._given = session
        self._https = https
        self._sessions = PerLoop(self._new_session, _aclose, _drop)
        self._urls: dict[str, URL] = {}
        self._proxies: dict[str, tuple[URL | None, dict[str, str] | None]] = {}
        self._lock = threading.Lock()

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=_LIMIT, limit_per_host=0, keepalive_timeout=_KEEPALIVE,
            ssl=self._network.ssl_context(),
        )
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
            auto_decompress=False, skip_auto_headers=("User-Agent",),
        )

    def _url(self, url: str) -> URL:
        known = self._urls.get(url)
        if known is None:
            known = URL(url)  # quotes what a URL may not hold raw, keeps %-escapes
            with self._lock:
                if len(self._urls) > 512:  # paths with model names or page tokens vary
                    self._urls.clear()
                self._urls[url] = known
        return known

    def _proxy(self, url: URL) -> tuple[URL | None, dict[str, str] | None]:
        """The proxy for ``url``'s origin, without its credentials, and the header that
        carries them."""
        origin = f"{url.scheme}://{url.raw_host}:{url.port}"
        known = self._proxies.get(origin)
        if known is None:
            proxy = self._network.proxy(str(url))
            if proxy is None:
                known = (None, None)
            else:
                bare, user, password = split_credentials(proxy)
                known = (URL(bare), {"Proxy-Authorization": basic_auth(user, password)}
                         if user is not None else None)
            with self._lock:
                self._proxies[origin] = known
        return known

    async def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> aiohttp.ClientResponse:
        given = self._given
        session = given or await self._sessions.get()
        target = self._url(url)
        proxy, proxy_headers = (None, None) if given is not None else self._proxy(target)
        # connect: waiting for a free connection of the pool, and opening one.
        timeout = aiohttp.ClientTimeout(total=timeouts.total, connect=timeouts.connect,
                                        sock_connect=timeouts.connect, sock_read=timeouts.read)
        if proxy_headers is not None and target.scheme == "http":
            # A plain-http request goes to the proxy itself: the credentials ride on it
            # (aiohttp sends proxy_headers only with a CONNECT, for https targets).
            headers = {**headers, **proxy_headers}
            proxy_headers = None
        try:
            return await session.request(
                method, target, data=body, headers=headers, timeout=timeout,
                allow_redirects=False, auto_decompress=False, proxy=proxy,
                proxy_headers=proxy_headers)
        except _SEND_ERRORS as exc:
            # aiohttp's proxy errors quote the CONNECT headers (the proxy password): the
            # failure is raised outside the handler, so that error is not even its context.
            failure = _failure(exc, timeouts)
        raise failure

    async def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                   timeouts: Timeouts) -> _Reply:
        hops = 0
        while True:
            response = await self._send(method, url, headers, body, timeouts)
            try:
                hop = next_hop(response.status, response.headers.get("location"), url,
                               method, headers, hops)
            except HTTPFailure:
                response.release()
                raise
            if hop is None:
                return _Reply(response, url, timeouts, self._limits)
            response.release()
            (url, headers), hops = hop, hops + 1

    async def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        reply = await self.open(method, url, headers, body, timeouts)
        return reply.status, reply.headers, await reply.read(), reply.url

    async def close(self) -> None:
        """Close this loop's session (others close with their loops; the application's
        own session is the application's)."""
        if self._given is None:
            await self._sessions.close()


async def _aclose(session: aiohttp.ClientSession) -> None:
    await session.close()


def _drop(session: aiohttp.ClientSession) -> None:
    """A session whose loop was closed without shutting down: close its sockets now,
    synchronously (nothing can be awaited on a closed loop)."""
    connector: Any = session.connector
    if connector is not None:
        with contextlib.suppress(Exception):  # best effort on a dead loop
            connector._close()  # the loop is gone: only the synchronous part can run
        session._connector = None  # no "unclosed" warning later
