"""Calls through httpx: every sync call, and async ones when httpx is asked for.

Without an application's own client, the client is built from the provider's
:class:`~jtd_ai.backends.network.Network`: its TLS context, its ``proxy`` setting or the
environment's proxies (``trust_env``), no redirects (the core follows them by its own rules,
:func:`~jtd_ai.backends.next_hop`). An application's ``httpx.Client``/``AsyncClient`` or
transport (``httpx.MockTransport``, respx, vcrpy, instrumented clients) carries the bytes
with its own settings instead. Bodies are read raw and decoded by the core, so the size
caps hold after decompression whatever client is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from socket import SHUT_RDWR  # to wake a read blocked past the deadline (below)

import httpx

from jtd_ai.backends import (
    CREDENTIAL_HEADERS,
    BodyReader,
    Failure,
    HTTPFailure,
    Limits,
    Timeouts,
    next_hop,
)
from jtd_ai.backends.network import Network
from jtd_ai.backends.per_loop import PerLoop

__all__ = ["HttpxAsync", "HttpxSync"]

_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30)


#: What building or sending a request can raise.
_SEND_ERRORS = (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError, ssl.SSLError)


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):  # the library's error wraps the ssl module's
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _failure(exc: BaseException) -> HTTPFailure:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return HTTPFailure(Failure.CONNECT_TIMEOUT, detail)
    if isinstance(exc, httpx.TimeoutException):
        return HTTPFailure(Failure.READ_TIMEOUT, detail)
    if isinstance(exc, httpx.ProxyError):
        return HTTPFailure(Failure.PROXY, detail)
    if _tls_failure(exc):
        return HTTPFailure(Failure.TLS, detail)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.InvalidURL
                  | ValueError | TypeError):
        return HTTPFailure(Failure.INVALID, detail)
    if isinstance(exc, httpx.ConnectError):
        return HTTPFailure(Failure.CONNECT, detail)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError
                  | httpx.DecodingError):
        return HTTPFailure(Failure.BROKEN, detail)
    return HTTPFailure(Failure.OTHER, detail)


#: httpx's timeouts per (connect, read): the same few pairs come back call after call.
_TIMEOUTS: dict[tuple[float | None, float | None], httpx.Timeout] = {}


def _timeout(timeouts: Timeouts) -> httpx.Timeout:
    key = (timeouts.connect, timeouts.read)
    found = _TIMEOUTS.get(key)
    if found is None:
        found = httpx.Timeout(connect=timeouts.connect, read=timeouts.read,
                              write=timeouts.read, pool=timeouts.connect)
        if len(_TIMEOUTS) >= 64:  # a deadline cuts reads to the time left: all distinct
            _TIMEOUTS.clear()
        _TIMEOUTS[key] = found
    return found


#: Parsed URLs by their text: a provider's calls go to the same few, and httpx parses a URL
#: given as text twice per request (about a third of building one).
_URLS: dict[str, httpx.URL] = {}


def _url(url: str) -> httpx.URL:
    found = _URLS.get(url)
    if found is None:
        found = httpx.URL(url)  # InvalidURL here, as build_request would raise it
        if len(_URLS) >= 64:  # model names may be in paths (Gemini): keep a few
            _URLS.clear()
        _URLS[url] = found
    return found


def _headers(response: httpx.Response) -> dict[str, str]:
    # httpx's items() gives names lower-cased, repeated headers joined by ", ".
    return dict(response.headers.items())


def _safe(url: httpx.URL) -> str:
    # Query strings can carry keys on some providers: keep them out of what we store.
    return str(url.copy_with(query=None)) if url.query else str(url)


class _Watchdog:
    """One daemon thread for every sync stream of the process: at each registered time it
    runs the registered cut (a socket shutdown), unless that was cancelled first. A thread
    per stream would cost its start on every stream's first chunk."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, list[Callable[[], None] | None]]] = []
        self._wake = threading.Condition()
        self._seq = 0
        self._thread: threading.Thread | None = None

    def at(self, when: float, cut: Callable[[], None]) -> list[Callable[[], None] | None]:
        """Run ``cut`` at ``when`` (monotonic); clear the returned cell's item to cancel."""
        cell: list[Callable[[], None] | None] = [cut]
        with self._wake:
            self._seq += 1
            heapq.heappush(self._due, (when, self._seq, cell))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="jtd-ai-deadlines",
                                                daemon=True)
                self._thread.start()
            elif self._due[0][2] is cell:
                self._wake.notify()
        return cell

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, cell = heapq.heappop(self._due)
                cut, cell[0] = cell[0], None
            if cut is not None:
                cut()

    def _after_fork(self) -> None:
        self.__init__()  # type: ignore[misc]  # the parent's thread does not exist here


_WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=_WATCHDOG._after_fork)


class _Clock:
    """Keeps one attempt within its end. Every read waits at most the read timeout, which
    the transport cut to the time left when the attempt began; a stream may then go on and
    fall silent near its end, so :meth:`watch` has its socket shut down when the end comes
    (a blocked read wakes at once) and the failure that follows is the DEADLINE."""

    __slots__ = ("_cell", "_ends_at", "fired")

    def __init__(self, timeouts: Timeouts) -> None:
        self._ends_at = None if timeouts.total is None else time.monotonic() + timeouts.total
        self._cell: list[Callable[[], None] | None] | None = None
        self.fired = False

    def tick(self) -> None:
        if self._ends_at is not None and time.monotonic() > self._ends_at:
            raise HTTPFailure(Failure.DEADLINE, "the reply was still arriving")

    def watch(self, response: httpx.Response) -> None:
        """Cut ``response``'s connection when the attempt's end comes (sync streams)."""
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if self._ends_at is None or sock is None or self._cell is not None:
            return

        def cut() -> None:
            self.fired = True
            with contextlib.suppress(OSError):
                sock.shutdown(SHUT_RDWR)

        self._cell = _WATCHDOG.at(self._ends_at, cut)

    def stop(self) -> None:
        if self._cell is not None:
            self._cell[0] = None

    def failure(self, exc: BaseException) -> HTTPFailure:
        if self.fired:
            return HTTPFailure(Failure.DEADLINE, "the call's deadline passed while reading")
        return _failure(exc)


def _raw(response: httpx.Response, body: BodyReader, clock: _Clock) -> Iterator[bytes]:
    """The body's bytes as they came, or, when an application's transport already read the
    reply whole (``httpx.MockTransport`` and respx may), the bytes httpx decoded."""
    if response.is_stream_consumed:
        body.already_decoded()
        yield response.content
        return
    for raw in response.iter_raw():
        yield raw
        clock.tick()


async def _araw(response: httpx.Response, body: BodyReader,
                clock: _Clock) -> AsyncIterator[bytes]:
    if response.is_stream_consumed:
        body.already_decoded()
        yield response.content
        return
    chunks = response.aiter_raw()
    ends_at = clock._ends_at
    while True:
        if ends_at is None:
            raw = await anext(chunks, None)
        else:  # every read within the attempt's end
            try:
                async with asyncio.timeout(ends_at - time.monotonic()):
                    raw = await anext(chunks, None)
            except TimeoutError:
                raise HTTPFailure(Failure.DEADLINE, "the call's deadline passed while "
                                  "reading") from None
        if raw is None:
            return
        yield raw


def _proxy(url: str, context: ssl.SSLContext) -> httpx.Proxy:
    """The proxy at ``url``; one reached over TLS is verified as the provider is."""
    https = url.lower().startswith("https:")
    return httpx.Proxy(url, ssl_context=context) if https else httpx.Proxy(url)


def _client_options(network: Network | None) -> dict[str, object]:
    """What an httpx client of ours is built with: the provider's TLS and proxy policy."""
    if network is None:
        return {"limits": _LIMITS, "follow_redirects": False}
    context = network.ssl_context()
    proxy = network.explicit_proxy
    if proxy is None:  # the environment's; an https:// proxy is verified as the provider is
        found = network.proxy(network.base_url)
        proxy = found if found and found.lower().startswith("https:") else None
    return {"limits": _LIMITS, "follow_redirects": False, "verify": context,
            "proxy": _proxy(proxy, context) if proxy else None,
            "trust_env": network.explicit_proxy is None and proxy is None}


class _Opened:
    """What a sync and an async reply share: status, headers, URL and the body reader."""

    __slots__ = ("_body", "_clock", "_response", "headers", "status", "url")

    def __init__(self, response: httpx.Response, limits: Limits, clock: _Clock) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = _headers(response)
        self.url = _safe(response.request.url)
        self._body = BodyReader(self.headers, limits)
        self._clock = clock


class _Reply(_Opened):
    __slots__ = ()

    def read(self) -> bytes:
        failure = None
        try:
            for raw in _raw(self._response, self._body, self._clock):
                self._body.add(raw)
        except _SEND_ERRORS as exc:
            failure = self._clock.failure(exc)
        finally:
            self._response.close()
        if failure is not None:  # raised outside the handler: no library error as context
            raise failure
        return self._body.body()

    def lines(self) -> Iterator[str]:
        body = self._body
        clock = self._clock
        response = self._response
        clock.watch(response)
        failure = None
        try:
            if response.is_stream_consumed:  # as _raw does, without its generator per block
                body.already_decoded()
                yield from body.lines(response.content)
            else:
                for raw in response.iter_raw():
                    yield from body.lines(raw)
                    clock.tick()
        except _SEND_ERRORS as exc:
            failure = clock.failure(exc)
        finally:
            clock.stop()
        if failure is not None:
            raise failure
        yield from body.last_lines()

    def close(self) -> None:
        self._clock.stop()
        self._response.close()


class _AsyncReply(_Opened):
    __slots__ = ()

    async def read(self) -> bytes:
        failure = None
        try:
            async for raw in _araw(self._response, self._body, self._clock):
                self._body.add(raw)
        except _SEND_ERRORS as exc:
            failure = self._clock.failure(exc)
        finally:
            await self._response.aclose()
        if failure is not None:
            raise failure
        return self._body.body()

    async def lines(self) -> AsyncIterator[str]:
        body = self._body
        failure = None
        try:
            async for raw in _araw(self._response, body, self._clock):
                for line in body.lines(raw):
                    yield line
        except _SEND_ERRORS as exc:
            failure = self._clock.failure(exc)
        if failure is not None:
            raise failure
        for line in body.last_lines():
            yield line

    async def close(self) -> None:
        await self._response.aclose()


class HttpxSync:
    """Sync calls through the application's ``client`` or ``transport``, else a client
    built from ``network``.

    ``fixed`` are headers every request of the provider carries (user agent, accepted
    encodings, configured headers): a client of ours holds them, so httpx merges them once
    instead of checking each per call; the requests' own headers name only the others
    (the same headers go out). Credentials are never among them: a redirect to another
    origin drops those (:func:`~jtd_ai.backends.next_hop`), which a client's headers would
    outlive."""

    def __init__(self, network: Network, *, transport: httpx.BaseTransport | None = None,
                 client: httpx.Client | None = None,
                 fixed: Mapping[str, str] | None = None) -> None:
        self._own = client is None
        self._limits = network.limits
        self._fixed: dict[str, str] = {}
        if client is None:
            options = _client_options(None if transport is not None else network)
            client = httpx.Client(transport=transport, **options)  # type: ignore[arg-type]
            self._fixed = {name.lower(): value for name, value in (fixed or {}).items()
                           if name.lower() not in CREDENTIAL_HEADERS}
            client.headers.update(self._fixed)
        self._client = client

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeouts: Timeouts) -> httpx.Response:
        fixed = self._fixed
        if fixed:  # the client sends these; a request's own value for one still wins
            headers = {name: value for name, value in headers.items()
                       if fixed.get(name) != value}
        try:
            request = self._client.build_request(method, _url(url), content=body,
                                                 headers=headers, timeout=_timeout(timeouts))
            return self._client.send(request, stream=True, follow_redirects=False)
        except _SEND_ERRORS as exc:
            failure = _failure(exc)
        raise failure  # outside the handler: httpx's error (it holds the request) is no context

    def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
             timeouts: Timeouts) -> _Reply:
        hops = 0
        while True:
            response = self._send(method, url, headers, body, timeouts)
            try:
                hop = next_hop(response.status_code, response.headers.get("location"), url,
                               method, headers, hops)
            except HTTPFailure:
                response.close()
                raise
            if hop is None:
                return _Reply(response, self._limits, _Clock(timeouts))
            response.close()
            (url, headers), hops = hop, hops + 1

    def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        reply = self.open(method, url, headers, body, timeouts)
        return reply.status, reply.headers, reply.read(), reply.url

    def close(self) -> None:
        if self._own:
            self._client.close()


class HttpxAsync:
    """Async calls through the application's ``client`` or ``transport``, else a client per
    event loop built from ``network`` (``http_backend = "httpx"``)."""

    def __init__(self, network: Network, *, transport: httpx.AsyncBaseTransport | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        self._given = client
        self._transport = transport
        self._network = network
        self._limits = network.limits
        self._clients = PerLoop(self._new_client, _aclose, _forget)

    def _new_client(self) -> httpx.AsyncClient:
        options = _client_options(None if self._transport is not None else self._network)
        return httpx.AsyncClient(transport=self._transport, **options)  # type: ignore[arg-type]

    async def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> httpx.Response:
        client = self._given or await self._clients.get()
        try:
            request = client.build_request(method, _url(url), content=body, headers=headers,
                                           timeout=_timeout(timeouts))
            return await client.send(request, stream=True, follow_redirects=False)
        except _SEND_ERRORS as exc:
            failure = _failure(exc)
        raise failure

    async def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                   timeouts: Timeouts) -> _AsyncReply:
        try:
            if timeouts.total is None:
                return await self._open(method, url, headers, body, timeouts)
            async with asyncio.timeout(timeouts.total):
                return await self._open(method, url, headers, body, timeouts)
        except TimeoutError:
            raise HTTPFailure(Failure.DEADLINE, "the call's deadline passed") from None

    async def _open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> _AsyncReply:
        hops = 0
        while True:
            response = await self._send(method, url, headers, body, timeouts)
            try:
                hop = next_hop(response.status_code, response.headers.get("location"), url,
                               method, headers, hops)
            except HTTPFailure:
                await response.aclose()
                raise
            if hop is None:
                return _AsyncReply(response, self._limits, _Clock(timeouts))
            await response.aclose()
            (url, headers), hops = hop, hops + 1

    async def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        try:
            async with asyncio.timeout(timeouts.total):
                reply = await self._open(method, url, headers, body, timeouts)
                return reply.status, reply.headers, await reply.read(), reply.url
        except TimeoutError:
            raise HTTPFailure(Failure.DEADLINE, "the call's deadline passed") from None

    async def close(self) -> None:
        """Close this loop's client (the application's own client is the application's)."""
        if self._given is None:
            await self._clients.close()


async def _aclose(client: httpx.AsyncClient) -> None:
    await client.aclose()


def _forget(client: httpx.AsyncClient) -> None:
    """A client whose loop was closed: nothing can be awaited there; its sockets are freed
    with it."""
