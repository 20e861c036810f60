"""Sync calls on blocking sockets, with llhttp (through httptools) reading the replies.

The sync twin of :mod:`jtd_ai.backends.async_pool`: the same request bytes and reply
parsing (:mod:`jtd_ai.backends.http11`), on a thread-safe pool of keep-alive sockets. Each
receive waits at most the read timeout and never past the attempt's deadline, so a sync call
or stream is cut on time. httpcore (h11, pure Python) spent more of a stream's time parsing
chunk framing than the caller spent on the events; llhttp parses a piece in one C call.
TLS is the standard library's; proxies go through httpx.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Iterator

from jtd_ai.backends import (
    Failure,
    HTTPFailure,
    LineSplitter,
    Timeouts,
    ssl_context,
)
from jtd_ai.backends.http11 import (
    OpenReply,
    Origin,
    Origins,
    ReplyParser,
    place_timed_out,
    request_bytes,
    whole_body,
)

__all__ = ["SocketPool"]

#: Bytes asked of the socket per receive, and given it per send.
_RECV = 65536
_SEND = 65536
#: poll() where the platform has it (select() cannot watch descriptors above 1023).
_poll = getattr(select, "poll", None)


#: Every pool, so a forked child resets them all before anything else runs.
_POOLS: weakref.WeakSet[SocketPool] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for pool in list(_POOLS):
        pool._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _open_socket(host: str, port: int, by: float) -> socket.socket:
    """A TCP connection to the first of ``host``'s addresses that answers, all of them tried
    by ``by`` (``time.monotonic()``): TimeoutError when the time ran out, else the last
    address's error."""
    last: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port,
                                                              type=socket.SOCK_STREAM):
        left = by - time.monotonic()
        if left <= 0:
            raise TimeoutError("no address answered in time")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(address)
        except TimeoutError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            last = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last or OSError(f"{host} has no address")


class _Connection(ReplyParser):
    """One keep-alive socket, and the reply being read on it."""

    def __init__(self, sock: socket.socket, key: tuple[bool, str, int]) -> None:
        self.sock = sock
        self.pid = os.getpid()  # a forked child must not use (or count) its parent's
        self.idle_since = 0.0
        self.timeout: float | None = None
        super().__init__()
        self.key = key

    def _wait_at_most(self, read: float, ends_at: float | None) -> bool:
        """Set the socket's timeout to ``read`` seconds, or to what is left before
        ``ends_at`` if that is sooner (then True); DEADLINE if nothing is left."""
        timeout = read
        bound = False
        if ends_at is not None:
            left = ends_at - time.monotonic()
            if left <= 0:
                self.close()
                raise HTTPFailure(Failure.DEADLINE, "the attempt's time ran out before the "
                                  "reply was complete")
            if left < timeout:
                timeout, bound = left, True
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout
        return bound

    def _timed_out(self, bound: bool, read: float) -> HTTPFailure:
        self.close()
        if bound:
            return HTTPFailure(Failure.DEADLINE, "the attempt's time ran out before the reply "
                               "was complete")
        return HTTPFailure(Failure.READ_TIMEOUT, f"no progress for {read:g} s")

    def pump(self, read: float, ends_at: float | None) -> None:
        """Receive once, waiting at most ``read`` seconds and not past ``ends_at``
        (``time.monotonic()``), and parse what came; a failure is raised."""
        bound = self._wait_at_most(read, ends_at)
        try:
            data = self.sock.recv(_RECV)
        except TimeoutError:
            raise self._timed_out(bound, read) from None
        except OSError as exc:
            self.close()
            self.ended(exc)
            raise self.error or HTTPFailure(Failure.BROKEN, str(exc)) from None
        if not data:
            self.close()
            self.ended(None)
        elif not self.feed(data):
            self.close()
        if self.error is not None:
            raise self.error

    def send(self, data: bytes, read: float, ends_at: float | None) -> None:
        """Send the request in pieces: the server must take each within the read timeout
        (and all by the deadline), so a large upload on a slow link is not cut short."""
        view = memoryview(data)
        try:
            while view:
                bound = self._wait_at_most(read, ends_at)
                view = view[self.sock.send(view[:_SEND]):]
        except TimeoutError:
            raise self._timed_out(bound, read) from None
        except OSError as exc:
            self.close()
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise HTTPFailure(Failure.BROKEN, f"the request could not be sent ({detail})") \
                from None

    def stale(self) -> bool:
        """Whether the server closed this idle connection (or sent what nobody asked for):
        an idle connection has nothing to read."""
        sock = self.sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True  # bytes already decrypted, where the socket's own check cannot see
        try:
            if _poll is not None:
                poller = _poll()
                poller.register(sock, select.POLLIN)
                return bool(poller.poll(0))
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        self.closed = True
        self.sock.close()


class _Reply(OpenReply):
    """A reply whose headers have arrived; its body is read with ``read`` or ``lines``."""

    __slots__ = ("_pool",)
    _conn: _Connection | None

    def __init__(self, pool: SocketPool, conn: _Connection, url: str, read: float,
                 ends_at: float | None) -> None:
        super().__init__(conn, url, read, ends_at)
        self._pool = pool
        self._conn = conn

    def _chunks(self) -> Iterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        decoder = self._decoder
        while True:
            if conn.body:
                for part in conn.take_body():
                    yield part if decoder is None else decoder.feed(part)
                continue
            if conn.complete:
                break
            conn.pump(self._read, self._ends_at)
        if decoder is not None:
            yield decoder.flush()

    def read(self) -> bytes:
        try:
            return b"".join(list(self._chunks()))
        finally:
            self.close()

    def lines(self) -> Iterator[str]:
        """The body's lines; the connection is given back when they end or are dropped."""
        splitter = LineSplitter()
        try:
            for chunk in self._chunks():
                yield from splitter.feed(chunk)
            yield from splitter.end()
        finally:
            self.close()

    def close(self) -> None:
        """Give the connection back (closed unless the body was read to its end)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn)


class SocketPool:
    """One provider's sync connections; safe to share across threads. At most ``limit``
    connections; a request finding all busy waits for one within its connect timeout."""

    def __init__(self, *, limit: int = 200, keepalive_expiry: float = 30.0,
                 https: bool = True) -> None:
        self._limit = limit
        self._keepalive = keepalive_expiry
        self._ssl: ssl.SSLContext | None = ssl_context() if https else None
        # Reentrant: a reply dropped mid-way may be closed by the garbage collector in a
        # thread that holds the lock already.
        self._cond = threading.Condition(threading.RLock())
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._count = 0
        self._closed = False
        self._origins = Origins()
        self._pid = os.getpid()
        _POOLS.add(self)

    def _after_fork(self) -> None:
        """In a forked child: a new lock (the parent's may have been held by another thread
        at the fork) and no connections (the parent's sockets are the parent's)."""
        self._cond = threading.Condition(threading.RLock())
        self._idle = {}
        self._count = 0
        self._pid = os.getpid()

    # -- connections --------------------------------------------------------------------

    def _acquire(self, origin: Origin, connect: float, ends_at: float | None) -> _Connection:
        now = time.monotonic()
        by = now + connect if ends_at is None else min(now + connect, ends_at)
        if self._pid != os.getpid():
            self._after_fork()
        with self._cond:
            while True:
                conn = self._take_idle(origin.key)
                if conn is not None:
                    return conn
                if self._count < self._limit:
                    self._count += 1
                    break
                if self._close_other_idle(origin.key):
                    break  # its place is ours
                left = by - time.monotonic()
                if left <= 0:
                    raise place_timed_out(by, ends_at, f"no connection of the pool's {self._limit} "
                                                  f"was free")
                self._cond.wait(left)
        try:
            return self._connect(origin, by, ends_at)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _take_idle(self, key: tuple[bool, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if (not conn.closed and time.monotonic() - conn.idle_since <= self._keepalive
                    and not conn.stale()):
                return conn
            conn.close()
            self._count -= 1
        return None

    def _close_other_idle(self, key: tuple[bool, str, int]) -> bool:
        for other, conns in self._idle.items():
            if other != key and conns:
                conns.pop(0).close()  # the least recently used
                return True
        return False

    def _connect(self, origin: Origin, by: float, ends_at: float | None) -> _Connection:
        context = self._ssl
        if origin.ssl and context is None:
            context = self._ssl = ssl_context()
        sock: socket.socket | None = None
        try:
            sock = _open_socket(origin.host, origin.port, by)
            if origin.ssl:
                assert context is not None
                sock.settimeout(max(by - time.monotonic(), 0.001))
                sock = context.wrap_socket(sock, server_hostname=origin.host)
        except TimeoutError:
            if sock is not None:
                sock.close()
            raise place_timed_out(by, ends_at, "no connection was made") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS
            if sock is not None:
                sock.close()
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise HTTPFailure(Failure.CONNECT, detail) from None
        return _Connection(sock, origin.key)

    def release(self, conn: _Connection) -> None:
        """A connection whose request is over: kept when its reply was read to the end and
        it may be, else closed."""
        if conn.pid != os.getpid():  # opened before a fork: the parent's to count and keep
            conn.sock.close()
            return
        with self._cond:
            if conn.complete and conn.keep_alive and not conn.closed and not self._closed:
                conn.begin()
                conn.idle_since = time.monotonic()
                self._idle.setdefault(conn.key, []).append(conn)
            else:
                if not conn.closed:
                    conn.close()
                self._count -= 1
            self._cond.notify()

    def _give_up(self, conn: _Connection) -> None:
        """A request that failed half-way: its connection is closed, its place freed."""
        if not conn.closed:
            conn.close()
        self.release(conn)

    # -- requests -----------------------------------------------------------------------

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeouts: Timeouts) -> tuple[_Connection, float | None]:
        origin = self._origins.get(url)
        data = request_bytes(method, origin, headers, body)
        total = timeouts.total
        ends_at = None if total is None else time.monotonic() + total
        conn = self._acquire(origin, timeouts.connect, ends_at)
        conn.head_only = method == "HEAD"
        conn.expecting = True
        try:
            conn.send(data, timeouts.read, ends_at)
            while not conn.headers_done:
                conn.pump(timeouts.read, ends_at)
        except BaseException:
            self._give_up(conn)
            raise
        return conn, ends_at

    def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        conn, ends_at = self._send(method, url, headers, body, timeouts)
        try:
            while not conn.complete:
                conn.pump(timeouts.read, ends_at)
        except BaseException:
            self._give_up(conn)
            raise
        status, got = conn.status, conn.headers()
        parts = conn.take_body()
        self.release(conn)
        return status, got, whole_body(parts, got.get("content-encoding")), url

    def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
             timeouts: Timeouts) -> _Reply:
        conn, ends_at = self._send(method, url, headers, body, timeouts)
        try:
            return _Reply(self, conn, url, timeouts.read, ends_at)
        except BaseException:
            self._give_up(conn)
            raise

    def close(self) -> None:
        """Close the idle connections; those in use close when their replies are done."""
        with self._cond:
            self._closed = True
            for conns in self._idle.values():
                for conn in conns:
                    conn.close()
                    self._count -= 1
            self._idle.clear()
            self._cond.notify_all()
