"""The core's I/O, written once: pooled httpx clients, timeouts, retries, stream framing.

One :class:`Transport` per provider holds one ``httpx.Client`` and one ``httpx.AsyncClient``
(per event loop), so connections are reused across calls and batches. It sends the
:class:`~jtd_ai.wire.HttpRequest` a protocol adapter describes and hands back an
:class:`~jtd_ai.wire.HttpResponse`, or for streams, framed events run through the adapter's
decoder. httpx failures become our typed errors here and nowhere else.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import stamina

from jtd_ai.errors import (
    AIError,
    ProviderError,
    ProviderUnavailableError,
    StreamInterruptedError,
    TimeoutError,
)
from jtd_ai.framing import NDJSONFramer, SSEFramer
from jtd_ai.retry import RetryPolicy, RetryState
from jtd_ai.secret import redact
from jtd_ai.wire import HttpRequest, HttpResponse

if TYPE_CHECKING:
    import asyncio

    from jtd_ai.calls import CallInfo
    from jtd_ai.config import ProviderConfig
    from jtd_ai.protocol import ChatProtocol, StreamDecoder
    from jtd_ai.responses import StreamChunk
    from jtd_ai.streaming import StreamAccumulator

__all__ = ["Transport"]

log = logging.getLogger("jtd_ai.transport")

_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30)


class Transport:
    """Sends one provider's requests; safe to share across threads and tasks."""

    def __init__(
        self,
        protocol: ChatProtocol,
        config: ProviderConfig,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.protocol = protocol
        self.config = config
        self._transport = transport
        self._client: httpx.Client | None = None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]
        self._aclients = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    # -- clients ----------------------------------------------------------------------------

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.config.base_url or "",
            "limits": _LIMITS,
            "timeout": self._timeout(self.config.timeout),
            "follow_redirects": False,
        }

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    given = self._transport
                    sync = given if isinstance(given, httpx.BaseTransport) else None
                    self._client = httpx.Client(transport=sync, **self._client_kwargs())
        return self._client

    @property
    def aclient(self) -> httpx.AsyncClient:
        """The async client of the running event loop (a pool is bound to its loop)."""
        import asyncio

        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            atr = self._transport if isinstance(self._transport, httpx.AsyncBaseTransport) else None
            if atr is None:  # one big httpcore pool slows down as connections grow
                from jtd_ai.pool import ShardedAsyncTransport

                atr = ShardedAsyncTransport(_LIMITS)
            client = httpx.AsyncClient(transport=atr, **self._client_kwargs())
            self._aclients[loop] = client
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        import asyncio

        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            client = self._aclients.pop(loop, None)
            if client is not None:
                await client.aclose()

    # -- building ---------------------------------------------------------------------------

    def _timeout(self, read: float) -> httpx.Timeout:
        return httpx.Timeout(connect=self.config.connect_timeout, read=read, write=read, pool=read)

    def _build(self, client: httpx.Client | httpx.AsyncClient, req: HttpRequest,
               read_timeout: float) -> httpx.Request:
        headers = {**self.config.headers, **self.protocol.auth_headers(), **req.headers}
        if req.stream == "sse":
            headers.setdefault("Accept", "text/event-stream")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s body=%s", self.config.name, req.method, req.path,
                      redact(repr(req.json))[:4000])
        return client.build_request(
            req.method, req.path, json=req.json, params=dict(req.params) or None,
            headers=headers, timeout=self._timeout(read_timeout),
        )

    def _http_response(self, response: httpx.Response) -> HttpResponse:
        return HttpResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            content=response.content,
            url=_safe_url(response.request.url),
        )

    def _error(self, response: HttpResponse) -> ProviderError:
        try:
            return self.protocol.parse_error(response)
        except AIError as exc:
            if isinstance(exc, ProviderError):
                return exc
            raise
        except Exception:
            log.debug("parse_error of %s failed; using the status alone", self.config.name,
                      exc_info=True)
            return self.protocol.error_for_status(response, response.text[:200])

    def _map(self, exc: httpx.HTTPError, *, streaming: bool = False) -> ProviderError:
        name = self.config.name
        where = self.config.base_url or "(no base_url)"
        if isinstance(exc, httpx.ConnectTimeout):
            return TimeoutError(f"{name}: connecting to {where} timed out after "
                                f"{self.config.connect_timeout}s", provider=name)
        if isinstance(exc, httpx.TimeoutException):
            what = "the stream went idle" if streaming else "no reply"
            return TimeoutError(f"{name}: {what} within the read timeout ({where})", provider=name)
        if isinstance(exc, httpx.ConnectError):
            return ProviderUnavailableError(
                f"{name}: could not connect to {where} ({exc}). Is the server up and the "
                f"base_url right?", provider=name,
            )
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return ProviderUnavailableError(
                f"{name}: the connection to {where} broke ({type(exc).__name__}: {exc})",
                provider=name,
            )
        return ProviderUnavailableError(f"{name}: request failed ({type(exc).__name__}: {exc})",
                                        provider=name)

    def _retrying(self, state: RetryState) -> Any:
        return stamina.retry_context(
            on=state.backoff, attempts=state.policy.attempts, timeout=state.policy.deadline,
        )

    def _check_deadline(self, state: RetryState) -> float:
        remaining = state.remaining
        if remaining <= 0:
            raise TimeoutError(
                f"{self.config.name}: the call's deadline of {state.policy.deadline}s passed "
                f"after {state.failures} attempt(s)",
                provider=self.config.name, retryable=False,
            )
        return remaining

    # -- plain requests -----------------------------------------------------------------------

    def send(self, req: HttpRequest, call: CallInfo, policy: RetryPolicy) -> HttpResponse:
        """Send ``req`` with retries; the response has status < 400, or a typed error is raised."""
        state = policy.start(self.config.name, call.operation)
        client = self.client
        for attempt in self._retrying(state):
            with attempt:
                call.attempts += 1
                read = min(self.config.timeout, self._check_deadline(state))
                try:
                    raw = client.send(self._build(client, req, read))
                except httpx.HTTPError as exc:
                    raise self._map(exc) from exc
                response = self._http_response(raw)
                if response.status >= 400:
                    raise self._error(response)
                return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def asend(self, req: HttpRequest, call: CallInfo, policy: RetryPolicy) -> HttpResponse:
        import asyncio

        state = policy.start(self.config.name, call.operation)
        client = self.aclient
        async for attempt in self._retrying(state):
            with attempt:
                call.attempts += 1
                remaining = self._check_deadline(state)
                read = min(self.config.timeout, remaining)
                try:
                    async with asyncio.timeout(remaining):
                        raw = await client.send(self._build(client, req, read))
                except httpx.HTTPError as exc:
                    raise self._map(exc) from exc
                except builtins.TimeoutError as exc:
                    raise TimeoutError(
                        f"{self.config.name}: the call's deadline of {state.policy.deadline}s "
                        f"passed", provider=self.config.name, retryable=False,
                    ) from exc
                response = self._http_response(raw)
                if response.status >= 400:
                    raise self._error(response)
                return response
        raise AssertionError("unreachable")  # pragma: no cover

    # -- streams ----------------------------------------------------------------------------

    def stream(self, req: HttpRequest, call: CallInfo, policy: RetryPolicy,
               decoder_factory: Any, acc: StreamAccumulator) -> Iterator[StreamChunk]:
        """Chunks of a streamed reply. Retried only until the first chunk is delivered; any
        later failure raises with everything received so far in ``partial``."""
        state = policy.start(self.config.name, call.operation)
        client = self.client
        opened: _Opened | None = None
        for attempt in self._retrying(state):
            with attempt:
                call.attempts += 1
                read = min(self.config.idle_timeout, self._check_deadline(state))
                try:
                    raw = client.send(self._build(client, req, read), stream=True)
                except httpx.HTTPError as exc:
                    raise self._map(exc) from exc
                try:
                    if raw.status_code >= 400:
                        raw.read()
                        raise self._error(self._http_response(raw))
                    opened = _Opened(req, raw, decoder_factory())
                    opened.bind(acc, self.protocol)
                    lines = raw.iter_lines()
                    opened.first = self._pull_first(opened, lines)
                except BaseException as exc:
                    raw.close()
                    if isinstance(exc, httpx.HTTPError):
                        raise self._map(exc, streaming=True) from exc
                    raise
                break
        assert opened is not None
        try:
            for chunk in opened.first:
                acc.add(chunk)
                yield chunk
            if not opened.ended:
                for line in lines:
                    for chunk in opened.feed(line):
                        acc.add(chunk)
                        yield chunk
                for chunk in opened.finish():
                    acc.add(chunk)
                    yield chunk
        except httpx.HTTPError as exc:
            raise self._interrupted(self._map(exc, streaming=True), acc, opened,
                                    connection=True) from exc
        except ProviderError as exc:
            raise self._interrupted(exc, acc, opened) from None
        finally:
            raw.close()

    async def astream(self, req: HttpRequest, call: CallInfo, policy: RetryPolicy,
                      decoder_factory: Any, acc: StreamAccumulator) -> AsyncIterator[StreamChunk]:
        state = policy.start(self.config.name, call.operation)
        client = self.aclient
        opened: _Opened | None = None
        async for attempt in self._retrying(state):
            with attempt:
                call.attempts += 1
                read = min(self.config.idle_timeout, self._check_deadline(state))
                try:
                    raw = await client.send(self._build(client, req, read), stream=True)
                except httpx.HTTPError as exc:
                    raise self._map(exc) from exc
                try:
                    if raw.status_code >= 400:
                        await raw.aread()
                        raise self._error(self._http_response(raw))
                    opened = _Opened(req, raw, decoder_factory())
                    opened.bind(acc, self.protocol)
                    alines = raw.aiter_lines()
                    opened.first = await self._apull_first(opened, alines)
                except BaseException as exc:
                    await raw.aclose()
                    if isinstance(exc, httpx.HTTPError):
                        raise self._map(exc, streaming=True) from exc
                    raise
                break
        assert opened is not None
        try:
            for chunk in opened.first:
                acc.add(chunk)
                yield chunk
            if not opened.ended:
                async for line in alines:
                    for chunk in opened.feed(line):
                        acc.add(chunk)
                        yield chunk
                for chunk in opened.finish():
                    acc.add(chunk)
                    yield chunk
        except httpx.HTTPError as exc:
            raise self._interrupted(self._map(exc, streaming=True), acc, opened,
                                    connection=True) from exc
        except ProviderError as exc:
            raise self._interrupted(exc, acc, opened) from None
        finally:
            await raw.aclose()

    def _pull_first(self, opened: _Opened, lines: Iterator[str]) -> list[StreamChunk]:
        """Read until the first chunk (or the end): failures up to here may be retried."""
        while True:
            try:
                line = next(lines)
            except StopIteration:
                opened.ended = True
                return list(opened.finish())
            chunks = list(opened.feed(line))
            if chunks:
                return chunks

    async def _apull_first(self, opened: _Opened, lines: AsyncIterator[str]) -> list[StreamChunk]:
        while True:
            try:
                line = await lines.__anext__()
            except StopAsyncIteration:
                opened.ended = True
                return list(opened.finish())
            chunks = list(opened.feed(line))
            if chunks:
                return chunks

    def _interrupted(self, error: ProviderError, acc: StreamAccumulator, opened: _Opened, *,
                     connection: bool = False) -> ProviderError:
        """``error`` with what arrived attached; a dropped connection becomes an interruption
        (a timeout stays a TimeoutError; errors the provider sent keep their type)."""
        partial = error.partial or acc.response(request_id=opened.request_id(self.protocol))
        if connection and not isinstance(error, TimeoutError):
            return StreamInterruptedError(
                f"{error.message}; the stream stopped after {acc.chunks} chunk(s) and what "
                f"arrived is in .partial", provider=error.provider, partial=partial,
            )
        error.partial = partial
        return error


class _Opened:
    """One open stream: its framer and the adapter's decoder."""

    def __init__(self, req: HttpRequest, raw: httpx.Response, decoder: StreamDecoder) -> None:
        self.raw = raw
        self.decoder = decoder
        self.framer: SSEFramer | NDJSONFramer = (
            NDJSONFramer() if req.stream == "ndjson" else SSEFramer()
        )
        self.first: list[StreamChunk] = []
        self.ended = False

    def feed(self, line: str) -> Any:
        event = self.framer.feed_line(line)
        return () if event is None else self.decoder.feed(event)

    def finish(self) -> Any:
        if self.framer.pending:
            raise StreamInterruptedError("the stream ended in the middle of an event")
        return self.decoder.end()

    def bind(self, acc: StreamAccumulator, protocol: ChatProtocol) -> None:
        """Give the accumulator what the headers say: request id and rate limits."""
        headers = {k.lower(): v for k, v in self.raw.headers.items()}
        acc.request_id = self.request_id(protocol)
        acc.rate_limit = protocol.rate_limit(headers)

    def request_id(self, protocol: ChatProtocol) -> str | None:
        header = protocol.request_id_header
        return self.raw.headers.get(header) if header else None


def _safe_url(url: httpx.URL) -> str:
    # Query strings can carry keys on some providers: keep them out of what we store.
    return str(url.copy_with(query=None)) if url.query else str(url)
