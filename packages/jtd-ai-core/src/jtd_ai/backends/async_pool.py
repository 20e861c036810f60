"""Async calls on asyncio's own sockets, with llhttp (through httptools) reading the replies.

A batch is bound by the client's CPU per request. On the benchmark machine, aiohttp's
client spent about 125 µs per request at 64 in flight, httpx's AsyncClient over a
millisecond; an asyncio protocol that writes the request in one piece and hands the reply
to llhttp, the C parser Node.js uses, spends about 40 (docs/performance.md). So the core
keeps its own small HTTP/1.1 client for async calls: a pool of keep-alive connections per
event loop, idle and whole-attempt timeouts on one timer, gzip and deflate, flow control
for streams read slower than they arrive. TLS is asyncio's; proxies go through httpx.

Each event loop gets its own pool, closed when the loop shuts down
(:mod:`jtd_ai.backends.per_loop`), so ``asyncio.run`` may be called again and again without
leaking connections or warnings.

A connection carries one request at a time. Bytes that arrive when no reply is expected, or
a second reply after the one expected, close it: a reply is never given to the wrong
request. When every connection is busy, requests wait their turn in order, each within its
connect timeout (and the attempt's deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator

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
from jtd_ai.backends.per_loop import PerLoop

__all__ = ["AsyncPool"]

#: Unread bytes of a streamed reply above which the socket stops being read.
_HIGH_WATER = 1 << 20
class _Connection(ReplyParser, asyncio.Protocol):
    """One keep-alive connection on asyncio's sockets, and the reply being read on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.idle_since = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.due = 0.0
        self.since = 0.0
        self.read = 0.0
        self.ends_at: float | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.last_data = 0.0
        super().__init__()

    def begin(self) -> None:
        if self.paused:
            self.resume()
        super().begin()
        self.last_data = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last_data = self.loop.time()
        if not self.feed(data):
            self.abort()

    def eof_received(self) -> bool | None:
        self.closed = True  # not to be reused, even before connection_lost runs
        return None  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.ended(exc)

    # -- progress and waiting -----------------------------------------------------------

    def arrived(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    async def wait(self, read: float, ends_at: float | None) -> None:
        """Until something arrives; a READ_TIMEOUT failure after ``read`` seconds of silence,
        DEADLINE at ``ends_at`` (``loop.time()``).

        The connection keeps one timer across waits and requests, moved only when a wait
        needs it sooner: a timer per wait would cost every request a heap push and leave a
        cancelled handle behind for the whole read timeout."""
        if self.error is not None:
            raise self.error
        loop = self.loop
        now = self.since = loop.time()
        self.read = read
        self.ends_at = ends_at
        due = now + read if ends_at is None or ends_at > now + read else ends_at
        if self.timer is None or self.due > due:
            if self.timer is not None:
                self.timer.cancel()
            self.timer = loop.call_at(due, self._expire)
            self.due = due
        waiter = self.waiter = loop.create_future()
        try:
            await waiter
        finally:
            self.waiter = None
        if self.error is not None:
            raise self.error

    def _expire(self) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # idle, or woken already: the next wait sets a timer if it needs one
        now = self.loop.time()
        ends_at = self.ends_at
        if ends_at is not None and now >= ends_at:
            waiter.set_exception(HTTPFailure(Failure.DEADLINE, "the attempt's time ran out "
                                             "before the reply was complete"))
            return
        quiet_until = max(self.last_data, self.since) + self.read
        if now >= quiet_until:
            waiter.set_exception(HTTPFailure(Failure.READ_TIMEOUT,
                                             f"no data for {self.read:g} s"))
            return
        self.due = quiet_until if ends_at is None else min(quiet_until, ends_at)
        self.timer = self.loop.call_at(self.due, self._expire)

    def take_body(self) -> list[bytes]:
        """The body pieces received and not taken yet; reading resumes if it was paused."""
        body = super().take_body()
        if self.paused:
            self.resume()
        return body

    def resume(self) -> None:
        self.paused = False
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def abort(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            # On a closed loop this cannot finish; the socket is closed when collected.
            with contextlib.suppress(RuntimeError):
                self.transport.abort()


#: What a waiting request is handed: a kept connection, or None (a free place to open one).
_Handoff = asyncio.Future[_Connection | None]


class _Pool:
    """The connections of one event loop: idle ones by origin, how many exist (at most
    ``limit``), and the requests waiting for one, served in order."""

    def __init__(self, limit: int, keepalive: float) -> None:
        self.limit = limit
        self.keepalive = keepalive
        self.idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self.count = 0
        self.waiters: deque[_Handoff] = deque()
        self.closed = False

    def _next_waiter(self) -> _Handoff | None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def release(self, conn: _Connection) -> None:
        """A connection whose request is over: kept when its reply was read to the end and
        it may be (handed to the first waiting request, or idle), else closed."""
        if conn.complete and conn.keep_alive and not conn.closed and not self.closed:
            conn.begin()
            self.offer(conn)
        else:
            conn.abort()
            self.discard()

    def offer(self, conn: _Connection) -> None:
        """A connection ready for a request: to the first waiting request, or idle."""
        waiter = self._next_waiter()
        if waiter is not None:
            waiter.set_result(conn)
        else:
            conn.idle_since = conn.loop.time()
            self.idle.setdefault(conn.key, []).append(conn)

    def discard(self) -> None:
        """A connection closed or never opened: its place goes to the first waiting request,
        or is free."""
        waiter = self._next_waiter()
        if waiter is not None:
            waiter.set_result(None)
        else:
            self.count -= 1

    def take_idle(self, key: tuple[bool, str, int], now: float) -> _Connection | None:
        """The most recently used live idle connection to ``key``; stale ones are closed."""
        idle = self.idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since <= self.keepalive:
                return conn
            conn.abort()
            self.discard()
        return None

    def close_other_idle(self, key: tuple[bool, str, int]) -> bool:
        """Close one idle connection to another origin, so its place can serve ``key``."""
        for other, conns in self.idle.items():
            if other != key and conns:
                conns.pop(0).abort()  # the least recently used
                return True
        return False

    def close(self) -> None:
        self.closed = True
        for conns in self.idle.values():
            for conn in conns:
                conn.abort()
        self.idle.clear()
        self.count = 0
        while (waiter := self._next_waiter()) is not None:
            waiter.set_result(None)  # they open their own connections, closed after use


class _Reply(OpenReply):
    """A reply whose headers have arrived; its body is read with ``read`` or ``lines``."""

    __slots__ = ("_pool",)
    _conn: _Connection | None

    def __init__(self, pool: _Pool, conn: _Connection, url: str, read: float,
                 ends_at: float | None) -> None:
        super().__init__(conn, url, read, ends_at)
        self._pool = pool
        self._conn = conn

    async def _chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        decoder = self._decoder
        while True:
            if conn.body:
                for part in conn.take_body():
                    yield part if decoder is None else decoder.feed(part)
                continue  # more (or the end) may have come while the caller was busy
            if conn.complete:
                break
            await conn.wait(self._read, self._ends_at)
        if decoder is not None:
            yield decoder.flush()

    async def read(self) -> bytes:
        try:
            return b"".join([part async for part in self._chunks()])
        finally:
            await self.close()

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines; the connection is given back when they end or are dropped."""
        splitter = LineSplitter()
        try:
            async for chunk in self._chunks():
                for line in splitter.feed(chunk):
                    yield line
            for line in splitter.end():
                yield line
        finally:
            await self.close()

    async def close(self) -> None:
        """Give the connection back (closed unless the body was read to its end)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn)


def _drop(pool: _Pool) -> None:
    pool.close()


async def _aclose(pool: _Pool) -> None:
    pool.close()


class AsyncPool:
    """One provider's async connections: a pool per event loop."""

    def __init__(self, *, limit: int = 200, keepalive_expiry: float = 30.0,
                 https: bool = True) -> None:
        self._limit = limit
        self._keepalive = keepalive_expiry
        self._ssl: ssl.SSLContext | None = ssl_context() if https else None
        self._pools = PerLoop(lambda: _Pool(limit, keepalive_expiry), _aclose, _drop)
        self._origins = Origins()

    # -- connections --------------------------------------------------------------------

    async def _acquire(self, pool: _Pool, origin: Origin, connect: float,
                       ends_at: float | None) -> _Connection:
        """A kept connection to ``origin``, or a new one; waiting for a free place and
        connecting together take at most ``connect`` seconds (and end by ``ends_at``)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        conn = pool.take_idle(origin.key, now)
        if conn is not None:
            return conn
        by = now + connect if ends_at is None else min(now + connect, ends_at)
        if pool.count < pool.limit:
            pool.count += 1
        elif not pool.close_other_idle(origin.key):
            waiter: _Handoff = loop.create_future()
            pool.waiters.append(waiter)
            try:
                async with asyncio.timeout_at(by):
                    handed = await waiter
            except BaseException as exc:
                if waiter.done() and not waiter.cancelled():  # handed over, but leaving
                    handed = waiter.result()
                    if handed is not None:
                        pool.offer(handed)
                    else:
                        pool.discard()
                else:
                    with contextlib.suppress(ValueError):
                        pool.waiters.remove(waiter)
                if isinstance(exc, TimeoutError):
                    raise place_timed_out(by, ends_at, f"no connection of the pool's "
                                          f"{pool.limit} was free") from None
                raise
            if handed is not None:
                if handed.key == origin.key and not handed.closed:
                    return handed
                handed.abort()  # another origin's, or closed meanwhile: its place is ours
        try:
            return await self._connect(loop, origin, by, ends_at)
        except BaseException:
            pool.discard()
            raise

    async def _connect(self, loop: asyncio.AbstractEventLoop, origin: Origin, by: float,
                       ends_at: float | None) -> _Connection:
        context = self._ssl
        if origin.ssl and context is None:
            context = self._ssl = ssl_context()
        try:
            async with asyncio.timeout_at(by):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop), origin.host, origin.port,
                    ssl=context if origin.ssl else None,
                    server_hostname=origin.host if origin.ssl else None)
        except TimeoutError:
            raise place_timed_out(by, ends_at, "no connection was made") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise HTTPFailure(Failure.CONNECT, detail) from None
        conn.key = origin.key
        return conn

    async def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> tuple[_Pool, _Connection, float | None]:
        loop = asyncio.get_running_loop()
        pool = await self._pools.get()
        origin = self._origins.get(url)
        data = request_bytes(method, origin, headers, body)
        total = timeouts.total
        ends_at = None if total is None else loop.time() + total
        conn = await self._acquire(pool, origin, timeouts.connect, ends_at)
        conn.head_only = method == "HEAD"
        conn.expecting = True
        conn.last_data = loop.time()
        try:
            assert conn.transport is not None
            conn.transport.write(data)
            while not conn.headers_done:
                await conn.wait(timeouts.read, ends_at)
        except BaseException:
            conn.abort()
            pool.release(conn)
            raise
        return pool, conn, ends_at

    async def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeouts: Timeouts) -> tuple[int, dict[str, str], bytes, str]:
        pool, conn, ends_at = await self._send(method, url, headers, body, timeouts)
        parts: list[bytes] = []
        try:
            while not conn.complete:
                await conn.wait(timeouts.read, ends_at)
                if conn.paused:  # a large body: keep reading
                    parts += conn.take_body()
        except BaseException:
            conn.abort()
            pool.release(conn)
            raise
        headers_got = conn.headers()
        status = conn.status
        parts += conn.take_body()
        pool.release(conn)
        return status, headers_got, whole_body(parts, headers_got.get("content-encoding")), url

    async def open(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                   timeouts: Timeouts) -> _Reply:
        pool, conn, ends_at = await self._send(method, url, headers, body, timeouts)
        try:
            return _Reply(pool, conn, url, timeouts.read, ends_at)
        except BaseException:
            conn.abort()
            pool.release(conn)
            raise

    async def close(self) -> None:
        """Close this loop's pool (others close with their loops)."""
        await self._pools.close()
