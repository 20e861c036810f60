"""Sync calls on httpcore's connection pool: httpx's connection layer, minus the client layer.

httpx's ``Client`` adds URL merging, cookies, auth and redirect handling around httpcore;
the core needs none of it (it builds whole URLs and headers itself), and on a fast server
that layer costs more than the request. Proxies are not handled here: the transport uses
the httpx backend when the environment sets one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore

from jtd_ai.backends import (
    ACCEPT_ENCODING,
    BodyDecoder,
    Failure,
    HTTPFailure,
    LineSplitter,
    Timeouts,
    host_header,
    ssl_context,
)

__all__ = ["SyncPool"]

_TIMEOUT_KINDS: dict[type[Exception], Failure] = {
    httpcore.ConnectTimeout: Failure.CONNECT_TIMEOUT,
    httpcore.PoolTimeout: Failure.CONNECT_TIMEOUT,
    httpcore.ReadTimeout: Failure.READ_TIMEOUT,
    httpcore.WriteTimeout: Failure.READ_TIMEOUT,
}


def _failure(exc: Exception) -> HTTPFailure:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    kind = _TIMEOUT_KINDS.get(type(exc))
    if kind is None:
        if isinstance(exc, httpcore.LocalProtocolError | httpcore.UnsupportedProtocol
                      | ValueError | TypeError):
            kind = Failure.INVALID
        elif isinstance(exc, httpcore.ConnectError):
            kind = Failure.CONNECT
        elif isinstance(exc, httpcore.NetworkError | httpcore.ProtocolError):
            kind = Failure.BROKEN
        else:
            kind = Failure.OTHER
    return HTTPFailure(kind, detail)


def _decoded(chunks: Iterable[bytes], encoding: str | None) -> Iterator[bytes]:
    """The body bytes, gunzipped or inflated when the reply says it is compressed."""
    decoder = BodyDecoder.for_encoding(encoding)
    if decoder is None:
        yield from chunks
        return
    for chunk in chunks:
        yield decoder.feed(chunk)
    yield decoder.flush()


class _Reply:
    """A streamed reply on a pooled connection; ``close`` returns the connection."""

    __slots__ = ("_response", "headers", "status", "url")

    def __init__(self, response: httpcore.Response, url: str) -> None:
        self._response = response
        self.status = response.status
        self.headers = _headers(response.headers)
        self.url = url

    def _chunks(self) -> Iterable[bytes]:
        raw: Iterable[bytes] = self._response.stream  # type: ignore[assignment]
        encoding = self.headers.get("content-encoding")
        return raw if not encoding or encoding == "identity" else _decoded(raw, encoding)

    def read(self, ends_at: float | None = None) -> bytes:
        """The whole body; past ``ends_at`` (``time.monotonic()``), a DEADLINE failure
        (each read waits at most the read timeout; this bounds a body that trickles)."""
        try:
            if ends_at is None:
                return b"".join(self._chunks())
            parts = []
            for part in self._chunks():
                parts.append(part)
                if time.monotonic() > ends_at:
                    raise HTTPFailure(Failure.DEADLINE, "the reply was still arriving")
            return b"".join(parts)
        except (httpcore.TimeoutException, httpcore.NetworkError,
                httpcore.ProtocolError) as exc:
            raise _failure(exc) from None

    def lines(self) -> Iterator[str]:
        splitter = LineSplitter()
        try:
            for chunk in self._chunks():
                yield from splitter.feed(chunk)
        except (httpcore.TimeoutException, httpcore.NetworkError,
                httpcore.ProtocolError) as exc:
            raise _failure(exc) from None
        yield from splitter.end()

    def close(self) -> None:
        self._response.close()


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}


class SyncPool:
    """One provider's sync connections; safe to share across threads."""

    def __init__(self, *, max_connections: int = 200, max_keepalive: int = 100,
                 keepalive_expiry: float = 30.0, https: bool = True) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context() if https else None,
            max_connections=max_connections, max_keepalive_connections=max_keepalive,
            keepalive_expiry=keepalive_expiry,
        )
        self._urls: dict[str, tuple[httpcore.URL, str]] = {}
        self._lock = threading.Lock()

    def _url(self, url: str) -> tuple[httpcore.URL, str]:
        known = self._urls.get(url)
        if known is None:
            parsed = httpcore.URL(url)
            known = (parsed, host_header(parsed.host.decode("ascii"), parsed.port,
                                         parsed.scheme == b"https"))
            with self._lock:
                if len(self._urls) > 512:  # paths with model names or page tokens vary
                    self._urls.clear()
                self._urls[url] = known
        return known

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeouts: Timeouts) -> httpcore.Response:
        target, host = self._url(url)
        pairs: list[tuple[str, str]] = [("Host", host), *headers.items()]
        if not any(name.lower() == "accept-encoding" for name in headers):
            pairs.append(("Accept-Encoding", ACCEPT_ENCODING))
        if body is not None:
            pairs.append(("Content-Length", str(len(body))))
        extensions: dict[str, Any] = {"timeout": {
            "connect": timeouts.connect, "read": timeouts.read, "write": timeouts.read,
            "pool": timeouts.connect,
        }}
        try:
            request = httpcore.Request(method, target, headers=pairs, content=body,
                                       extensions=extensions)
            return self._pool.handle_request(request)
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                httpcore.UnsupportedProtocol, httpcore.ProxyError, ValueError,
                TypeError) as exc:
            raise _failure(exc) from None

    def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        ends_at = None if timeouts.total is None else time.monotonic() + timeouts.total
        response = self._send(method, url, headers, body, timeouts)
        reply = _Reply(response, url)
        try:
            content = reply.read(ends_at)
        finally:
            response.close()
        return reply.status, reply.headers, content, url

    def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
             timeouts: Timeouts) -> _Reply:
        return _Reply(self._send(method, url, headers, body, timeouts), url)

    def close(self) -> None:
        self._pool.close()
