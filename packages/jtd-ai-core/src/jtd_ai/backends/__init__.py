"""The HTTP clients under the core's transport, behind one small interface.

:class:`~jtd_ai.transport.Transport` owns retries, deadlines, framing and typed errors; a
backend only moves bytes. Three exist:

- ``sync_socket`` and ``async_pool``: the core's own HTTP/1.1 client, on blocking sockets
  for sync calls and on asyncio's for async calls and batches; both write each request in
  one piece and have llhttp (httptools) read the replies (``http11``), several times less
  CPU per request than httpx's or aiohttp's clients (docs/performance.md);
- ``httpx_client``: an httpx client, used when the application passes its own httpx
  transport or client, when ``http_backend = "httpx"`` is configured, or when a proxy is
  set in the environment (httpx reads ``HTTPS_PROXY`` and friends).

Backends raise :class:`HTTPFailure` (never their library's exceptions), so the transport
maps one set of failures to typed errors.
"""

from __future__ import annotations

import enum
import os
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    import ssl

    import httpx

#: What an application may hand the core to carry a provider's calls: an httpx transport
#: (sync, async or both, like ``httpx.MockTransport``) or a whole httpx client.
HTTPClientOption: TypeAlias = (
    "httpx.BaseTransport | httpx.AsyncBaseTransport | httpx.Client | httpx.AsyncClient")

__all__ = [
    "ACCEPT_ENCODING",
    "USER_AGENT",
    "AsyncBackend",
    "AsyncReply",
    "BodyDecoder",
    "Failure",
    "HTTPClientOption",
    "HTTPFailure",
    "LineSplitter",
    "Reply",
    "SyncBackend",
    "Timeouts",
    "host_header",
    "proxy_for",
    "ssl_context",
]

USER_AGENT = "jtd-ai/0.1"
#: What we accept, as httpx does without brotli or zstandard; replies are decoded here.
ACCEPT_ENCODING = "gzip, deflate"


class Failure(enum.Enum):
    CONNECT = "connect"  # refused, unreachable, DNS, TLS handshake
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"  # no byte within the read (or idle) timeout
    DEADLINE = "deadline"  # the whole call's time ran out
    BROKEN = "broken"  # the connection dropped or the peer broke the protocol
    INVALID = "invalid"  # the request cannot be sent as given (a bad header or URL): no retry
    OTHER = "other"


class HTTPFailure(Exception):
    """A request that got no complete HTTP reply, in the backend-neutral terms above.

    Backends raise it ``from None``: the HTTP library's own exception can quote a header
    (the API key), so it never rides along as the cause; ``detail`` is redacted."""

    def __init__(self, kind: Failure, detail: str) -> None:
        from jtd_ai.secret import redact

        detail = redact(detail)
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class Timeouts:
    """Seconds for one attempt: connect, each read (the idle timeout of a stream) and the
    whole attempt (None: only the read timeout bounds it)."""

    __slots__ = ("connect", "read", "total")

    def __init__(self, connect: float, read: float, total: float | None = None) -> None:
        self.connect = connect
        self.read = read
        self.total = total


class Reply(Protocol):
    """An open reply whose body has not been read yet (sync)."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]:
        """Lower-cased names."""
        ...
    @property
    def url(self) -> str: ...

    def read(self) -> bytes: ...
    def lines(self) -> Iterator[str]: ...
    def close(self) -> None: ...


class AsyncReply(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def url(self) -> str: ...

    async def read(self) -> bytes: ...
    def lines(self) -> AsyncIterator[str]: ...
    async def close(self) -> None: ...


class SyncBackend(Protocol):
    def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        """Send and read the whole reply: (status, headers, body, url)."""
        ...

    def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
             timeouts: Timeouts) -> Reply: ...

    def close(self) -> None: ...


class AsyncBackend(Protocol):
    async def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]: ...

    async def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                   timeouts: Timeouts) -> AsyncReply: ...

    async def close(self) -> None: ...


class LineSplitter:
    """Bytes in, text lines out, ended by LF, CRLF or CR as the event-stream format allows.

    A chunk may end inside a line (or between CR and LF): that part waits for the next
    chunk. Splitting bytes at line ends never cuts a UTF-8 character in two."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> list[str]:
        if not self._rest and chunk.endswith(b"\n"):  # whole lines: the usual chunk of a stream
            return [line.decode("utf-8", "replace") for line in chunk.splitlines()]
        if self._rest:
            chunk = self._rest + chunk
        lines = chunk.splitlines(keepends=True)
        if not lines:
            return []
        last = lines[-1]
        if last.endswith(b"\n"):
            self._rest = b""
        else:  # unfinished, or a CR whose LF may be in the next chunk
            self._rest = last
            del lines[-1]
        return [line.rstrip(b"\r\n").decode("utf-8", "replace") for line in lines]

    def end(self) -> list[str]:
        rest, self._rest = self._rest, b""
        return [line.decode("utf-8", "replace") for line in rest.splitlines()]


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyDecoder:
    """Gunzips or inflates a reply body piece by piece (``deflate`` with or without its zlib
    wrapper, as servers send both; gzip of several members). A corrupt body, or a gzip body
    that stops before its end, is a BROKEN failure; an empty body (HEAD, 204, 304) is empty.
    (A deflate stream has no end marker servers reliably send, so its end is not checked.)"""

    __slots__ = ("_encoding", "_fed", "_head", "_inflater", "_wbits")

    def __init__(self, encoding: str) -> None:
        wbits = _WBITS.get(encoding.strip().lower())
        if wbits is None:
            raise HTTPFailure(Failure.BROKEN, f"the reply is encoded as {encoding!r}, which we "
                              f"did not ask for")
        self._encoding = encoding
        self._wbits = wbits
        self._inflater: Any = zlib.decompressobj(wbits) if wbits != zlib.MAX_WBITS else None
        self._head = b""  # deflate: the first two bytes tell whether the wrapper is there
        self._fed = False

    @classmethod
    def for_encoding(cls, encoding: str | None) -> BodyDecoder | None:
        """A decoder for a ``Content-Encoding``, or None when the body is sent as it is
        (no header, ``identity``, or the non-standard ``none``)."""
        if not encoding or encoding == "identity":
            return None
        codings = [coding for coding in (part.strip().lower() for part in encoding.split(","))
                   if coding not in ("", "identity", "none")]
        if not codings:
            return None
        if len(codings) > 1:
            raise HTTPFailure(Failure.BROKEN, f"the reply is encoded as {encoding!r}: more "
                              f"than one coding, which we did not ask for")
        return cls(codings[0])

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._fed = True
        if self._inflater is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            cmf, flg = data[0], data[1]
            wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._wbits = zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS
            self._inflater = zlib.decompressobj(self._wbits)
        try:
            out = self._inflater.decompress(data)
            while self._wbits > zlib.MAX_WBITS and self._inflater.eof:  # gzip: next member
                rest = self._inflater.unused_data.lstrip(b"\0")  # padding after a member
                if not rest.startswith(b"\x1f\x8b"):
                    break  # nothing, or trailing garbage, ignored as gzip(1) does
                self._inflater = zlib.decompressobj(self._wbits)
                out += self._inflater.decompress(rest)
            return bytes(out)
        except zlib.error as exc:
            raise self._corrupt(str(exc)) from None

    def flush(self) -> bytes:
        """The rest, once the body has ended; a gzip body cut short is BROKEN."""
        if not self._fed:
            return b""
        if self._inflater is None:  # one byte in all: no compressed stream is that short
            raise self._corrupt("it ended before its first block")
        try:
            rest = bytes(self._inflater.flush())
        except zlib.error as exc:
            raise self._corrupt(str(exc)) from None
        if self._wbits > zlib.MAX_WBITS and not self._inflater.eof:
            raise self._corrupt("it ended before the compressed stream did")
        return rest

    def _corrupt(self, why: str) -> HTTPFailure:
        return HTTPFailure(Failure.BROKEN, f"the {self._encoding} body is corrupt: {why}")


def host_header(host: str, port: int | None, https: bool) -> str:
    """The ``Host`` header for a URL's host and port: IPv6 addresses in brackets, the port
    only when it is not the scheme's default."""
    if ":" in host:
        host = f"[{host}]"
    return host if port in (None, 443 if https else 80) else f"{host}:{port}"


def proxy_for(url: str) -> str | None:
    """The proxy the environment sets for ``url`` (``HTTPS_PROXY``, ``ALL_PROXY``...,
    minus ``NO_PROXY``), as httpx would use it; None when there is none."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None  # the usual case, decided without importing urllib.request (10 MB)
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or not parts.hostname:
        return None
    if urllib.request.proxy_bypass(parts.hostname):
        return None
    return proxy


def ssl_context() -> ssl.SSLContext:
    """TLS settings as httpx makes them: certifi's CA bundle unless ``SSL_CERT_FILE`` or
    ``SSL_CERT_DIR`` name others."""
    import ssl

    cafile = os.environ.get("SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    if not cafile and not capath:
        import certifi

        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile, capath=capath)
