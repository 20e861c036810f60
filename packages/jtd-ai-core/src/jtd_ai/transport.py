"""The core's I/O, written once: pooled connections, timeouts, retries, stream framing.

One :class:`Transport` per provider sends the :class:`~jtd_ai.wire.HttpRequest` a protocol
adapter describes and hands back an :class:`~jtd_ai.wire.HttpResponse`, or for streams,
framed events run through the adapter's decoder. The bytes travel through a backend
(:mod:`jtd_ai.backends`: httpx for sync calls, aiohttp for async calls and batches, or the
client the application hands us), built from one network policy (TLS, proxies, size caps);
their failures become our typed errors here and nowhere else.

The first attempt runs outside the retry loop: most calls succeed at once, and they should
not pay for the loop. A failure worth retrying enters stamina's loop (so
``stamina.set_testing`` and ``stamina.set_active`` keep working), which waits and tries again.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from jtd_ai.backends import (
    ACCEPT_ENCODING,
    USER_AGENT,
    AsyncBackend,
    AsyncReply,
    Failure,
    HTTPFailure,
    Reply,
    SyncBackend,
    Timeouts,
)
from jtd_ai.backends.network import Network, basic_auth, split_credentials
from jtd_ai.errors import (
    AIError,
    ConfigurationError,
    ProviderError,
    ProviderUnavailableError,
    ResponseTooLargeError,
    StreamInterruptedError,
    TimeoutError,
    ValidationError,
)
from jtd_ai.framing import NDJSONFramer, SSEFramer
from jtd_ai.retry import RetryPolicy, RetryState
from jtd_ai.secret import redact
from jtd_ai.wire import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from jtd_ai.calls import CallInfo
    from jtd_ai.config import ProviderConfig
    from jtd_ai.protocol import ChatProtocol, StreamDecoder
    from jtd_ai.responses import StreamChunk
    from jtd_ai.streaming import StreamAccumulator

__all__ = ["Transport"]

log = logging.getLogger("jtd_ai.transport")

T = TypeVar("T")

_now = time.monotonic

#: Values of the ``http_backend`` provider option.
BACKENDS = ("auto", "httpx")


#: Compact UTF-8 JSON, as httpx sends it; one encoder, built once (json.dumps builds one
#: per call when given options).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _encode(body: Any) -> bytes:
    return _ENCODER.encode(body).encode("utf-8")


class Transport:
    """Sends one provider's requests; safe to share across threads and tasks.

    ``transport`` may be an httpx transport or client (sync, async or both) or an aiohttp
    ``ClientSession`` (async); calls of the kind it serves go through it, with its own
    network settings, the others through clients built from the provider's config."""

    def __init__(self, protocol: ChatProtocol, config: ProviderConfig, *,
                 transport: Any = None) -> None:
        _TRANSPORTS.add(self)
        self.protocol = protocol
        self.config = config
        self._given = transport
        self._sync: SyncBackend | None = None
        self._async: AsyncBackend | None = None
        self._lock = threading.Lock()
        # JTD_AI_HTTP_BACKEND=httpx moves every provider's async calls onto httpx at once (a
        # test suite mocking with respx); a provider's own setting wins.
        backend = config.option("http_backend",
                                os.environ.get("JTD_AI_HTTP_BACKEND") or "auto")
        if backend not in BACKENDS:
            raise ConfigurationError(
                f"providers.{config.name}.http_backend (or JTD_AI_HTTP_BACKEND) must be one of "
                f"{', '.join(BACKENDS)}, not {backend!r}")
        self._backend_choice: str = backend
        self.network = Network(config)
        base, user, password = split_credentials(config.base_url or "")
        if password:
            from jtd_ai.secret import Secret

            Secret(password)  # remembered: redact() strips it from every error and log line
        base = _checked_base(config.name, base)
        self._base = base if base.endswith("/") else base + "/"
        self._where = base or "(no base_url)"
        self._static_headers = {"user-agent": USER_AGENT, "accept-encoding": ACCEPT_ENCODING,
                                **{name.lower(): value for name, value in config.headers.items()}}
        if user is not None:  # https://user:pass@host/v1: Basic auth, as httpx and aiohttp do
            if any(name.lower() == "authorization" for name in protocol.auth_headers()):
                raise ConfigurationError(
                    f"providers.{config.name}.base_url holds a user and password, and the "
                    f"driver also sends its own Authorization header (the api_key): keep "
                    f"one of the two")
            self._static_headers["authorization"] = basic_auth(user, password)

    # -- backends ---------------------------------------------------------------------------

    @property
    def sync_backend(self) -> SyncBackend:
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    self._sync = self._make_sync()
        return self._sync

    def _make_sync(self) -> SyncBackend:
        from jtd_ai.backends.httpx_backend import HttpxSync

        given = self._given
        if given is not None and "httpx" in sys.modules:
            import httpx

            if isinstance(given, httpx.Client):
                return HttpxSync(self.network, client=given)
            if isinstance(given, httpx.BaseTransport):
                return HttpxSync(self.network, transport=given, fixed=self._static_headers)
        return HttpxSync(self.network, fixed=self._static_headers)

    @property
    def async_backend(self) -> AsyncBackend:
        if self._async is None:
            with self._lock:
                if self._async is None:
                    self._async = self._make_async()
        return self._async

    def _make_async(self) -> AsyncBackend:
        given = self._given
        if given is not None and "aiohttp" in sys.modules:
            import aiohttp

            if isinstance(given, aiohttp.ClientSession):
                from jtd_ai.backends.aiohttp_backend import AiohttpAsync

                return AiohttpAsync(self.network, session=given)
        if given is not None and "httpx" in sys.modules:
            import httpx

            from jtd_ai.backends.httpx_backend import HttpxAsync

            if isinstance(given, httpx.AsyncClient):
                return HttpxAsync(self.network, client=given)
            if isinstance(given, httpx.AsyncBaseTransport):
                return HttpxAsync(self.network, transport=given)
        if self._backend_choice == "httpx":
            from jtd_ai.backends.httpx_backend import HttpxAsync

            return HttpxAsync(self.network)
        from jtd_ai.backends.aiohttp_backend import AiohttpAsync

        return AiohttpAsync(self.network)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        """Close the async connections of the running event loop."""
        if self._async is not None:
            await self._async.close()

    # -- building ---------------------------------------------------------------------------

    def _prepare(self, req: HttpRequest) -> tuple[str, dict[str, str], bytes | None]:
        """The URL, headers and body bytes of ``req``."""
        path = req.path
        absolute = path.startswith(("http://", "https://"))
        url = path if absolute else self._base + path.lstrip("/")
        if req.params:
            url += ("&" if "?" in url else "?") + urlencode(req.params)
        # Names lower-cased, so a header given twice (config, protocol, request) is sent once:
        # the request's wins, then the protocol's, then the config's.
        headers = dict(self._static_headers)
        for name, value in self.protocol.auth_headers().items():
            headers[name.lower()] = value
        for name, value in req.headers.items():
            headers[name.lower()] = value
        body = None
        if req.json is not None:
            try:
                body = _encode(req.json)
            except (TypeError, ValueError, RecursionError) as exc:  # the last line of defence:
                raise ValidationError(  # what a driver built is not JSON; nothing is sent
                    f"{self.config.name}: the request body cannot be encoded as JSON "
                    f"({type(exc).__name__}: {redact(str(exc))[:200]})") from None
            headers.setdefault("content-type", "application/json")
        elif req.content is not None:
            body = req.content
        if req.stream == "sse":
            headers.setdefault("accept", "text/event-stream")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s body=%s", self.config.name, req.method, req.path,
                      redact(repr(req.json))[:4000])
        return url, headers, body

    def _error(self, response: HttpResponse) -> ProviderError:
        """The typed error of an HTTP error reply; a server-side failure names the URL."""
        try:
            error = self.protocol.parse_error(response)
        except AIError as exc:
            if not isinstance(exc, ProviderError):
                raise
            error = exc
        except Exception:
            log.debug("parse_error of %s failed; using the status alone", self.config.name,
                      exc_info=True)
            error = self.protocol.error_for_status(response, response.text[:200])
        if (isinstance(error, ProviderUnavailableError) and response.url
                and response.url not in error.message):
            _amend(error, f"{error.message} (at {response.url})")
        return error

    def _map(self, exc: HTTPFailure, state: RetryState | None = None, *,
             streaming: bool = False, deadline_bound: bool = False) -> AIError:
        """Our typed error for a failure; ``deadline_bound`` says the attempt's read timeout
        was cut down to the time left before the deadline, so its timeout is the deadline."""
        name = self.config.name
        where = self._where
        kind = exc.kind
        if kind is Failure.READ_TIMEOUT and deadline_bound:
            kind = Failure.DEADLINE
        if kind is Failure.CONNECT_TIMEOUT:
            return TimeoutError(f"{name}: connecting to {where} timed out after "
                                f"{self.config.connect_timeout}s", provider=name)
        if kind is Failure.READ_TIMEOUT:
            what = "the stream went idle" if streaming else "no reply"
            return TimeoutError(f"{name}: {what} within the read timeout ({where})", provider=name)
        if kind is Failure.DEADLINE:
            deadline = state.policy.deadline if state is not None else self.config.deadline
            return TimeoutError(f"{name}: the call's deadline of {deadline}s passed "
                                f"({where})", provider=name, retryable=False)
        if kind is Failure.TOO_LARGE:
            return ResponseTooLargeError(f"{name}: {exc.detail} ({where})", provider=name,
                                         retryable=False)
        if kind is Failure.TLS:
            return ProviderUnavailableError(
                f"{name}: the TLS connection to {where} failed ({exc.detail}). If the server's "
                f"certificate comes from a private CA, set ca_bundle, or trust_store = "
                f"\"system\" for the operating system's store", provider=name, retryable=False)
        if kind is Failure.PROXY:
            return ProviderUnavailableError(
                f"{name}: the proxy refused to connect to {where} ({exc.detail}); check the "
                f"proxy setting or HTTPS_PROXY and its credentials", provider=name,
                status=exc.status, retryable=False)
        if kind is Failure.REDIRECT:
            return ProviderError(f"{name}: {exc.detail} ({where})", provider=name,
                                 status=exc.status)
        if kind is Failure.INVALID:  # never sent: sending again cannot help
            return ConfigurationError(
                f"{name}: the request cannot be sent ({exc.detail}); check the provider's "
                f"base_url, api_key and headers")
        if kind is Failure.CONNECT:
            return ProviderUnavailableError(
                f"{name}: could not connect to {where} ({exc.detail}). Is the server up and "
                f"the base_url right?", provider=name,
            )
        if kind is Failure.BROKEN:
            return ProviderUnavailableError(
                f"{name}: the connection to {where} broke ({exc.detail})", provider=name)
        return ProviderUnavailableError(f"{name}: request failed ({exc.detail})", provider=name)

    def _check_deadline(self, state: RetryState) -> float:
        remaining = state.remaining
        if remaining <= 0:
            raise self._deadline(state)
        return remaining

    def _deadline(self, state: RetryState) -> TimeoutError:
        tried = f" after {state.failures} failed attempt(s)" if state.failures else ""
        return TimeoutError(
            f"{self.config.name}: the call's deadline of {state.policy.deadline}s passed{tried}",
            provider=self.config.name, retryable=False,
        )

    # -- retries ----------------------------------------------------------------------------

    def _retry(self, first: ProviderError, state: RetryState, attempt: Callable[[], T]) -> T:
        """Go on after a failed first attempt: stamina waits (or gives up) on ``first``,
        then runs ``attempt`` until it succeeds or the policy says stop."""
        if not first.retryable or state.policy.attempts <= 1:
            state.failures += 1
            raise first
        import stamina  # only once a call fails: most processes never need it

        pending: ProviderError | None = first
        try:
            for retry in stamina.retry_context(on=state.backoff,
                                               attempts=state.policy.attempts + 1, timeout=None):
                with retry:
                    if pending is not None:
                        error, pending = pending, None
                        raise error
                    return attempt()
        except ProviderError as exc:
            raise _gave_up(exc, state) from exc.__cause__
        raise AssertionError("unreachable")  # pragma: no cover

    async def _aretry(self, first: ProviderError, state: RetryState,
                      attempt: Callable[[], Awaitable[T]]) -> T:
        if not first.retryable or state.policy.attempts <= 1:
            state.failures += 1
            raise first
        import stamina

        pending: ProviderError | None = first
        try:
            async for retry in stamina.retry_context(on=state.backoff,
                                                     attempts=state.policy.attempts + 1,
                                                     timeout=None):
                with retry:
                    if pending is not None:
                        error, pending = pending, None
                        raise error
                    return await attempt()
        except ProviderError as exc:
            raise _gave_up(exc, state) from exc.__cause__
        raise AssertionError("unreachable")  # pragma: no cover

    # -- plain requests -----------------------------------------------------------------------

    def send(self, req: HttpRequest, call: CallInfo, policy: RetryPolicy) -> HttpResponse:
        """Send ``req`` with retries; the response has status < 400, or a typed error is raised."""
        state = policy.start(self.config.name, call.operation)
        url, headers, body = self._prepare(req)
        backend = self.sync_backend

        def attempt() -> HttpResponse:
            call.attempts += 1
            remaining = self._check_deadline(state)
            read = min(self.config.timeout, remaining)
            try:
                status, got, content, where = backend.fetch(
                    req.method, url, headers, body,
                    Timeouts(self.config.connect_timeout, read, remaining))
            except HTTPFailure as exc:
                raise self._map(exc, state, deadline_bound=read == remaining) from exc
            response = HttpResponse(status, got, content, where.partition("?")[0])
            if status >= 300:  # a redirect not followed is an error too
                raise self._error(response)
            return response

        try:
            return attempt()
        except ProviderError as first:
            return self._retry(first, state, attempt)

    async def asend(self, req: HttpRequest, call: CallInfo, policy: RetryPolicy) -> HttpResponse:
        state = policy.start(self.config.name, call.operation)
        url, headers, body = self._prepare(req)
        backend = self.async_backend

        async def attempt() -> HttpResponse:
            call.attempts += 1
            remaining = self._check_deadline(state)
            read = min(self.config.timeout, remaining)
            try:
                status, got, content, where = await backend.fetch(
                    req.method, url, headers, body,
                    Timeouts(self.config.connect_timeout, read, remaining))
            except HTTPFailure as exc:
                raise self._map(exc, state, deadline_bound=read == remaining) from exc
            response = HttpResponse(status, got, content, where.partition("?")[0])
            if status >= 300:  # a redirect not followed is an error too
                raise self._error(response)
            return response

        try:
            return await attempt()
        except ProviderError as first:
            return await self._aretry(first, state, attempt)

    # -- streams ----------------------------------------------------------------------------

    def stream(self, req: HttpRequest, call: CallInfo, policy: RetryPolicy,
               decoder_factory: Any, acc: StreamAccumulator) -> Iterator[StreamChunk]:
        """Chunks of a streamed reply. Retried only until the first chunk is delivered; any
        later failure raises with everything received so far in ``partial``."""
        state = policy.start(self.config.name, call.operation)
        url, headers, body = self._prepare(req)
        backend = self.sync_backend

        def attempt() -> tuple[_Opened, Reply, Iterator[str]]:
            call.attempts += 1
            remaining = self._check_deadline(state)
            read = min(self.config.idle_timeout, remaining)
            bound = read == remaining
            try:  # the deadline bounds the wait for the headers and every later read
                reply = backend.open(req.method, url, headers, body,
                                     Timeouts(self.config.connect_timeout, read, remaining))
            except HTTPFailure as exc:
                raise self._map(exc, state, deadline_bound=bound) from exc
            try:
                if reply.status >= 300:
                    content = reply.read()
                    raise self._error(HttpResponse(reply.status, reply.headers, content,
                                                   reply.url.partition("?")[0]))
                opened = _Opened(req, reply.headers, decoder_factory(),
                                 self.config.max_line_size)
                opened.bind(acc, self.protocol)
                lines = reply.lines()
                opened.first = self._pull_first(opened, lines, state)
            except BaseException as exc:
                reply.close()
                if isinstance(exc, HTTPFailure):
                    raise self._map(exc, state, streaming=True, deadline_bound=bound) from exc
                raise
            opened.deadline_bound = bound
            return opened, reply, lines

        try:
            opened, reply, lines = attempt()
        except ProviderError as first:
            opened, reply, lines = self._retry(first, state, attempt)
        add = acc.add
        try:
            for chunk in opened.first:
                add(chunk)
                yield chunk
            if not opened.ended:
                frame = opened.framer.feed_line
                decode = opened.decoder.feed
                end = state.ends_at
                for line in lines:
                    if _now() > end:  # every line: keep-alive comments must not outlive it
                        raise self._deadline(state)
                    event = frame(line)
                    if event is not None:
                        for chunk in decode(event):
                            add(chunk)
                            yield chunk
                for chunk in opened.finish():
                    add(chunk)
                    yield chunk
        except HTTPFailure as exc:
            error = self._map(exc, state, streaming=True, deadline_bound=opened.deadline_bound)
            if not isinstance(error, ProviderError):
                raise error from exc
            raise self._interrupted(error, acc, opened, connection=True) from exc
        except ProviderError as exc:
            raise self._interrupted(exc, acc, opened) from None
        finally:
            reply.close()

    async def astream(self, req: HttpRequest, call: CallInfo, policy: RetryPolicy,
                      decoder_factory: Any, acc: StreamAccumulator) -> AsyncIterator[StreamChunk]:
        state = policy.start(self.config.name, call.operation)
        url, headers, body = self._prepare(req)
        backend = self.async_backend

        async def attempt() -> tuple[_Opened, AsyncReply, AsyncIterator[str]]:
            call.attempts += 1
            remaining = self._check_deadline(state)
            read = min(self.config.idle_timeout, remaining)
            bound = read == remaining
            try:  # the deadline bounds the wait for the headers and every later read
                reply = await backend.open(req.method, url, headers, body,
                                           Timeouts(self.config.connect_timeout, read, remaining))
            except HTTPFailure as exc:
                raise self._map(exc, state, deadline_bound=bound) from exc
            try:
                if reply.status >= 300:
                    content = await reply.read()
                    raise self._error(HttpResponse(reply.status, reply.headers, content,
                                                   reply.url.partition("?")[0]))
                opened = _Opened(req, reply.headers, decoder_factory(),
                                 self.config.max_line_size)
                opened.bind(acc, self.protocol)
                alines = reply.lines()
                opened.first = await self._apull_first(opened, alines, state)
            except BaseException as exc:
                await reply.close()
                if isinstance(exc, HTTPFailure):
                    raise self._map(exc, state, streaming=True, deadline_bound=bound) from exc
                raise
            opened.deadline_bound = bound
            return opened, reply, alines

        try:
            opened, reply, alines = await attempt()
        except ProviderError as first:
            opened, reply, alines = await self._aretry(first, state, attempt)
        add = acc.add
        try:
            for chunk in opened.first:
                add(chunk)
                yield chunk
            if not opened.ended:
                frame = opened.framer.feed_line
                decode = opened.decoder.feed
                end = state.ends_at
                async for line in alines:
                    if _now() > end:  # every line: keep-alive comments must not outlive it
                        raise self._deadline(state)
                    event = frame(line)
                    if event is not None:
                        for chunk in decode(event):
                            add(chunk)
                            yield chunk
                for chunk in opened.finish():
                    add(chunk)
                    yield chunk
        except HTTPFailure as exc:
            error = self._map(exc, state, streaming=True, deadline_bound=opened.deadline_bound)
            if not isinstance(error, ProviderError):
                raise error from exc
            raise self._interrupted(error, acc, opened, connection=True) from exc
        except ProviderError as exc:
            raise self._interrupted(exc, acc, opened) from None
        finally:
            await reply.close()

    def _pull_first(self, opened: _Opened, lines: Iterator[str],
                    state: RetryState) -> list[StreamChunk]:
        """Read until the first chunk (or the end): failures up to here may be retried."""
        end = state.ends_at
        for line in lines:
            if _now() > end:
                raise self._deadline(state)
            chunks = list(opened.feed(line))
            if chunks:
                return chunks
        opened.ended = True
        return list(opened.finish())

    async def _apull_first(self, opened: _Opened, lines: AsyncIterator[str],
                           state: RetryState) -> list[StreamChunk]:
        end = state.ends_at
        async for line in lines:
            if _now() > end:
                raise self._deadline(state)
            chunks = list(opened.feed(line))
            if chunks:
                return chunks
        opened.ended = True
        return list(opened.finish())

    def _interrupted(self, error: ProviderError, acc: StreamAccumulator, opened: _Opened, *,
                     connection: bool = False) -> ProviderError:
        """``error`` with what arrived attached; a dropped connection becomes an interruption
        (a timeout stays a TimeoutError; errors the provider sent keep their type)."""
        partial = error.partial or acc.response(request_id=opened.request_id(self.protocol))
        if connection and not isinstance(error, TimeoutError | ResponseTooLargeError):
            return StreamInterruptedError(
                f"{error.message}; the stream stopped after {acc.chunks} chunk(s) and what "
                f"arrived is in .partial", provider=error.provider, partial=partial,
            )
        error.partial = partial
        return error


#: Every transport, so a forked child starts each with no connection of its parent's: the
#: parent's pooled sockets (and a lock another thread may have held) are not the child's.
_TRANSPORTS: weakref.WeakSet[Transport] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for transport in list(_TRANSPORTS):
        transport._lock = threading.Lock()
        transport._sync = None  # forgotten, not closed: the sockets are the parent's
        transport._async = None


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Opened:
    """One open stream: its framer and the adapter's decoder."""

    def __init__(self, req: HttpRequest, headers: Any, decoder: StreamDecoder,
                 max_event: int) -> None:
        self.headers = headers
        self.decoder = decoder
        self.framer: SSEFramer | NDJSONFramer = (
            NDJSONFramer() if req.stream == "ndjson" else SSEFramer(max_event)
        )
        self.first: list[StreamChunk] = []
        self.ended = False
        #: Whether the read timeout was cut down to the time left before the deadline.
        self.deadline_bound = False

    def feed(self, line: str) -> Any:
        event = self.framer.feed_line(line)
        return () if event is None else self.decoder.feed(event)

    def finish(self) -> Any:
        if self.framer.pending:
            raise StreamInterruptedError("the stream ended in the middle of an event")
        return self.decoder.end()

    def bind(self, acc: StreamAccumulator, protocol: ChatProtocol) -> None:
        """Give the accumulator what the headers say: request id and rate limits."""
        acc.request_id = self.request_id(protocol)
        acc.rate_limit = protocol.rate_limit(self.headers)

    def request_id(self, protocol: ChatProtocol) -> str | None:
        header = protocol.request_id_header
        return self.headers.get(header.lower()) if header else None


def _amend(error: ProviderError, message: str) -> None:
    """Replace ``error``'s message (still without secrets)."""
    error.message = redact(message)
    error.args = (error.message,)


def _gave_up(error: ProviderError, state: RetryState) -> ProviderError:
    """``error``, saying how many attempts were made when there was more than one."""
    if state.failures > 1 and "attempts" not in error.message:
        _amend(error, f"{error.message}; gave up after {state.failures} attempts")
    return error


def _checked_base(provider: str, base: str) -> str:
    """``base`` as a URL the HTTP clients can send to, or a ConfigurationError that says why
    (before any request is made). Spaces and other characters URLs do not allow are
    percent-encoded, as httpx did."""
    from urllib.parse import quote, urlsplit

    if not base:
        return base
    problem = None
    if not base.isascii():
        problem = ("it is not ASCII: write an international domain name in its punycode "
                   "(xn--) form")
    else:
        try:
            parts = urlsplit(base)
            parts.port  # noqa: B018 - raises ValueError when out of range
        except ValueError as exc:
            problem = str(exc)
        else:
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problem = "it needs http:// or https:// and a host"
    if problem is not None:
        raise ConfigurationError(f"providers.{provider}.base_url {base!r} cannot be used: "
                                 f"{problem}")
    return quote(base, safe=":/?#[]@!$&'()*+,;=%~")
