"""HTTP/1.1 without I/O, shared by the core's sync and async clients: where a URL's requests
go, the request's bytes (headers checked before anything is sent) and the reply as llhttp
(Node.js's parser, through httptools) reads it.

llhttp, in C, is why these clients are fast: a reply's status line, headers and chunked body
are parsed in one call per piece received. The I/O around it (blocking sockets, asyncio) is
each client's own.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote, urlsplit

import httptools

from jtd_ai.backends import ACCEPT_ENCODING, BodyDecoder, Failure, HTTPFailure, host_header

__all__ = [
    "OpenReply", "Origin", "Origins", "ReplyParser", "checked", "place_timed_out",
    "request_bytes", "whole_body",
]

#: The most header bytes a reply may send (as h11 and aiohttp allow).
_MAX_HEADER_BYTES = 64 * 1024
#: Header names are tokens (RFC 9110); values may not break a line or hold NUL.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BREAKS = re.compile(r"[\r\n\x00]")
#: What a request target may hold raw; the rest is percent-encoded (``%`` kept: escapes stay).
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"


class Origin:
    """Where a URL's requests go, worked out once per URL."""

    __slots__ = ("host", "host_header", "key", "port", "ssl", "target")

    def __init__(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise HTTPFailure(Failure.INVALID, f"the URL cannot be used: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HTTPFailure(Failure.INVALID, "the URL is not an http(s) URL with a host")
        self.ssl = parts.scheme == "https"
        self.host = parts.hostname
        self.port = port or (443 if self.ssl else 80)
        self.host_header = host_header(self.host, port, self.ssl)
        path = parts.path or "/"
        target = f"{path}?{parts.query}" if parts.query else path
        self.target = quote(target, safe=_TARGET_SAFE)
        self.key = (self.ssl, self.host, self.port)


class Origins:
    """Each URL's :class:`Origin`, worked out once (bounded: paths with model names or page
    tokens vary); safe to share across threads."""

    def __init__(self) -> None:
        self._known: dict[str, Origin] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> Origin:
        known = self._known.get(url)
        if known is None:
            known = Origin(url)
            with self._lock:
                if len(self._known) > 512:
                    self._known.clear()
                self._known[url] = known
        return known


def place_timed_out(by: float, ends_at: float | None, what: str) -> HTTPFailure:
    """The failure of waiting for a connection (a free place, or connecting) until ``by``:
    the deadline's when ``by`` was the deadline, else the connect timeout's."""
    if ends_at is not None and by >= ends_at:
        return HTTPFailure(Failure.DEADLINE, f"{what} before the attempt's time ran out")
    return HTTPFailure(Failure.CONNECT_TIMEOUT, f"{what} within the connect timeout")


def whole_body(parts: list[bytes], encoding: str | None) -> bytes:
    """A reply's body from its pieces, decoded when ``Content-Encoding`` says so."""
    content = parts[0] if len(parts) == 1 else b"".join(parts)
    decoder = BodyDecoder.for_encoding(encoding)
    return content if decoder is None else decoder.feed(content) + decoder.flush()


#: Header names already checked, all lower-case (a provider sends the same few again and
#: again).
_GOOD_NAMES: set[str] = set()


def checked(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with lower-case names (the transport's already are); a header that cannot
    be sent is an INVALID failure that names it, never its value."""
    for name in headers:
        if name not in _GOOD_NAMES:
            if not _TOKEN.fullmatch(name):
                raise HTTPFailure(Failure.INVALID, "a header name is not a valid HTTP token")
            if name != name.lower():  # every name checked as given, then lower-cased
                if not all(_TOKEN.fullmatch(key) for key in headers):
                    raise HTTPFailure(Failure.INVALID, "a header name is not a valid HTTP token")
                return checked({key.lower(): value for key, value in headers.items()})
            if len(_GOOD_NAMES) < 1024:
                _GOOD_NAMES.add(name)
    values = "".join(headers.values())
    if "\r" in values or "\n" in values or "\x00" in values:
        name = next(name for name, value in headers.items() if _BREAKS.search(value))
        raise HTTPFailure(Failure.INVALID, f"the {name} header holds a line break or NUL, "
                          "which a header cannot carry")
    return headers


def request_bytes(method: str, origin: Origin, headers: dict[str, str],
                   body: bytes | None) -> bytes:
    headers = checked(headers)
    lines = [f"{method} {origin.target} HTTP/1.1\r\n"]
    if "host" not in headers:  # an application may name a virtual host itself
        lines.append(f"host: {origin.host_header}\r\n")
    lines += [f"{name}: {value}\r\n" for name, value in headers.items()
              if name != "content-length"]  # the body's own length is sent below
    if "accept-encoding" not in headers:
        lines.append(f"accept-encoding: {ACCEPT_ENCODING}\r\n")
    if body is not None:
        lines.append(f"content-length: {len(body)}\r\n")
    lines.append("\r\n")
    text = "".join(lines)
    if not text.isascii():  # checked, not caught: the encoding error would quote the key
        raise HTTPFailure(Failure.INVALID, "a header holds a character that is not ASCII, "
                          "which HTTP headers cannot carry")
    head = text.encode("ascii")
    return head + body if body else head


class ReplyParser:
    """The reply being read on one connection, from llhttp's callbacks: status, headers, body
    pieces not taken yet, whether it is complete, and the failure that ended it, if any.

    A connection carries one request at a time: bytes that arrive when no reply is expected,
    or a second reply after the one expected, are a BROKEN failure, so a reply is never given
    to the wrong request. Subclasses hear of progress through ``arrived``."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.key: tuple[bool, str, int] = (False, "", 0)
        self.begin()

    def begin(self) -> None:
        """Ready for the next request (after the last reply was read to its end)."""
        self.expecting = False
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0  # bytes received before the headers were complete
        self.header_count = 0  # bytes of the headers parsed
        self.headers_done = False
        self.body: list[bytes] = []
        self.buffered = 0
        self.complete = False
        self.keep_alive = False
        self.head_only = False
        self.error: HTTPFailure | None = None

    def arrived(self) -> None:
        """Headers, a body piece, the end or a failure arrived."""

    def feed(self, data: bytes) -> bool:
        """Parse received bytes; False when the connection must be closed (they were not a
        valid reply, or no reply was expected)."""
        if not self.expecting:  # an idle connection: nothing was asked
            self.fail(HTTPFailure(Failure.BROKEN, "the server sent bytes no request asked for"))
            return False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self.complete:  # after a complete reply, the reply stands
                self.fail(HTTPFailure(Failure.BROKEN, f"the reply is not valid HTTP: {exc}"))
            return False
        if not self.headers_done:  # a header line that never ends is not buffered for ever
            self.header_bytes += len(data)
            if self.header_bytes > _MAX_HEADER_BYTES:
                self.fail(HTTPFailure(Failure.BROKEN, "the reply's headers are too large"))
                return False
        return True

    def ended(self, exc: BaseException | None) -> None:
        """The connection closed (``exc`` None: by the server, cleanly)."""
        self.closed = True
        if exc is None and self.headers_done and not self.complete and self._until_close():
            self.complete = True  # a body that runs until the server closes
            self.arrived()
        elif not self.complete:
            detail = f"{type(exc).__name__}: {exc}" if exc else "the server closed the connection"
            self.fail(HTTPFailure(Failure.BROKEN, detail))

    def fail(self, error: HTTPFailure) -> None:
        if self.error is None:
            self.error = error
        self.arrived()

    def _until_close(self) -> bool:
        """Whether the body is the bytes up to the connection's end (neither a length nor
        chunks framed it)."""
        lowered = {name.lower() for name, _ in self.raw_headers}
        return (b"content-length" not in lowered and b"transfer-encoding" not in lowered
                and self.status not in (204, 304))

    def take_body(self) -> list[bytes]:
        """The body pieces received and not taken yet."""
        body, self.body = self.body, []
        self.buffered = 0
        return body

    def headers(self) -> dict[str, str]:
        return {name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in self.raw_headers}

    # -- httptools callbacks (an exception raised here stops the parser) ----------------

    def on_message_begin(self) -> None:
        if self.complete:
            raise ValueError("a second reply to one request")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += len(name) + len(value)
        if self.header_count > _MAX_HEADER_BYTES:
            raise ValueError("the reply's headers are too large")
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # interim (100 Continue): the reply follows
            self.raw_headers = []
            self.status = -1
            return
        self.status = status
        self.headers_done = True
        if self.head_only:
            self.complete = True
        self.arrived()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        self.arrived()

    def on_message_complete(self) -> None:
        if self.status == -1:  # the end of an interim reply
            self.status = 0
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive() and not self.head_only
        self.arrived()


class OpenReply:
    """What the sync and async replies share: status, headers and URL once the headers have
    arrived, the connection the body is read from, and the decoder of a compressed body."""

    __slots__ = ("_conn", "_decoder", "_ends_at", "_read", "headers", "status", "url")

    def __init__(self, conn: ReplyParser, url: str, read: float, ends_at: float | None) -> None:
        self._read = read
        self._ends_at = ends_at
        self.status = conn.status
        self.headers = conn.headers()
        self.url = url
        self._decoder = BodyDecoder.for_encoding(self.headers.get("content-encoding"))
