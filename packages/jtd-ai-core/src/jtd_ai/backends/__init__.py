"""The HTTP libraries under the core's transport, behind one small interface.

:class:`~jtd_ai.transport.Transport` owns retries, deadlines, framing and typed errors; a
backend only moves bytes, through a well-kept library:

- ``httpx_backend``: httpx, for sync calls (and async ones when ``http_backend = "httpx"``
  or the application hands in an ``httpx.AsyncClient`` or async transport);
- ``aiohttp_backend``: aiohttp, for async calls and batches (imported on first async use).

An application may hand in its own ``httpx.Client``/transport or ``aiohttp.ClientSession``;
then its own settings (proxies, TLS, instrumentation) apply. What must behave the same
whatever carries the bytes lives here, once, without I/O: reply bodies are read raw and
decoded by :class:`BodyDecoder` so sizes are capped after decompression; stream lines are
split by :class:`LineSplitter` in linear time, each capped; redirects are decided by
:func:`next_hop`.

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
    import aiohttp
    import httpx

#: What an application may hand the core to carry a provider's calls: an httpx transport
#: (sync, async or both, like ``httpx.MockTransport``), a whole httpx client, or an aiohttp
#: session (async calls only).
HTTPClientOption: TypeAlias = (
    "httpx.BaseTransport | httpx.AsyncBaseTransport | httpx.Client | httpx.AsyncClient"
    " | aiohttp.ClientSession")

__all__ = [
    "ACCEPT_ENCODING",
    "CREDENTIAL_HEADERS",
    "MAX_REDIRECTS",
    "USER_AGENT",
    "AsyncBackend",
    "AsyncReply",
    "BodyDecoder",
    "Failure",
    "HTTPClientOption",
    "HTTPFailure",
    "Limits",
    "LineSplitter",
    "Reply",
    "SyncBackend",
    "Timeouts",
    "next_hop",
    "proxy_for",
]

USER_AGENT = "jtd-ai/0.1"
#: What we accept; replies are decoded here (not by the library), so their size is capped
#: after decompression.
ACCEPT_ENCODING = "gzip, deflate"
#: Redirect hops followed before giving up.
MAX_REDIRECTS = 5
#: Largest piece a decoder hands on at once: a compressed bomb inflates a piece at a time.
_PIECE = 1 << 20


class Failure(enum.Enum):
    CONNECT = "connect"  # refused, unreachable, DNS
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"  # no byte within the read (or idle) timeout
    DEADLINE = "deadline"  # the whole call's time ran out
    BROKEN = "broken"  # the connection dropped or the peer broke the protocol
    TLS = "tls"  # the certificate was not trusted (or the handshake failed): no retry
    PROXY = "proxy"  # the proxy refused the tunnel (e.g. 407): no retry
    REDIRECT = "redirect"  # a redirect we do not follow: no retry
    TOO_LARGE = "too_large"  # a size cap was passed: no retry
    INVALID = "invalid"  # the request cannot be sent as given (a bad header or URL): no retry
    OTHER = "other"


class HTTPFailure(Exception):
    """A request that got no complete, usable HTTP reply, in the backend-neutral terms above.

    Backends raise it ``from None``: the HTTP library's own exception can quote a header
    (the API key), so it never rides along as the cause; ``detail`` is redacted."""

    def __init__(self, kind: Failure, detail: str, *, status: int | None = None) -> None:
        from jtd_ai.secret import redact

        detail = redact(detail)
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status


class Timeouts:
    """Seconds for one attempt: connect, each read (the idle timeout of a stream) and the
    whole attempt (None: only the read timeout bounds it)."""

    __slots__ = ("connect", "read", "total")

    def __init__(self, connect: float, read: float, total: float | None = None) -> None:
        self.connect = connect
        self.read = read
        self.total = total


class Limits:
    """Caps on what one reply may make us hold, in bytes: a whole decoded body, one line."""

    __slots__ = ("body", "line")

    def __init__(self, body: int, line: int) -> None:
        self.body = body
        self.line = line


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

    def read(self) -> bytes:
        """The whole body, decoded; TOO_LARGE past the body cap."""
        ...
    def lines(self) -> Iterator[str]:
        """The body's text lines, decoded; TOO_LARGE for a line past the line cap."""
        ...
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
    def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
             timeouts: Timeouts) -> Reply:
        """Send, follow redirects (:func:`next_hop`) and return the final reply unread."""
        ...

    def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        """Send and read the whole reply: (status, headers, body, url)."""
        ...

    def close(self) -> None: ...


class AsyncBackend(Protocol):
    async def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                   timeouts: Timeouts) -> AsyncReply: ...

    async def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]: ...

    async def close(self) -> None: ...


def too_large(what: str, limit: int, setting: str) -> HTTPFailure:
    return HTTPFailure(Failure.TOO_LARGE, f"{what} passed {limit:,} bytes (the {setting} "
                                          f"setting); nothing more was read")


class LineSplitter:
    """Bytes in, text lines out, ended by LF, CRLF or CR as the event-stream format allows.

    A chunk may end inside a line (or between CR and LF): that part waits, in a buffer that
    grows by appending, so a line of any length costs time linear in its bytes; a line
    longer than ``limit`` is a TOO_LARGE failure. Splitting bytes at line ends never cuts
    a UTF-8 character in two."""

    __slots__ = ("_limit", "_rest")

    def __init__(self, limit: int = 1 << 62) -> None:
        self._rest = bytearray()
        self._limit = limit

    def feed(self, chunk: bytes) -> list[str]:
        rest = self._rest
        if not rest and chunk.endswith(b"\n") and len(chunk) <= self._limit:
            # The usual block: whole lines, none over the limit (one event of a stream).
            return [line.decode("utf-8", "replace") for line in chunk.splitlines()]
        # The last line end in this chunk; a CR at its very end may be half of a CRLF.
        scan = chunk[:-1] if chunk.endswith(b"\r") else chunk
        end = max(scan.rfind(b"\n"), scan.rfind(b"\r"))
        if end < 0:
            rest += chunk
            if len(rest) > self._limit:
                raise self._too_long()
            return []
        head = chunk[:end + 1]
        if rest:
            rest += head
            head = bytes(rest)
            rest.clear()
        rest += chunk[end + 1:]
        lines = head.splitlines()
        if len(head) > self._limit and max(map(len, lines)) > self._limit:
            raise self._too_long()
        if len(rest) > self._limit:
            raise self._too_long()
        return [line.decode("utf-8", "replace") for line in lines]

    def end(self) -> list[str]:
        rest = bytes(self._rest)
        self._rest.clear()
        return [line.decode("utf-8", "replace") for line in rest.splitlines()]

    def _too_long(self) -> HTTPFailure:
        self._rest.clear()
        return too_large("one stream line", self._limit, "max_line_size")


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyDecoder:
    """Gunzips or inflates a reply body piece by piece (``deflate`` with or without its zlib
    wrapper, as servers send both; gzip of several members), never inflating more than a
    megabyte at once, so a compression bomb meets the size caps instead of filling memory.
    A corrupt body, or a gzip body that stops before its end, is a BROKEN failure; an empty
    body (HEAD, 204, 304) is empty. (A deflate stream has no end marker servers reliably
    send, so its end is not checked.)"""

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

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``data``, each at most a megabyte."""
        if not data:
            return
        self._fed = True
        if self._inflater is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return
            cmf, flg = data[0], data[1]
            wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._wbits = zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS
            self._inflater = zlib.decompressobj(self._wbits)
        try:
            while data:
                out = self._inflater.decompress(data, _PIECE)
                data = self._inflater.unconsumed_tail
                if out:
                    yield out
                if not data and self._wbits > zlib.MAX_WBITS and self._inflater.eof:
                    # gzip: a next member, after any zero padding
                    rest = self._inflater.unused_data.lstrip(b"\0")
                    if rest.startswith(b"\x1f\x8b"):  # else nothing, or trailing garbage,
                        self._inflater = zlib.decompressobj(self._wbits)  # ignored as gzip(1)
                        data = rest
        except zlib.error as exc:
            raise self._corrupt(str(exc)) from None

    def flush(self) -> bytes:
        """The rest, once the body has ended; a gzip body cut short is BROKEN."""
        if not self._fed:
            return b""
        if self._inflater is None:  # one byte in all: no compressed stream is that short
            raise self._corrupt("it ended before its first block")
        try:
            rest = bytes(self._inflater.flush(_PIECE))
        except zlib.error as exc:
            raise self._corrupt(str(exc)) from None
        if self._wbits > zlib.MAX_WBITS and not self._inflater.eof:
            raise self._corrupt("it ended before the compressed stream did")
        return rest

    def _corrupt(self, why: str) -> HTTPFailure:
        return HTTPFailure(Failure.BROKEN, f"the {self._encoding} body is corrupt: {why}")


class BodyReader:
    """What every backend's reply does with the raw bytes it receives: decode them
    (:class:`BodyDecoder`), cap the whole body at ``limits.body`` and split stream lines
    (:class:`LineSplitter`, capped at ``limits.line``). Sans-I/O: the sync and async
    replies only feed it."""

    __slots__ = ("_decoder", "_limits", "_parts", "_size", "_splitter")

    def __init__(self, headers: Mapping[str, str], limits: Limits) -> None:
        self._decoder = BodyDecoder.for_encoding(headers.get("content-encoding"))
        self._limits = limits
        self._parts: list[bytes] = []
        self._size = 0
        self._splitter: LineSplitter | None = None

    def already_decoded(self) -> None:
        """The bytes to come were decoded by the HTTP library (a reply an application's
        transport had read whole), so they are only capped and split."""
        self._decoder = None

    def add(self, raw: bytes) -> None:
        """Keep ``raw`` (decoded) for :meth:`body`."""
        for piece in (self._decoder.feed(raw) if self._decoder is not None else (raw,)):
            self._keep(piece)

    def body(self) -> bytes:
        if self._decoder is not None:
            self._keep(self._decoder.flush())
        return b"".join(self._parts)

    def _keep(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._size > self._limits.body:
            self._parts.clear()
            raise too_large("the reply", self._limits.body, "max_response_size")
        self._parts.append(piece)

    def lines(self, raw: bytes) -> list[str]:
        """The stream lines ``raw`` completes."""
        splitter = self._splitter
        if splitter is None:
            splitter = self._splitter = LineSplitter(self._limits.line)
        if self._decoder is None:
            return splitter.feed(raw)
        out: list[str] = []
        for piece in self._decoder.feed(raw):
            out += splitter.feed(piece)
        return out

    def last_lines(self) -> list[str]:
        """The lines left when the body ends."""
        splitter = self._splitter or LineSplitter(self._limits.line)
        out = splitter.feed(self._decoder.flush()) if self._decoder is not None else []
        return out + splitter.end()


#: Statuses that redirect, and the ones that keep the method and body.
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_KEEPS_METHOD = frozenset({307, 308})
#: Headers that carry credentials: never sent to another origin than the one they were for.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key",
                                "api-key", "x-goog-api-key"})


def next_hop(status: int, location: str | None, url: str, method: str,
             headers: dict[str, str], hops: int) -> tuple[str, dict[str, str]] | None:
    """Where a reply sends the request next, as ``(url, headers)``; None when it is final.

    The same rules for every backend: 307 and 308 are followed with the method and body
    kept, at most :data:`MAX_REDIRECTS` hops; any redirect of a GET is followed; a
    301/302/303 answering a POST is refused (following it would turn the call into a GET
    that drops its body), as is a hop from https to http; credentials headers are dropped
    when the origin changes. Refusals are REDIRECT failures naming the Location."""
    if status not in _REDIRECTS or not location:
        return None
    from urllib.parse import urljoin, urlsplit

    target = urljoin(url, location.strip())
    shown = target.partition("?")[0]
    if status not in _KEEPS_METHOD and method != "GET":
        raise HTTPFailure(Failure.REDIRECT, f"the server answered {status} with Location "
                          f"{shown}: a redirect that would turn this {method} into a GET; "
                          f"point base_url at the new address", status=status)
    if hops >= MAX_REDIRECTS:
        raise HTTPFailure(Failure.REDIRECT, f"more than {MAX_REDIRECTS} redirects (the last "
                          f"to {shown})", status=status)
    old, new = urlsplit(url), urlsplit(target)
    if new.scheme not in ("http", "https"):
        raise HTTPFailure(Failure.REDIRECT, f"a redirect to {shown}, which is not http(s)",
                          status=status)
    if old.scheme == "https" and new.scheme == "http":
        raise HTTPFailure(Failure.REDIRECT, f"a redirect from https to plain http ({shown}) "
                          f"was refused", status=status)
    if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
        headers = {name: value for name, value in headers.items() if name not in CREDENTIAL_HEADERS}
    return target, headers


def proxy_for(url: str) -> str | None:
    """The proxy the environment sets for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, lower-case forms too, minus ``NO_PROXY``), as httpx uses them; None when
    there is none."""
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
    if "://" not in proxy:
        proxy = "http://" + proxy
    return proxy
