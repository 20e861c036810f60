"""The core's own sync HTTP/1.1 client (``jtd_ai.backends.sync_socket``), byte by byte.

The sync twin of ``test_async_pool.py``: every test talks to a tiny threaded raw server
written here, which sends exactly the bytes the test needs (chunks cut at awkward places,
interim replies, resets, silence) and records what it received and how many connections it
accepted. Threads share one pool in the tests of the limit and of thread safety. Nothing
leaves the machine."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from jtd_ai.backends import Failure, HTTPFailure, Timeouts
from jtd_ai.backends.sync_socket import SocketPool

#: Generous where timing is not the point.
T = Timeouts(connect=2.0, read=5.0)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


# -- a raw threaded server ------------------------------------------------------------------


class Stopping(Exception):
    """Raised in a handler that waits while its server shuts down."""


@dataclass
class Request:
    """One request as the server read it off the wire."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    head: bytes = field(repr=False)

    def values(self, name: str) -> list[str]:
        """The values of every line of header ``name`` (any case), in order."""
        return [value for key, value in self.headers if key.lower() == name]


class Peer:
    """One connection the server accepted, served by a handler in its own thread."""

    def __init__(self, server: Server, index: int, sock: socket.socket) -> None:
        self.server = server
        self.index = index
        self.sock = sock
        self.requests: list[Request] = []
        self.saw_eof = False  # the client closed its end (seen by a read of the handler's)
        self._eof = threading.Event()
        self._buffer = b""

    def _saw_eof(self) -> None:
        if not self.server.stopping.is_set():  # not the server's own shutdown
            self.saw_eof = True
            self._eof.set()

    def _recv(self) -> bytes:
        """Some bytes; b"" when the client closed the connection (or reset it)."""
        try:
            return self.sock.recv(65536)
        except TimeoutError:
            raise
        except OSError:
            return b""

    def request(self) -> Request | None:
        """The next request on this connection; None when the client closed it."""
        while b"\r\n\r\n" not in self._buffer:
            data = self._recv()
            if not data:
                if self._buffer and not self.server.stopping.is_set():
                    raise AssertionError(f"the client sent a cut request: {self._buffer!r}")
                self._saw_eof()
                return None
            self._buffer += data
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        first, *lines = head.decode("latin-1").split("\r\n")
        method, target, version = first.split(" ")
        pairs = [line.split(":", 1) if ":" in line else [line, ""] for line in lines]
        headers = [(name, value.strip()) for name, value in pairs]
        lengths = {value for name, value in headers if name.lower() == "content-length"}
        length = int(lengths.pop()) if len(lengths) == 1 else 0
        while len(self._buffer) < length:
            data = self._recv()
            if not data:
                raise AssertionError(f"the client sent a cut body: {self._buffer!r}")
            self._buffer += data
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        request = Request(method, target, version, headers, body, head + b"\r\n\r\n")
        self.requests.append(request)
        with self.server.lock:
            self.server.requests.append(request)
        return request

    def pause(self, seconds: float) -> None:
        """Sleep, unless the server shuts down meanwhile."""
        if self.server.stopping.wait(seconds):
            raise Stopping

    def wait(self, event: threading.Event, timeout: float = 10.0) -> None:
        """Wait for ``event`` (set by the test), unless the server shuts down meanwhile."""
        deadline = time.monotonic() + timeout
        while not event.wait(0.01):
            if self.server.stopping.is_set() or time.monotonic() > deadline:
                raise Stopping

    def send(self, *pieces: bytes, pause: float = 0.0) -> None:
        """Write ``pieces`` one after the other, ``pause`` seconds apart (so that they reach
        the client in separate reads)."""
        for number, piece in enumerate(pieces):
            if number and pause:
                self.pause(pause)
            try:
                self.sock.sendall(piece)
            except ConnectionError:
                self._saw_eof()  # the client closed the connection (or reset it)
                raise

    def until_closed(self, timeout: float = 10.0) -> None:
        """(In a handler) read until the client closes its end, or ``timeout``."""
        deadline = time.monotonic() + timeout
        rest = self._buffer
        self._buffer = b""
        while not rest:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(min(left, 0.2))
            try:
                data = self._recv()
            except TimeoutError:
                if self.server.stopping.is_set():
                    return
                continue
            if not data:
                self._saw_eof()
                return
            rest += data
        raise AssertionError(f"the client sent more: {rest!r}")

    def closed_by_client(self, timeout: float = 2.0) -> bool:
        """(In a test) whether the handler sees the client close this connection within
        ``timeout``; the handler must be reading (``request`` or ``until_closed``)."""
        return self._eof.wait(timeout)

    def reset(self) -> None:
        """Drop the connection with a TCP RST (SO_LINGER 0), not a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


Handler = Callable[[Peer], None]


class Server:
    """A TCP server that runs ``handler`` on each connection it accepts, each in a thread of
    its own, and closes the connection when the handler returns. ``tls``: a server context
    to wrap each connection in."""

    def __init__(
        self, handler: Handler, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> None:
        self.handler = handler
        self.host = host
        self.tls = tls
        self.port = 0
        self.accepted = 0
        self.peers: list[Peer] = []
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    def __enter__(self) -> Server:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(128)
        listener.settimeout(0.02)  # to notice the shutdown
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        assert self._acceptor is not None and self._listener is not None
        self._acceptor.join(5)
        self._listener.close()
        for peer in list(self.peers):
            with contextlib.suppress(OSError):
                peer.sock.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked reading
        for thread in list(self._threads):
            thread.join(5)
        if self.errors:
            raise self.errors[0]

    def url(self, path: str = "/", scheme: str = "http") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    def _accept(self) -> None:
        assert self._listener is not None
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(10.0)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = Peer(self, self.accepted, sock)
            with self.lock:
                self.peers.append(peer)
                self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(peer,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, peer: Peer) -> None:
        try:
            if self.tls is not None:
                peer.sock = self.tls.wrap_socket(peer.sock, server_side=True)
            self.handler(peer)
        except (ConnectionError, ssl.SSLError, Stopping):
            pass  # the client went away (some tests are about just that), or the server did
        except Exception as exc:  # an assertion in a handler: fail the test with it
            if not self.stopping.is_set():
                self.errors.append(exc)
        finally:
            with contextlib.suppress(OSError):
                peer.sock.close()


def answer_each(*replies: bytes) -> Handler:
    """Answer the requests on a connection with ``replies`` in turn (the last one again and
    again), until the client closes it."""

    def handler(peer: Peer) -> None:
        number = 0
        while peer.request() is not None:
            peer.send(replies[min(number, len(replies) - 1)])
            number += 1

    return handler


def chunked(*parts: bytes, trailer: bytes = b"") -> bytes:
    """``parts`` as a chunked body (with its last chunk and an optional trailer)."""
    return (
        b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)
        + b"0\r\n"
        + (trailer + b"\r\n")
    )


def cut(data: bytes, *at: int) -> list[bytes]:
    """``data`` cut at the offsets ``at``."""
    bounds = sorted({0, len(data), *(n for n in at if 0 < n < len(data))})
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


def silent_after(data: bytes) -> Handler:
    """Read a request, send ``data``, then say nothing more until the client hangs up."""

    def handler(peer: Peer) -> None:
        peer.request()
        peer.send(data)
        peer.until_closed()

    return handler


@pytest.fixture
def pool() -> Iterator[SocketPool]:
    backend = SocketPool(https=False)
    yield backend
    backend.close()


def read_lines(backend: SocketPool, url: str, timeouts: Timeouts = T) -> list[str]:
    reply = backend.open("GET", url, {}, None, timeouts)
    try:
        assert reply.status == 200
        return list(reply.lines())
    finally:
        reply.close()


def failure(call: Callable[[], Any]) -> HTTPFailure:
    """The HTTPFailure ``call()`` raises."""
    with pytest.raises(HTTPFailure) as caught:
        call()
    return caught.value


def failure_reading_lines(
    backend: SocketPool, url: str, timeouts: Timeouts = T, got: list[str] | None = None
) -> HTTPFailure:
    reply = backend.open("GET", url, {}, None, timeouts)
    try:
        with pytest.raises(HTTPFailure) as caught:
            for line in reply.lines():
                if got is not None:
                    got.append(line)
    finally:
        reply.close()
    return caught.value


R = TypeVar("R")


def in_thread(call: Callable[..., R], *args: Any) -> Future[R]:
    """``call(*args)`` run in a thread of its own: a daemon, so that a call that hangs fails
    its test (``result(timeout)``) rather than the end of the test run."""
    future: Future[R] = Future()

    def run() -> None:
        try:
            future.set_result(call(*args))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def free_port() -> int:
    """A local port nothing listens on (a connection to it is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- framing: chunks, bodies up to the close, HTTP/1.0, interim replies -----------------------

EVENTS = [b"data: one\n\n", b"data: tw", b"o\n\ndata: three\n", b"\n: " + b"x" * 30 + b"\n"]
LINES = ["data: one", "", "data: two", "", "data: three", "", ": " + "x" * 30]
CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
)
CHUNKED_BODY = chunked(*EVENTS, trailer=b"X-Trailer: done\r\n")


def awkward_cuts() -> list[int]:
    """Offsets in CHUNKED_BODY at the awkward places of chunked framing."""
    body = CHUNKED_BODY
    big = body.index(b"%x\r\n" % len(EVENTS[3]))  # a two-digit chunk size
    return [
        3,  # inside the first chunk's data
        body.index(b"\r\n", 12) + 1,  # between the CR and LF that end the first chunk
        big + 1,  # between the two hex digits of a chunk size
        big + 3,  # between the CR and LF of a chunk-size line
        body.index(b"\n\r\n", big) + 1,  # between a chunk's data and its CRLF
        len(body) - 5,  # inside the last chunk ("0\r\n")
        len(body) - 1,  # between the trailer's CR and the final LF
    ]


def send_chunked_awkwardly(peer: Peer) -> None:
    while peer.request() is not None:
        peer.send(
            CHUNKED_HEAD[:20], CHUNKED_HEAD[20:], *cut(CHUNKED_BODY, *awkward_cuts()), pause=0.01
        )


def test_a_chunked_reply_cut_anywhere_is_fetched_whole(pool: SocketPool) -> None:
    with Server(send_chunked_awkwardly) as server:
        status, headers, body, where = pool.fetch("GET", server.url("/s"), {}, None, T)
        again = pool.fetch("GET", server.url("/s"), {}, None, T)
    assert status == 200
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"] == "text/event-stream"
    assert body == b"".join(EVENTS)
    assert where == server.url("/s")
    assert again[2] == body
    assert server.accepted == 1  # the framing ended exactly where it should: reused


def test_a_chunked_reply_cut_anywhere_gives_whole_lines(pool: SocketPool) -> None:
    with Server(send_chunked_awkwardly) as server:
        first = read_lines(pool, server.url())
        second = read_lines(pool, server.url())
        reply = pool.open("GET", server.url("/r"), {}, None, T)
        read = (reply.status, reply.url, reply.read())
        reply.close()  # closing again after read() is harmless
    assert first == second == LINES
    assert read == (200, server.url("/r"), b"".join(EVENTS))
    assert server.accepted == 1


@pytest.mark.parametrize("status_line", [b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK"])
def test_a_body_ended_by_the_close_is_read_whole(pool: SocketPool, status_line: bytes) -> None:
    def until_close(peer: Peer) -> None:
        peer.request()
        peer.send(
            status_line + b"\r\nContent-Type: text/plain\r\n\r\n",
            b"line 1\nli",
            b"ne 2\n",
            b"last, unterminated",
            pause=0.01,
        )
        # returning closes the connection: the end of the body

    with Server(until_close) as server:
        status, _, body, _ = pool.fetch("GET", server.url(), {}, None, T)
        lines = read_lines(pool, server.url())
        reply = pool.open("GET", server.url(), {}, None, T)
        read = reply.read()
        again = pool.fetch("GET", server.url(), {}, None, T)
    assert status == 200
    assert body == read == again[2] == b"line 1\nline 2\nlast, unterminated"
    assert lines == ["line 1", "line 2", "last, unterminated"]
    assert server.accepted == 4  # a connection that ended cannot be reused


def test_an_http_1_0_reply_is_read_and_its_connection_not_kept(pool: SocketPool) -> None:
    reply = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    with Server(answer_each(reply)) as server:  # the server would keep the socket open
        first = pool.fetch("GET", server.url(), {}, None, T)
        second = pool.fetch("GET", server.url(), {}, None, T)
        closed = server.peers[0].closed_by_client()
    assert first[:3] == second[:3] == (200, {"content-length": "5"}, b"hello")
    assert server.accepted == 2
    assert closed  # the client hung up on the first connection itself


@pytest.mark.parametrize("pause", [0.0, 0.05], ids=["one-write", "interim-then-pause"])
def test_an_interim_100_continue_comes_before_the_real_reply(
    pool: SocketPool, pause: float
) -> None:
    interim = b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    final = b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\nX-Final: yes\r\n\r\ndone"

    def handler(peer: Peer) -> None:
        while peer.request() is not None:
            if pause:
                peer.send(interim, hints, final, pause=pause)
            else:
                peer.send(interim + hints + final)

    with Server(handler) as server:
        status, headers, body, _ = pool.fetch("POST", server.url(), {}, b"{}", T)
        reply = pool.open("POST", server.url(), {}, b"{}", T)
        streamed = (reply.status, dict(reply.headers), reply.read())
        reply.close()
    assert (status, headers, body) == (201, {"content-length": "4", "x-final": "yes"}, b"done")
    assert streamed == (201, {"content-length": "4", "x-final": "yes"}, b"done")
    assert server.accepted == 1


@pytest.mark.parametrize(
    ("status_line", "extra"),
    [(b"HTTP/1.1 204 No Content", b""), (b"HTTP/1.1 304 Not Modified", b"Content-Length: 10\r\n")],
    ids=["204", "304-with-a-length"],
)
def test_a_204_or_304_reply_has_no_body_and_keeps_the_connection(
    pool: SocketPool, status_line: bytes, extra: bytes
) -> None:
    empty = status_line + b"\r\nX-A: 1\r\n" + extra + b"\r\n"
    with Server(answer_each(empty, OK)) as server:
        started = time.monotonic()
        first = pool.fetch("DELETE", server.url("/thing"), {}, None, T)
        took = time.monotonic() - started
        second = pool.fetch("GET", server.url(), {}, None, T)
    assert first[0] == int(status_line.split()[1])
    assert first[1]["x-a"] == "1"
    assert first[2] == b""
    assert took < 1.0  # no body awaited up to a close that never comes
    assert second[2] == b"ok"
    assert server.accepted == 1


def test_a_head_reply_has_no_body_and_its_connection_is_not_reused(pool: SocketPool) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: application/json\r\n\r\n"

    def handler(peer: Peer) -> None:
        while (request := peer.request()) is not None:
            peer.send(head if request.method == "HEAD" else OK)

    with Server(handler) as server:
        started = time.monotonic()
        status, headers, body, _ = pool.fetch("HEAD", server.url(), {}, None, T)
        took = time.monotonic() - started
        second = pool.fetch("GET", server.url(), {}, None, T)
        closed = server.peers[0].closed_by_client()
    assert (status, body) == (200, b"")
    assert headers == {"content-length": "1234", "content-type": "application/json"}
    assert took < 1.0  # not waiting for 1234 bytes that never come
    assert server.requests[0].method == "HEAD"
    assert second[2] == b"ok"
    assert server.accepted == 2
    assert closed


# -- keep-alive -----------------------------------------------------------------------------


def test_requests_in_turn_share_one_connection(pool: SocketPool) -> None:
    with Server(answer_each(OK)) as server:
        bodies = [pool.fetch("GET", server.url(f"/{n}"), {}, None, T)[2] for n in range(3)]
        reply = pool.open("GET", server.url("/3"), {}, None, T)
        bodies.append(reply.read())
        reply.close()
        bodies.append(pool.fetch("GET", server.url("/4"), {}, None, T)[2])
    assert bodies == [b"ok"] * 5
    assert server.accepted == 1
    assert [r.target for r in server.peers[0].requests] == ["/0", "/1", "/2", "/3", "/4"]


def test_a_connection_close_reply_is_not_reused(pool: SocketPool) -> None:
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    with Server(answer_each(close)) as server:  # but the server keeps it open
        first = pool.fetch("GET", server.url(), {}, None, T)
        second = pool.fetch("GET", server.url(), {}, None, T)
        closed = server.peers[0].closed_by_client()
    assert first[2] == second[2] == b"ok"
    assert server.accepted == 2
    assert len(server.peers[0].requests) == 1
    assert closed


def test_a_connection_the_server_closed_while_idle_is_not_reused(pool: SocketPool) -> None:
    idle = threading.Event()

    def one_then_close(peer: Peer) -> None:
        peer.request()
        peer.send(OK)  # keep-alive, as far as the reply says
        peer.wait(idle)  # then close it while it sits in the pool

    with Server(one_then_close) as server:
        first = pool.fetch("GET", server.url(), {}, None, T)
        idle.set()
        time.sleep(0.1)  # the server's FIN reaches the client
        second = pool.fetch("GET", server.url(), {}, None, T)
    assert first[2] == second[2] == b"ok"
    assert server.accepted == 2
    assert [len(peer.requests) for peer in server.peers] == [1, 1]


def test_an_idle_connection_past_its_expiry_is_not_reused() -> None:
    backend = SocketPool(https=False, keepalive_expiry=0.1)
    try:
        with Server(answer_each(OK)) as server:
            backend.fetch("GET", server.url(), {}, None, T)
            backend.fetch("GET", server.url(), {}, None, T)
            time.sleep(0.25)
            backend.fetch("GET", server.url(), {}, None, T)
            closed = server.peers[0].closed_by_client()
    finally:
        backend.close()
    assert server.accepted == 2
    assert [len(peer.requests) for peer in server.peers] == [2, 1]
    assert closed


def test_a_reply_nobody_asked_for_is_not_the_next_requests_reply(pool: SocketPool) -> None:
    stray = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

    def handler(peer: Peer) -> None:
        while peer.request() is not None:
            peer.send(OK)
            if peer.index == 0:
                peer.pause(0.05)
                peer.send(stray)  # while the connection sits idle in the pool
                peer.pause(1.0)  # its FIN comes later than the next request
                return

    with Server(handler) as server:
        pool.fetch("GET", server.url("/first"), {}, None, T)
        time.sleep(0.2)  # the stray reply has arrived
        status, _, body, _ = pool.fetch("GET", server.url("/second"), {}, None, T)
    assert (status, body) == (200, b"ok")  # not the stale 408
    assert server.accepted == 2
    assert [[r.target for r in peer.requests] for peer in server.peers] == [["/first"], ["/second"]]


def test_a_second_reply_to_one_request_closes_the_connection(pool: SocketPool) -> None:
    with Server(answer_each(OK + OK)) as server:
        first = pool.fetch("GET", server.url(), {}, None, T)
        second = pool.fetch("GET", server.url(), {}, None, T)
        closed = server.peers[0].closed_by_client()
    assert first[:3] == second[:3] == (200, {"content-length": "2"}, b"ok")
    assert server.accepted == 2  # the extra reply is nobody's: its connection was dropped
    assert closed


def test_close_closes_the_idle_connections() -> None:
    backend = SocketPool(https=False)
    with Server(answer_each(OK)) as one, Server(answer_each(OK)) as two:
        backend.fetch("GET", one.url(), {}, None, T)
        backend.fetch("GET", two.url(), {}, None, T)
        assert not one.peers[0].closed_by_client(0.1)  # kept while the pool is open
        backend.close()
        closed = [one.peers[0].closed_by_client(), two.peers[0].closed_by_client()]
    assert closed == [True, True]


@pytest.fixture
def high_descriptors() -> Iterator[None]:
    """1100 files open, so that the next sockets' numbers are above 1023 (where
    ``select.select`` cannot watch them); the descriptor limit raised meanwhile if need be."""
    import resource

    count = 1100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 200
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"the descriptor limit ({hard}) is too low")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    fds: list[int] = []
    try:
        fds.extend(os.open(os.devnull, os.O_RDONLY) for _ in range(count))
        yield
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("high_descriptors")
def test_a_connection_with_a_descriptor_above_1023_is_reused(pool: SocketPool) -> None:
    with socket.socket() as probe:
        assert probe.fileno() > 1023  # the case at hand: so will the pool's sockets be
    with Server(answer_each(OK)) as server:
        bodies = [pool.fetch("GET", server.url(f"/{n}"), {}, None, T)[2] for n in range(3)]
    assert bodies == [b"ok"] * 3
    assert server.accepted == 1  # a busy process (many files open) still keeps connections


# -- abandoned and failed requests give their place back --------------------------------------


def test_a_reply_closed_unread_gives_its_connection_up() -> None:
    backend = SocketPool(https=False, limit=1)

    def first_slow(peer: Peer) -> None:
        if peer.index:
            answer_each(OK)(peer)
            return
        peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789")
        peer.until_closed(0.3)
        peer.send(b"0123456789")  # too late: the client has hung up
        peer.until_closed()

    try:
        with Server(first_slow) as server:
            reply = backend.open("GET", server.url(), {}, None, T)
            assert reply.status == 200
            reply.close()  # mid-body: the connection cannot be reused
            started = time.monotonic()
            second = backend.fetch("GET", server.url(), {}, None, Timeouts(0.5, 5.0))
            took = time.monotonic() - started
            closed = server.peers[0].closed_by_client()
    finally:
        backend.close()
    assert second[2] == b"ok"  # on a new connection, the limit's one place given back
    assert took < 0.4  # at once, not after waiting for a place
    assert server.accepted == 2
    assert closed


def test_a_stream_abandoned_mid_way_closes_its_connection_and_frees_its_place() -> None:
    backend = SocketPool(https=False, limit=1)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

    def endless(peer: Peer) -> None:
        if peer.index:
            answer_each(OK)(peer)
            return
        peer.request()
        peer.send(head + chunked(b"data: 1\n\n", b"data: 2\n\n")[:-5])  # and more to come
        peer.until_closed()

    try:
        with Server(endless) as server:
            reply = backend.open("GET", server.url(), {}, None, T)
            lines = reply.lines()
            got = [next(lines), next(lines), next(lines)]
            reply.close()
            closed = server.peers[0].closed_by_client()
            started = time.monotonic()
            second = backend.fetch("GET", server.url(), {}, None, Timeouts(0.5, 5.0))
            took = time.monotonic() - started
            third = backend.fetch("GET", server.url(), {}, None, Timeouts(0.5, 5.0))
    finally:
        backend.close()
    assert got == ["data: 1", "", "data: 2"]
    assert closed  # the abandoned stream's connection was closed, not kept
    assert second[2] == third[2] == b"ok"
    assert took < 0.4
    assert server.accepted == 2  # the new connection is kept for the third request
    assert len(server.peers[0].requests) == 1


def test_failures_of_every_kind_give_their_place_back() -> None:
    backend = SocketPool(https=False, limit=1)

    def routed(peer: Peer) -> None:
        while (request := peer.request()) is not None:
            if request.target == "/silent":
                peer.until_closed()
                return
            if request.target == "/garbage":
                peer.send(b"SSH-2.0-OpenSSH_9.6\r\n")
                peer.until_closed()
                return
            if request.target == "/drop":
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                return
            peer.send(OK)

    quick = Timeouts(0.5, 0.2)
    refused = f"http://127.0.0.1:{free_port()}/"
    kinds: list[Failure] = []
    bodies: list[bytes] = []
    try:
        with Server(routed) as server:
            calls: list[Callable[[], Any]] = [
                lambda: backend.fetch("GET", refused, {}, None, quick),
                lambda: backend.fetch("GET", server.url(), {"x\r\n": "1"}, None, quick),
                lambda: backend.fetch("GET", server.url("/silent"), {}, None, quick),
                lambda: backend.open("GET", server.url("/garbage"), {}, None, quick),
                lambda: backend.fetch("GET", server.url("/drop"), {}, None, quick),
                lambda: backend.open("GET", server.url("/drop"), {}, None, quick).read(),
                lambda: backend.fetch(
                    "GET", server.url("/silent"), {}, None, Timeouts(0.5, 5.0, total=0.2)
                ),
            ]
            for call in calls:
                kinds.append(failure(call).kind)
                # with the one place leaked, this would wait 0.5 s and fail
                bodies.append(backend.fetch("GET", server.url(), {}, None, quick)[2])
    finally:
        backend.close()
    assert kinds == [
        Failure.CONNECT,
        Failure.INVALID,
        Failure.READ_TIMEOUT,
        Failure.BROKEN,
        Failure.BROKEN,
        Failure.BROKEN,
        Failure.DEADLINE,
    ]
    assert bodies == [b"ok"] * len(calls)


@pytest.mark.parametrize("how", ["closed", "dropped"])
def test_a_place_freed_by_an_abandoned_stream_goes_to_a_waiting_thread(how: str) -> None:
    backend = SocketPool(https=False, limit=1)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

    def endless(peer: Peer) -> None:
        if peer.index:
            answer_each(OK)(peer)
            return
        peer.request()
        peer.send(head + chunked(b"data: 1\n")[:-5])
        peer.until_closed()

    try:
        with Server(endless) as server:
            reply = backend.open("GET", server.url("/stream"), {}, None, T)
            lines = reply.lines()
            assert next(lines) == "data: 1"
            waiting = in_thread(
                backend.fetch, "GET", server.url("/next"), {}, None, Timeouts(2.0, 5.0)
            )
            time.sleep(0.1)
            assert not waiting.done()  # the one place is the stream's
            closing = time.monotonic()
            if how == "closed":
                reply.close()
            else:
                del lines  # dropped, never closed: the generator gives the place back
            result = waiting.result(5)
            took = time.monotonic() - closing
    finally:
        backend.close()
    assert result[2] == b"ok"
    assert took < 0.5  # woken when the place came free, not at its connect timeout
    assert server.accepted == 2
    assert [r.target for r in server.requests] == ["/stream", "/next"]


# -- the pool's limit -----------------------------------------------------------------------


def held_until(go: threading.Event, arrived: threading.Event | None = None) -> Handler:
    """A server that answers each request once ``go`` is set: its connection stays busy."""

    def held(peer: Peer) -> None:
        while peer.request() is not None:
            if arrived is not None:
                arrived.set()
            peer.wait(go)
            peer.send(OK)

    return held


def test_a_request_beyond_the_limit_waits_for_a_connection() -> None:
    backend = SocketPool(https=False, limit=1)
    go = threading.Event()
    arrived = threading.Event()
    try:
        with Server(held_until(go, arrived)) as server:
            try:
                first = in_thread(backend.fetch, "GET", server.url("/1"), {}, None, T)
                assert arrived.wait(2)
                second = in_thread(backend.fetch, "GET", server.url("/2"), {}, None, T)
                time.sleep(0.2)
                assert not first.done() and not second.done()
                assert server.accepted == 1  # the second did not open a connection of its own
                assert len(server.requests) == 1  # nor did it send on the busy one
            finally:
                go.set()
            results = [first.result(5), second.result(5)]
    finally:
        backend.close()
    assert [r[2] for r in results] == [b"ok", b"ok"]
    assert server.accepted == 1
    assert [r.target for r in server.requests] == ["/1", "/2"]


@pytest.mark.parametrize(
    ("timeouts", "kind"),
    [
        (Timeouts(0.2, 5.0), Failure.CONNECT_TIMEOUT),
        (Timeouts(5.0, 5.0, total=0.2), Failure.DEADLINE),
    ],
    ids=["connect timeout", "deadline"],
)
def test_a_request_waiting_for_a_place_too_long_fails(timeouts: Timeouts, kind: Failure) -> None:
    backend = SocketPool(https=False, limit=1)
    go = threading.Event()
    arrived = threading.Event()
    try:
        with Server(held_until(go, arrived)) as server:
            try:
                first = in_thread(backend.fetch, "GET", server.url(), {}, None, T)
                assert arrived.wait(2)
                started = time.monotonic()
                caught = failure(lambda: backend.fetch("GET", server.url(), {}, None, timeouts))
                waited = time.monotonic() - started
            finally:
                go.set()
            assert first.result(5)[2] == b"ok"
    finally:
        backend.close()
    assert caught.kind is kind
    assert 0.18 <= waited < 1.5
    assert server.accepted == 1
    assert len(server.requests) == 1


def test_an_idle_connection_to_another_origin_makes_room() -> None:
    backend = SocketPool(https=False, limit=1)
    try:
        with Server(answer_each(OK)) as one, Server(answer_each(OK)) as two:
            backend.fetch("GET", one.url(), {}, None, T)  # now idle in the pool
            started = time.monotonic()
            status, _, body, _ = backend.fetch("GET", two.url(), {}, None, Timeouts(0.5, 5.0))
            took = time.monotonic() - started
            closed = one.peers[0].closed_by_client()
    finally:
        backend.close()
    assert (status, body) == (200, b"ok")
    assert took < 0.4
    assert closed  # the idle connection to the first server made room for the second
    assert (one.accepted, two.accepted) == (1, 1)


# -- threads --------------------------------------------------------------------------------


def echo(peer: Peer) -> None:
    """Answer each request with what it was: its target, its x-id header and its body, as
    one body (content-length) or, for a target ending in /lines, as chunked lines."""
    while (request := peer.request()) is not None:
        (ident,) = request.values("x-id")
        if "/lines?" in request.target:
            body = chunked(b"target: %s\n" % request.target.encode(), b"id: %s\n" % ident.encode())
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Id: %s\r\n\r\n"
            peer.send(head % ident.encode() + body)
        else:
            body = b"%s|%s|%s" % (request.target.encode(), ident.encode(), request.body)
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Id: %s\r\n\r\n"
            peer.send(head % (len(body), ident.encode()) + body)


def expected(ident: str, mode: str, number: int) -> tuple[str, bytes | list[str]]:
    target = f"/{ident}/{mode}?n={number}"
    if mode == "lines":
        return ident, [f"target: {target}", f"id: {ident}"]
    return ident, f"{target}|{ident}|payload of {ident}".encode()


def hammer(
    backend: SocketPool, server: Server, threads: int, each: int, timeouts: Timeouts
) -> tuple[list[list[tuple[str, bytes | list[str]]]], list[list[tuple[str, bytes | list[str]]]]]:
    """``threads`` threads, ``each`` requests each, through one pool: (what each thread got,
    what each should have got)."""
    start = threading.Barrier(threads)
    modes = ("fetch", "read", "lines")

    def one(thread: int) -> list[tuple[str, bytes | list[str]]]:
        start.wait(5)
        got: list[tuple[str, bytes | list[str]]] = []
        for number in range(each):
            ident = f"t{thread}-r{number}"
            mode = modes[(number + thread) % 3]
            url = server.url(f"/{ident}/{mode}?n={number}")
            headers = {"x-id": ident}
            payload = f"payload of {ident}".encode()
            if mode == "fetch":
                _, replied, body, _ = backend.fetch("POST", url, headers, payload, timeouts)
                got.append((replied["x-id"], body))
                continue
            reply = backend.open("POST", url, headers, payload, timeouts)
            try:
                if mode == "read":
                    got.append((reply.headers["x-id"], reply.read()))
                else:
                    got.append((reply.headers["x-id"], list(reply.lines())))
            finally:
                reply.close()
        return got

    futures = [in_thread(one, thread) for thread in range(threads)]
    results = [future.result(30) for future in futures]
    wanted = [
        [expected(f"t{thread}-r{n}", modes[(n + thread) % 3], n) for n in range(each)]
        for thread in range(threads)
    ]
    return results, wanted


def test_threads_sharing_a_pool_each_get_their_own_replies(pool: SocketPool) -> None:
    with Server(echo) as server:
        results, wanted = hammer(pool, server, threads=8, each=50, timeouts=T)
    assert results == wanted
    assert len(server.requests) == 400
    assert sorted(r.values("x-id")[0] for r in server.requests) == sorted(
        f"t{t}-r{n}" for t in range(8) for n in range(50)
    )
    assert server.accepted <= 8  # each thread holds one connection at a time: all reused


def test_threads_beyond_the_limit_share_its_connections() -> None:
    backend = SocketPool(https=False, limit=3)
    try:
        with Server(echo) as server:
            results, wanted = hammer(backend, server, threads=8, each=25, timeouts=Timeouts(5, 5))
    finally:
        backend.close()
    assert results == wanted
    assert len(server.requests) == 200
    assert server.accepted <= 3  # never more connections than the limit
    assert sum(len(peer.requests) for peer in server.peers) == 200


# -- flow control ---------------------------------------------------------------------------

BIG_LINES = 80_000  # 64 bytes each: about 5 MB


def big_body() -> bytes:
    return b"".join(b"%07d %s\n" % (n, b"x" * 55) for n in range(BIG_LINES))


def test_a_large_stream_read_slowly_arrives_whole_in_order(pool: SocketPool) -> None:
    body = big_body()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)

    def handler(peer: Peer) -> None:
        peer.request()
        peer.send(head + body)  # all at once: faster than the reader
        answer_each(OK)(peer)

    held: list[int] = []
    got: list[str] = []
    with Server(handler) as server:
        reply = pool.open("GET", server.url(), {}, None, Timeouts(2.0, 0.5))
        try:
            for line in reply.lines():
                got.append(line)
                if len(got) % 4000 == 0:
                    time.sleep(0.005)  # a slow reader
                    assert reply._conn is not None
                    held.append(reply._conn.buffered)
        finally:
            reply.close()
        again = pool.fetch("GET", server.url(), {}, None, T)
    assert len(got) == BIG_LINES
    assert got == [line.decode() for line in body.splitlines()]
    assert max(held) < 1 << 20  # read as it is consumed: never the whole 5 MB in memory
    assert again[2] == b"ok"
    assert server.accepted == 1  # read to its end, the connection went back to the pool


def test_the_end_of_a_stream_that_arrives_while_the_reader_is_busy_is_seen(
    pool: SocketPool,
) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

    def handler(peer: Peer) -> None:
        peer.request()
        peer.send(head + chunked(b"data: 1\n\n")[:-5])
        peer.pause(0.05)  # the reader is busy with "data: 1" now
        peer.send(chunked(b"data: 2\n\n"))  # the rest, and the end
        peer.until_closed()

    got: list[str] = []
    with Server(handler) as server:
        reply = pool.open("GET", server.url(), {}, None, Timeouts(2.0, 0.5))
        try:
            for line in reply.lines():
                got.append(line)
                if line == "data: 1":
                    time.sleep(0.2)  # work on the event, well within the read timeout
        finally:
            reply.close()
    assert got == ["data: 1", "", "data: 2", ""]


def test_a_large_body_is_fetched_whole(pool: SocketPool) -> None:
    body = big_body()[: 3 << 20]
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    with Server(answer_each(reply)) as server:
        status, _, got, _ = pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.5))
    assert status == 200
    assert got == body


# -- compressed bodies ----------------------------------------------------------------------

TEXT_LINES = [
    f'data: {{"n": {n}, "text": "{"ab" * n}{n * n}"}}' if n % 2 else "" for n in range(40)
]
TEXT = "".join(line + "\n" for line in TEXT_LINES).encode()


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


ENCODED = {
    "gzip": ("gzip", gzip.compress(TEXT)),
    "deflate-zlib": ("deflate", zlib.compress(TEXT)),
    "deflate-raw": ("deflate", raw_deflate(TEXT)),
}


@pytest.mark.parametrize("name", sorted(ENCODED))
def test_a_compressed_body_is_decoded_by_fetch(pool: SocketPool, name: str) -> None:
    encoding, data = ENCODED[name]
    reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (
        encoding.encode(),
        len(data),
    )

    def handler(peer: Peer) -> None:
        while peer.request() is not None:
            peer.send(reply, *cut(data, 2, 9, 40), pause=0.01)

    with Server(handler) as server:
        status, headers, body, _ = pool.fetch("GET", server.url(), {}, None, T)
        opened = pool.open("GET", server.url(), {}, None, T)
        read = opened.read()
        opened.close()
    assert status == 200
    assert headers["content-encoding"] == encoding
    assert body == read == TEXT
    assert server.requests[0].values("accept-encoding") == ["gzip, deflate"]
    assert server.accepted == 1


@pytest.mark.parametrize("name", sorted(ENCODED))
def test_a_compressed_stream_is_decoded_by_lines(pool: SocketPool, name: str) -> None:
    encoding, data = ENCODED[name]
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
        % encoding.encode()
    )
    body = chunked(*cut(data, 2, 5, 17, 30, len(data) - 3))

    def handler(peer: Peer) -> None:
        while peer.request() is not None:
            peer.send(head, *cut(body, 7, 20, 33, 60), pause=0.01)

    with Server(handler) as server:
        lines = read_lines(pool, server.url())
        again = read_lines(pool, server.url())
    assert lines == again == TEXT_LINES
    assert server.accepted == 1


def test_a_raw_deflate_stream_whose_first_piece_is_one_byte_is_decoded(pool: SocketPool) -> None:
    data = raw_deflate(TEXT)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = chunked(*cut(data, 1))

    def handler(peer: Peer) -> None:
        while peer.request() is not None:
            peer.send(head, body, pause=0.02)

    with Server(handler) as server:
        assert read_lines(pool, server.url()) == TEXT_LINES


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize(
    ("method", "reply"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: 120\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\nContent-Encoding: %s\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Encoding: %s\r\n\r\n"),
    ],
    ids=["head", "204", "304"],
)
def test_a_reply_without_a_body_is_not_decoded(
    pool: SocketPool, method: str, reply: bytes, encoding: str
) -> None:
    with Server(answer_each(reply % encoding.encode())) as server:
        fetched = pool.fetch(method, server.url(), {}, None, T)
        opened = pool.open(method, server.url(), {}, None, T)
        read = opened.read()
        opened.close()
    assert fetched[1]["content-encoding"] == encoding
    assert fetched[2] == read == b""


def test_an_encoding_we_did_not_ask_for_is_broken(pool: SocketPool) -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\n\x1b\x03\x00\x00"
    with Server(answer_each(reply)) as server:
        fetched = failure(lambda: pool.fetch("GET", server.url(), {}, None, T))
        opened = failure(lambda: pool.open("GET", server.url(), {}, None, T))
    assert fetched.kind is opened.kind is Failure.BROKEN
    assert "br" in fetched.detail


@pytest.mark.parametrize("via", ["fetch", "lines", "read"])
def test_a_corrupt_gzip_body_is_broken(pool: SocketPool, via: str) -> None:
    data = b"\x1f\x8b\x08\x00" + b"not really gzip at all" * 3
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(data)
        + data
    )
    with Server(answer_each(reply)) as server:
        if via == "fetch":
            caught = failure(lambda: pool.fetch("GET", server.url(), {}, None, T))
        elif via == "lines":
            caught = failure_reading_lines(pool, server.url())
        else:
            caught = failure(lambda: pool.open("GET", server.url(), {}, None, T).read())
    assert caught.kind is Failure.BROKEN
    assert "corrupt" in caught.detail


@pytest.mark.parametrize("via", ["fetch", "lines", "read"])
def test_a_compressed_body_cut_short_is_broken(pool: SocketPool, via: str) -> None:
    data = gzip.compress(TEXT)[:-30]  # well framed by its length, but not a whole gzip stream
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(data)
        + data
    )
    with Server(answer_each(reply)) as server:
        if via == "fetch":
            caught = failure(lambda: pool.fetch("GET", server.url(), {}, None, T))
        elif via == "lines":
            caught = failure_reading_lines(pool, server.url())
        else:
            caught = failure(lambda: pool.open("GET", server.url(), {}, None, T).read())
    assert caught.kind is Failure.BROKEN


# -- timeouts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
    ids=["before-headers", "mid-body"],
)
def test_silence_is_a_read_timeout(pool: SocketPool, sent: bytes) -> None:
    with Server(silent_after(sent)) as server:
        started = time.monotonic()
        caught = failure(lambda: pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.2)))
        took = time.monotonic() - started
        closed = server.peers[0].closed_by_client()
    assert caught.kind is Failure.READ_TIMEOUT
    assert 0.18 <= took < 1.5
    assert closed  # a connection that timed out is not kept


def test_silence_after_the_headers_is_a_read_timeout_in_lines(pool: SocketPool) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nline1\n\r\n"
    with Server(silent_after(head)) as server:
        got: list[str] = []
        started = time.monotonic()
        caught = failure_reading_lines(pool, server.url(), Timeouts(2.0, 0.2), got)
        took = time.monotonic() - started
        closed = server.peers[0].closed_by_client()
    assert caught.kind is Failure.READ_TIMEOUT
    assert got == ["line1"]
    assert 0.18 <= took < 1.5
    assert closed


def test_the_total_time_is_a_deadline(pool: SocketPool) -> None:
    with Server(silent_after(b"")) as server:
        started = time.monotonic()
        caught = failure(
            lambda: pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 5.0, total=0.2))
        )
        took = time.monotonic() - started
        opening = time.monotonic()
        opened = failure(
            lambda: pool.open("GET", server.url(), {}, None, Timeouts(2.0, 5.0, total=0.2))
        )
        took_open = time.monotonic() - opening
    assert caught.kind is opened.kind is Failure.DEADLINE
    assert 0.18 <= took < 1.5
    assert 0.18 <= took_open < 1.5


def trickle(size: int = 20) -> Handler:
    """Headers, then one byte every 50 ms (1 s in all for 20)."""

    def handler(peer: Peer) -> None:
        peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size):
            peer.pause(0.05)
            peer.send(b"z")
        peer.until_closed()

    return handler


@pytest.mark.parametrize("via", ["fetch", "lines", "read"])
def test_a_trickling_body_beats_the_read_timeout_but_not_the_deadline(
    pool: SocketPool, via: str
) -> None:
    with Server(trickle()) as server:
        started = time.monotonic()
        timeouts = Timeouts(2.0, 0.15, total=0.4)
        if via == "fetch":
            caught = failure(lambda: pool.fetch("GET", server.url(), {}, None, timeouts))
        elif via == "lines":
            caught = failure_reading_lines(pool, server.url(), timeouts)
        else:
            caught = failure(lambda: pool.open("GET", server.url(), {}, None, timeouts).read())
        took = time.monotonic() - started
        closed = server.peers[0].closed_by_client()
    assert caught.kind is Failure.DEADLINE
    assert 0.38 <= took < 0.8
    assert closed


def test_a_trickling_body_without_a_deadline_is_read_whole(pool: SocketPool) -> None:
    with Server(trickle(8)) as server:  # 0.4 s: two read timeouts
        status, _, body, _ = pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.2))
    assert (status, body) == (200, b"z" * 8)


def test_a_head_that_trickles_in_is_not_a_read_timeout(pool: SocketPool) -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Slow: yes\r\n\r\nok"

    def handler(peer: Peer) -> None:
        peer.request()
        # every byte within the read timeout of 0.15 s, the head as a whole well past it
        peer.send(*cut(reply, *range(8, len(reply), 8)), pause=0.05)
        peer.until_closed()

    with Server(handler) as server:
        started = time.monotonic()
        status, headers, body, _ = pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.15))
        took = time.monotonic() - started
    assert (status, headers["x-slow"], body) == (200, "yes", b"ok")
    assert took > 0.2


def test_the_read_timeout_fires_on_a_reused_connection(pool: SocketPool) -> None:
    def second_silent(peer: Peer) -> None:
        peer.request()
        peer.send(OK)
        peer.request()
        peer.until_closed()

    with Server(second_silent) as server:
        pool.fetch("GET", server.url(), {}, None, T)  # leaves its 5 s timeout behind
        started = time.monotonic()
        caught = failure(lambda: pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.3)))
        took = time.monotonic() - started
    assert caught.kind is Failure.READ_TIMEOUT
    assert 0.28 <= took < 1.5
    assert server.accepted == 1  # it was the reused connection that timed out
    assert len(server.peers[0].requests) == 2


def test_a_short_read_timeout_left_behind_does_not_cut_the_next_request(pool: SocketPool) -> None:
    def second_slow(peer: Peer) -> None:
        peer.request()
        peer.send(OK)
        peer.request()
        peer.pause(0.4)  # longer than the first request's read timeout
        peer.send(OK)
        answer_each(OK)(peer)

    with Server(second_slow) as server:
        pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.2))
        status, _, body, _ = pool.fetch("GET", server.url(), {}, None, T)
    assert (status, body) == (200, b"ok")
    assert server.accepted == 1


@pytest.fixture(scope="module")
def unanswered() -> Iterator[int]:
    """A local port whose accept queue is full: a connection to it is never made."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        time.sleep(0.02)
        with socket.socket() as probe:
            probe.settimeout(0.1)
            try:
                probe.connect(("127.0.0.1", port))
            except TimeoutError:
                pass
            else:
                pytest.skip("a connection to a full accept queue is made here")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.mark.parametrize(
    ("timeouts", "kind"),
    [
        (Timeouts(0.2, 5.0), Failure.CONNECT_TIMEOUT),
        (Timeouts(5.0, 5.0, total=0.2), Failure.DEADLINE),
    ],
    ids=["connect timeout", "deadline"],
)
def test_a_connection_not_made_in_time_fails(
    pool: SocketPool, unanswered: int, timeouts: Timeouts, kind: Failure
) -> None:
    url = f"http://127.0.0.1:{unanswered}/"
    started = time.monotonic()
    caught = failure(lambda: pool.fetch("GET", url, {}, None, timeouts))
    took = time.monotonic() - started
    assert caught.kind is kind
    assert 0.18 <= took < 1.5


@pytest.mark.parametrize(
    ("timeouts", "kind"),
    [
        (Timeouts(0.15, 5.0), Failure.CONNECT_TIMEOUT),
        (Timeouts(5.0, 5.0, total=0.15), Failure.DEADLINE),
    ],
    ids=["connect timeout", "deadline"],
)
def test_a_name_with_several_addresses_none_answering_is_cut_at_the_timeout(
    pool: SocketPool,
    unanswered: int,
    timeouts: Timeouts,
    kind: Failure,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.getaddrinfo

    def three(host: Any, *args: Any, **kwargs: Any) -> Any:
        """Three addresses for the name, as many an API's name has (all lost here)."""
        if host == "three.example.test":
            (entry,) = real("127.0.0.1", unanswered, socket.AF_INET, socket.SOCK_STREAM)
            return [entry, entry, entry]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", three)
    url = f"http://three.example.test:{unanswered}/"
    started = time.monotonic()
    caught = failure(lambda: pool.fetch("GET", url, {}, None, timeouts))
    took = time.monotonic() - started
    assert caught.kind is kind
    assert 0.13 <= took < 0.35  # the timeout bounds the connecting, not each address tried


def takes_the_head_only(peer: Peer) -> None:
    """Read a request's head, then take no more of it (its body fills the buffers)."""
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    head = b""
    while b"\r\n\r\n" not in head:
        head += peer.sock.recv(1)
    peer.pause(10.0)  # until the server shuts down


@pytest.mark.parametrize(
    ("timeouts", "kind", "bound"),
    [
        (Timeouts(2.0, 0.4, total=0.3), Failure.DEADLINE, 0.3),
        (Timeouts(2.0, 0.3), Failure.READ_TIMEOUT, 0.3),
    ],
    ids=["deadline", "read-timeout"],
)
def test_a_request_the_server_stops_taking_is_timed_out(
    pool: SocketPool, timeouts: Timeouts, kind: Failure, bound: float
) -> None:
    body = b"x" * (24 << 20)  # more than the socket buffers of both ends hold
    with Server(takes_the_head_only) as server:
        started = time.monotonic()
        caught = failure(lambda: pool.fetch("POST", server.url(), {}, body, timeouts))
        took = time.monotonic() - started
    assert caught.kind is kind
    assert bound - 0.02 <= took < bound + 0.5


# -- connections that cannot be made ----------------------------------------------------------


def test_a_refused_connection_is_a_connect_failure(pool: SocketPool) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    fetched = failure(lambda: pool.fetch("GET", url, {}, None, T))
    opened = failure(lambda: pool.open("GET", url, {}, None, T))
    assert fetched.kind is opened.kind is Failure.CONNECT


def test_a_name_that_does_not_resolve_is_a_connect_failure(pool: SocketPool) -> None:
    caught = failure(lambda: pool.fetch("GET", "http://no-such-host.invalid/", {}, None, T))
    assert caught.kind is Failure.CONNECT


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    made = subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a certificate: {made.stderr.decode()[-200:]}")
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


def test_a_tls_connection_is_verified_and_reused(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    backend = SocketPool()
    try:
        with Server(answer_each(OK), tls=server_tls(certificate)) as server:
            first = backend.fetch("GET", server.url("/1", "https"), {}, None, T)
            reply = backend.open("GET", server.url("/2", "https"), {}, None, T)
            second = reply.read()
            reply.close()
            third = backend.fetch("GET", server.url("/3", "https"), {}, None, T)
    finally:
        backend.close()
    assert first[2] == second == third[2] == b"ok"
    assert server.accepted == 1
    assert [r.target for r in server.requests] == ["/1", "/2", "/3"]
    assert server.requests[0].values("host") == [f"127.0.0.1:{server.port}"]


def test_an_untrusted_certificate_is_a_connect_failure(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    backend = SocketPool()  # certifi's authorities: the self-signed certificate is unknown
    try:
        with Server(answer_each(OK), tls=server_tls(certificate)) as server:
            caught = failure(lambda: backend.fetch("GET", server.url("/", "https"), {}, None, T))
    finally:
        backend.close()
    assert caught.kind is Failure.CONNECT
    assert server.requests == []  # nothing was sent


def test_a_tls_handshake_without_an_answer_is_a_connect_timeout() -> None:
    def mute(peer: Peer) -> None:
        peer.pause(10.0)  # takes the connection, never answers the client's hello

    backend = SocketPool()
    try:
        with Server(mute) as server:
            started = time.monotonic()
            caught = failure(
                lambda: backend.fetch("GET", server.url("/", "https"), {}, None, Timeouts(0.2, 5))
            )
            took = time.monotonic() - started
    finally:
        backend.close()
    assert caught.kind is Failure.CONNECT_TIMEOUT
    assert 0.18 <= took < 1.0  # the handshake is part of connecting


def test_tls_to_a_server_speaking_plain_http_is_a_connect_failure() -> None:
    def plain(peer: Peer) -> None:
        peer.sock.recv(4096)  # the client's hello
        peer.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    backend = SocketPool()
    try:
        with Server(plain) as server:
            started = time.monotonic()
            caught = failure(lambda: backend.fetch("GET", server.url("/", "https"), {}, None, T))
            took = time.monotonic() - started
    finally:
        backend.close()
    assert caught.kind is Failure.CONNECT
    assert took < 1.5


# -- broken replies -------------------------------------------------------------------------


def test_garbage_instead_of_http_is_broken(pool: SocketPool) -> None:
    with Server(silent_after(b"SSH-2.0-OpenSSH_9.6\r\n")) as server:
        started = time.monotonic()
        caught = failure(lambda: pool.fetch("GET", server.url(), {}, None, T))
        took = time.monotonic() - started
        closed = server.peers[0].closed_by_client()
    assert caught.kind is Failure.BROKEN
    assert "HTTP" in caught.detail  # said to be no HTTP reply, not a mere hang-up
    assert took < 1.0  # at once, not at the read timeout
    assert closed


def test_no_reply_at_all_is_broken(pool: SocketPool) -> None:
    def hang_up(peer: Peer) -> None:
        peer.request()

    with Server(hang_up) as server:
        fetched = failure(lambda: pool.fetch("GET", server.url(), {}, None, T))
        opened = failure(lambda: pool.open("GET", server.url(), {}, None, T))
    assert fetched.kind is opened.kind is Failure.BROKEN


def test_headers_too_large_are_broken(pool: SocketPool) -> None:
    many = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"f" * 100) for n in range(1000))  # 100 kB
    reply = b"HTTP/1.1 200 OK\r\n" + many + b"Content-Length: 2\r\n\r\nok"
    with Server(silent_after(reply)) as server:
        caught = failure(lambda: pool.fetch("GET", server.url(), {}, None, T))
        closed = server.peers[0].closed_by_client()
    assert caught.kind is Failure.BROKEN
    assert closed


def test_a_header_that_never_ends_is_broken_past_64_kib(pool: SocketPool) -> None:
    reply = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 300_000  # and no line end, ever
    with Server(silent_after(reply)) as server:
        started = time.monotonic()
        caught = failure(lambda: pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.3)))
        took = time.monotonic() - started
        closed = server.peers[0].closed_by_client()
    assert caught.kind is Failure.BROKEN
    assert took < 0.25  # as soon as the limit is passed, not at the read timeout
    assert closed


@pytest.mark.parametrize(
    "body",
    [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n0\r\n\r\n", b"3\r\nabc0\r\n\r\n"],
    ids=["size-not-hex", "data-longer-than-size", "no-crlf-after-data"],
)
def test_bad_chunk_framing_is_broken(pool: SocketPool, body: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

    def handler(peer: Peer) -> None:
        peer.request()
        peer.send(head, body, pause=0.05)  # the head read alone: open() returns
        peer.until_closed()

    with Server(handler) as server:
        started = time.monotonic()
        fetched = failure(lambda: pool.fetch("GET", server.url(), {}, None, T))
        streamed = failure_reading_lines(pool, server.url())
        took = time.monotonic() - started
    assert fetched.kind is streamed.kind is Failure.BROKEN
    assert took < 1.0  # at once, not at the read timeout
    assert server.accepted == 2


@pytest.mark.parametrize("how", ["reset", "close"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_connection_dropped_mid_body_is_broken(pool: SocketPool, how: str, framing: str) -> None:
    if framing == "chunked":
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        part = chunked(b"data: 1\n\ndata: 2\n")[:-5]  # without its last chunk
    else:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
        part = b"data: 1\n\ndata: 2\n"

    def drop(peer: Peer) -> None:
        peer.request()
        peer.send(head + part)
        peer.pause(0.05)  # the client has read what was sent
        if how == "reset":
            peer.reset()

    with Server(drop) as server:
        fetched = failure(lambda: pool.fetch("GET", server.url(), {}, None, T))
        got: list[str] = []
        streamed = failure_reading_lines(pool, server.url(), T, got)
    assert fetched.kind is Failure.BROKEN
    assert streamed.kind is Failure.BROKEN
    assert got == ["data: 1", "", "data: 2"]  # what came before the drop


# -- what is sent ---------------------------------------------------------------------------


def test_the_request_bytes(pool: SocketPool) -> None:
    body = b'{"prompt": "hi"}'
    with Server(answer_each(OK)) as server:
        url = server.url("/v1/a b/%41%2Fz?q=1 2&r=%2F&s=\u00e9")
        pool.fetch("POST", url, {"authorization": "Bearer k", "x-trace": "7"}, body, T)
        pool.fetch("GET", server.url("/plain"), {}, None, T)
    post, get = server.requests
    assert (post.method, post.version) == ("POST", "HTTP/1.1")
    assert post.target == "/v1/a%20b/%41%2Fz?q=1%202&r=%2F&s=%C3%A9"  # escapes kept as sent
    assert post.values("host") == [f"127.0.0.1:{server.port}"]
    assert post.values("content-length") == [str(len(body))]
    assert post.body == body
    assert post.values("accept-encoding") == ["gzip, deflate"]
    assert post.values("authorization") == ["Bearer k"]
    assert post.values("x-trace") == ["7"]
    names = [name.lower() for name, _ in post.headers]
    assert len(names) == len(set(names))
    assert (get.method, get.target) == ("GET", "/plain")
    assert get.values("content-length") == []  # no body, no length
    assert server.accepted == 1


def test_an_empty_body_is_sent_with_a_zero_length(pool: SocketPool) -> None:
    with Server(answer_each(OK)) as server:
        pool.fetch("POST", server.url(), {}, b"", T)
        pool.fetch("GET", server.url(), {}, None, T)
    assert server.requests[0].values("content-length") == ["0"]
    assert server.requests[1].method == "GET"  # nothing stray between the two
    assert server.accepted == 1


def test_a_url_without_a_path_asks_for_the_root(pool: SocketPool) -> None:
    with Server(answer_each(OK)) as server:
        pool.fetch("GET", f"http://127.0.0.1:{server.port}", {}, None, T)
        pool.fetch("GET", f"http://127.0.0.1:{server.port}?x=1", {}, None, T)
    assert [r.target for r in server.requests] == ["/", "/?x=1"]


def test_an_ipv6_host_is_bracketed_in_the_host_header(pool: SocketPool) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"IPv6 loopback (::1) cannot be bound here: {exc}")
    with Server(answer_each(OK), host="::1") as server:
        status, _, body, _ = pool.fetch("GET", server.url("/v6"), {}, None, T)
    assert (status, body) == (200, b"ok")
    assert server.requests[0].values("host") == [f"[::1]:{server.port}"]


@pytest.mark.parametrize(
    "given",
    [
        {"host": "api.example.test", "content-length": "999", "accept-encoding": "identity"},
        {"Host": "api.example.test", "Content-Length": "999", "Accept-Encoding": "identity"},
        {"HOST": "api.example.test", "CONTENT-LENGTH": "999", "accept-Encoding": "identity"},
    ],
    ids=["lower", "capitalised", "mixed"],
)
def test_given_host_content_length_and_accept_encoding_replace_ours(
    pool: SocketPool, given: dict[str, str]
) -> None:
    with Server(answer_each(OK)) as server:
        pool.fetch("POST", server.url(), given, b"abc", T)
        pool.fetch("GET", server.url(), {"Content-Length": "5"}, None, T)
    post, get = server.requests
    assert post.values("host") == ["api.example.test"]
    assert post.values("content-length") == ["3"]  # the body's own length, once
    assert post.body == b"abc"
    assert post.values("accept-encoding") == ["identity"]
    names = [name.lower() for name, _ in post.headers]
    assert len(names) == len(set(names))
    assert get.values("content-length") == []  # no body: the length given is dropped
    assert server.accepted == 1  # the framing held: the GET came right after


SECRET = "sk-top-secret-value"
BAD_HEADERS = {
    "crlf": {"x-key": f"{SECRET}\r\nX-Injected: 1"},
    "lf": {"x-key": f"{SECRET}\nX-Injected: 1"},
    "cr": {"x-key": f"{SECRET}\r"},
    "nul": {"x-key": f"{SECRET}\x00"},
    "space-in-name": {"x key": SECRET},
    "colon-in-name": {"x-key:": SECRET},
    "empty-name": {"": SECRET},
    "non-ascii-name": {"x-k\u00e9y": SECRET},
    "non-ascii-value": {"x-key": f"{SECRET}-\u00e9"},
}


@pytest.mark.parametrize("name", list(BAD_HEADERS))
def test_a_header_that_cannot_be_sent_is_invalid(pool: SocketPool, name: str) -> None:
    with Server(answer_each(OK)) as server:
        caught = failure(lambda: pool.fetch("GET", server.url(), BAD_HEADERS[name], None, T))
        again = failure(lambda: pool.open("POST", server.url(), BAD_HEADERS[name], b"{}", T))
        time.sleep(0.02)  # a connection, had one been made, is accepted by now
    assert caught.kind is again.kind is Failure.INVALID
    for error in (caught, again):
        assert SECRET not in str(error) and SECRET not in error.detail
        assert SECRET not in repr(error.args)
    assert server.accepted == 0  # refused before any connection


@pytest.mark.parametrize("bad", ["x\r\nX-Injected", "bad name", "x-a:b", "\u212aey"])
def test_a_bad_header_name_after_a_capitalised_one_is_invalid(pool: SocketPool, bad: str) -> None:
    with Server(answer_each(OK)) as server:
        caught = failure(
            lambda: pool.fetch("GET", server.url(), {"X-Fine": "1", bad: "1"}, None, T)
        )
        time.sleep(0.02)
    assert caught.kind is Failure.INVALID
    assert server.accepted == 0  # nothing sent
