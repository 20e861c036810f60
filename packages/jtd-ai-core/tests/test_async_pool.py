"""The core's own async HTTP/1.1 client (``jtd_ai.backends.async_pool``), byte by byte.

Every test talks to a tiny raw server written here, which sends exactly the bytes the test
needs (chunks cut at awkward places, interim replies, resets, silence) and records what it
received and how many connections it accepted. Nothing leaves the machine."""

from __future__ import annotations

import asyncio
import gc
import gzip
import itertools
import socket
import struct
import threading
import time
import warnings
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from jtd_ai.backends import Failure, HTTPFailure, Timeouts
from jtd_ai.backends.async_pool import _HIGH_WATER, AsyncPool

#: Generous where timing is not the point.
T = Timeouts(connect=2.0, read=5.0)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


# -- a raw server ---------------------------------------------------------------------------


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
    """One connection the server accepted."""

    def __init__(
        self, server: Server, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.index = index
        self.reader = reader
        self.writer = writer
        self.requests: list[Request] = []
        self.saw_eof = False  # the client closed its end (seen by a read of the handler's)
        self._eof = asyncio.Event()

    def _saw_eof(self) -> None:
        self.saw_eof = True
        self._eof.set()

    async def request(self) -> Request | None:
        """The next request on this connection; None when the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise AssertionError(f"the client sent a cut request: {exc.partial!r}") from None
            self._saw_eof()
            return None
        except ConnectionError:
            self._saw_eof()
            return None
        first, *lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, version = first.split(" ")
        pairs = [line.split(":", 1) if ":" in line else [line, ""] for line in lines]
        headers = [(name, value.strip()) for name, value in pairs]
        lengths = {value for name, value in headers if name.lower() == "content-length"}
        body = await self.reader.readexactly(int(lengths.pop())) if len(lengths) == 1 else b""
        request = Request(method, target, version, headers, body, head)
        self.requests.append(request)
        self.server.requests.append(request)
        return request

    async def send(self, *pieces: bytes, pause: float = 0.0) -> None:
        """Write ``pieces`` one after the other, ``pause`` seconds apart (so that they reach
        the client in separate reads)."""
        for number, piece in enumerate(pieces):
            if number and pause:
                await asyncio.sleep(pause)
            self.writer.write(piece)
            await self.writer.drain()

    async def until_closed(self, timeout: float = 10.0) -> None:
        """(In a handler) read until the client closes its end, or ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                rest = await self.reader.read()
        except TimeoutError:
            return
        except ConnectionError:
            rest = b""
        assert rest == b"", f"the client sent more: {rest!r}"
        self._saw_eof()

    async def closed_by_client(self, timeout: float = 2.0) -> bool:
        """(In a test) whether the handler sees the client close this connection within
        ``timeout``; the handler must be reading (``request`` or ``until_closed``)."""
        try:
            async with asyncio.timeout(timeout):
                await self._eof.wait()
        except TimeoutError:
            return False
        return True

    def reset(self) -> None:
        """Drop the connection with a TCP RST (SO_LINGER 0), not a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Peer], Awaitable[None]]


class Server:
    """A TCP server that runs ``handler`` on each connection it accepts, and closes the
    connection when the handler returns."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.port = 0
        self.accepted = 0
        self.peers: list[Peer] = []
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        if self.errors:
            raise self.errors[0]

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(self, self.accepted, reader, writer)
        self.accepted += 1
        self.peers.append(peer)
        try:
            await self.handler(peer)
        except ConnectionError:
            pass  # the client went away: some tests are about just that
        except asyncio.CancelledError:
            pass  # the server is closing (a cancelled task here would be logged as an error)
        except Exception as exc:  # an assertion in a handler: fail the test with it
            self.errors.append(exc)
        finally:
            writer.close()


class ThreadedServer:
    """A :class:`Server` on its own event loop in a thread, for tests that run loops."""

    def __init__(self, handler: Handler) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = Server(handler)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self.loop).result(5)
        return self.server

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.__aexit__(), self.loop).result(5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


def answer_each(*replies: bytes) -> Handler:
    """Answer the requests on a connection with ``replies`` in turn (the last one again and
    again), until the client closes it."""

    async def handler(peer: Peer) -> None:
        number = 0
        while await peer.request() is not None:
            await peer.send(replies[min(number, len(replies) - 1)])
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


@pytest.fixture
async def pool() -> AsyncIterator[AsyncPool]:
    backend = AsyncPool(https=False)
    yield backend
    await backend.close()


async def read_lines(backend: AsyncPool, url: str, timeouts: Timeouts = T) -> list[str]:
    reply = await backend.open("GET", url, {}, None, timeouts)
    try:
        assert reply.status == 200
        return [line async for line in reply.lines()]
    finally:
        await reply.close()


async def failure(call: Awaitable[Any]) -> HTTPFailure:
    """The HTTPFailure ``call`` raises."""
    with pytest.raises(HTTPFailure) as caught:
        await call
    return caught.value


async def failure_reading_lines(
    backend: AsyncPool, url: str, timeouts: Timeouts = T, got: list[str] | None = None
) -> HTTPFailure:
    reply = await backend.open("GET", url, {}, None, timeouts)
    try:
        with pytest.raises(HTTPFailure) as caught:
            async for line in reply.lines():
                if got is not None:
                    got.append(line)
    finally:
        await reply.close()
    return caught.value


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


async def send_chunked_awkwardly(peer: Peer) -> None:
    while await peer.request() is not None:
        await peer.send(
            CHUNKED_HEAD[:20], CHUNKED_HEAD[20:], *cut(CHUNKED_BODY, *awkward_cuts()), pause=0.01
        )


async def test_a_chunked_reply_cut_anywhere_is_fetched_whole(pool: AsyncPool) -> None:
    async with Server(send_chunked_awkwardly) as server:
        status, headers, body, where = await pool.fetch("GET", server.url("/s"), {}, None, T)
        again = await pool.fetch("GET", server.url("/s"), {}, None, T)
    assert status == 200
    assert headers["transfer-encoding"] == "chunked"
    assert body == b"".join(EVENTS)
    assert where == server.url("/s")
    assert again[2] == body
    assert server.accepted == 1  # the framing ended exactly where it should: reused


async def test_a_chunked_reply_cut_anywhere_gives_whole_lines(pool: AsyncPool) -> None:
    async with Server(send_chunked_awkwardly) as server:
        first = await read_lines(pool, server.url())
        second = await read_lines(pool, server.url())
    assert first == second == LINES
    assert server.accepted == 1


@pytest.mark.parametrize("status_line", [b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK"])
async def test_a_body_ended_by_the_close_is_read_whole(pool: AsyncPool, status_line: bytes) -> None:
    async def until_close(peer: Peer) -> None:
        await peer.request()
        await peer.send(
            status_line + b"\r\nContent-Type: text/plain\r\n\r\n",
            b"line 1\nli",
            b"ne 2\n",
            b"last, unterminated",
            pause=0.02,
        )
        # returning closes the connection: the end of the body

    async with Server(until_close) as server:
        status, _, body, _ = await pool.fetch("GET", server.url(), {}, None, T)
        lines = await read_lines(pool, server.url())
        again = await pool.fetch("GET", server.url(), {}, None, T)
    assert status == 200
    assert body == again[2] == b"line 1\nline 2\nlast, unterminated"
    assert lines == ["line 1", "line 2", "last, unterminated"]
    assert server.accepted == 3  # a connection that ended cannot be reused


async def test_an_http_1_0_reply_is_read_and_its_connection_not_kept(pool: AsyncPool) -> None:
    reply = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    async with Server(answer_each(reply)) as server:  # the server would keep the socket open
        first = await pool.fetch("GET", server.url(), {}, None, T)
        second = await pool.fetch("GET", server.url(), {}, None, T)
        closed = await server.peers[0].closed_by_client()
    assert first[:3] == second[:3] == (200, {"content-length": "5"}, b"hello")
    assert server.accepted == 2
    assert closed  # the client hung up on the first connection itself


@pytest.mark.parametrize("pause", [0.0, 0.05], ids=["one-write", "interim-then-pause"])
async def test_an_interim_100_continue_comes_before_the_real_reply(
    pool: AsyncPool, pause: float
) -> None:
    interim = b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    final = b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\nX-Final: yes\r\n\r\ndone"

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            if pause:
                await peer.send(interim, hints, final, pause=pause)
            else:
                await peer.send(interim + hints + final)

    async with Server(handler) as server:
        status, headers, body, _ = await pool.fetch("POST", server.url(), {}, b"{}", T)
        reply = await pool.open("POST", server.url(), {}, b"{}", T)
        streamed = (reply.status, dict(reply.headers), await reply.read())
    assert (status, headers, body) == (201, {"content-length": "4", "x-final": "yes"}, b"done")
    assert streamed == (201, {"content-length": "4", "x-final": "yes"}, b"done")
    assert server.accepted == 1


async def test_a_204_reply_has_no_body_and_keeps_the_connection(pool: AsyncPool) -> None:
    async with Server(answer_each(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", OK)) as server:
        first = await pool.fetch("DELETE", server.url("/thing"), {}, None, T)
        second = await pool.fetch("GET", server.url(), {}, None, T)
    assert first[:3] == (204, {"x-a": "1"}, b"")
    assert second[2] == b"ok"
    assert server.accepted == 1


# -- keep-alive -----------------------------------------------------------------------------


async def test_requests_in_turn_share_one_connection(pool: AsyncPool) -> None:
    async with Server(answer_each(OK)) as server:
        bodies = [(await pool.fetch("GET", server.url(f"/{n}"), {}, None, T))[2] for n in range(3)]
        reply = await pool.open("GET", server.url("/3"), {}, None, T)
        bodies.append(await reply.read())
        bodies.append((await pool.fetch("GET", server.url("/4"), {}, None, T))[2])
    assert bodies == [b"ok"] * 5
    assert server.accepted == 1
    assert [r.target for r in server.peers[0].requests] == ["/0", "/1", "/2", "/3", "/4"]


async def test_a_connection_close_reply_is_not_reused(pool: AsyncPool) -> None:
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    async with Server(answer_each(close)) as server:  # but the server keeps it open
        first = await pool.fetch("GET", server.url(), {}, None, T)
        second = await pool.fetch("GET", server.url(), {}, None, T)
        closed = await server.peers[0].closed_by_client()
    assert first[2] == second[2] == b"ok"
    assert server.accepted == 2
    assert len(server.peers[0].requests) == 1
    assert closed


async def test_a_connection_the_server_closed_while_idle_is_not_reused(pool: AsyncPool) -> None:
    idle = asyncio.Event()

    async def one_then_close(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)  # keep-alive, as far as the reply says
        await idle.wait()  # then close it while it sits in the pool

    async with Server(one_then_close) as server:
        first = await pool.fetch("GET", server.url(), {}, None, T)
        idle.set()
        await asyncio.sleep(0.1)  # the server's FIN reaches the client
        second = await pool.fetch("GET", server.url(), {}, None, T)
    assert first[2] == second[2] == b"ok"
    assert server.accepted == 2
    assert [len(peer.requests) for peer in server.peers] == [1, 1]


async def test_an_idle_connection_past_its_expiry_is_not_reused() -> None:
    backend = AsyncPool(https=False, keepalive_expiry=0.1)
    try:
        async with Server(answer_each(OK)) as server:
            await backend.fetch("GET", server.url(), {}, None, T)
            await backend.fetch("GET", server.url(), {}, None, T)
            await asyncio.sleep(0.25)
            await backend.fetch("GET", server.url(), {}, None, T)
            closed = await server.peers[0].closed_by_client()
    finally:
        await backend.close()
    assert server.accepted == 2
    assert [len(peer.requests) for peer in server.peers] == [2, 1]
    assert closed


async def test_a_reply_nobody_asked_for_is_not_the_next_requests_reply(pool: AsyncPool) -> None:
    stray = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(OK)
            if peer.index == 0:
                await asyncio.sleep(0.05)
                await peer.send(stray)  # while the connection sits idle in the pool
                await asyncio.sleep(1.0)  # its FIN comes later than the next request
                return

    async with Server(handler) as server:
        await pool.fetch("GET", server.url("/first"), {}, None, T)
        await asyncio.sleep(0.2)  # the stray reply has arrived
        status, _, body, _ = await pool.fetch("GET", server.url("/second"), {}, None, T)
    assert (status, body) == (200, b"ok")  # not the stale 408
    assert server.accepted == 2
    assert [[r.target for r in peer.requests] for peer in server.peers] == [["/first"], ["/second"]]


async def test_a_second_reply_to_one_request_closes_the_connection(pool: AsyncPool) -> None:
    async with Server(answer_each(OK + OK)) as server:
        first = await pool.fetch("GET", server.url(), {}, None, T)
        second = await pool.fetch("GET", server.url(), {}, None, T)
        closed = await server.peers[0].closed_by_client()
    assert first[:3] == second[:3] == (200, {"content-length": "2"}, b"ok")
    assert server.accepted == 2  # the extra reply is nobody's: its connection was dropped
    assert closed


async def test_a_reply_closed_unread_gives_its_connection_up() -> None:
    backend = AsyncPool(https=False, limit=1)

    async def first_slow(peer: Peer) -> None:
        if peer.index:
            await answer_each(OK)(peer)
            return
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789")
        await asyncio.sleep(0.3)
        await peer.send(b"0123456789")  # too late: the client has hung up
        await peer.until_closed()

    try:
        async with Server(first_slow) as server:
            reply = await backend.open("GET", server.url(), {}, None, T)
            await reply.close()  # mid-body: the connection cannot be reused
            second = await backend.fetch("GET", server.url(), {}, None, Timeouts(0.5, 5.0))
            closed = await server.peers[0].closed_by_client()
    finally:
        await backend.close()
    assert second[2] == b"ok"  # on a new connection, the limit's one place given back
    assert server.accepted == 2
    assert closed


async def test_a_cancelled_request_gives_its_connection_up() -> None:
    backend = AsyncPool(https=False, limit=1)

    async def first_silent(peer: Peer) -> None:
        if peer.index == 0:
            await peer.request()
            await peer.until_closed()
            return
        await answer_each(OK)(peer)

    try:
        async with Server(first_silent) as server:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await backend.fetch("GET", server.url(), {}, None, T)
            second = await backend.fetch("GET", server.url(), {}, None, Timeouts(0.5, 5.0))
            await asyncio.sleep(0.05)
    finally:
        await backend.close()
    assert second[2] == b"ok"
    assert server.accepted == 2
    assert server.peers[0].saw_eof  # the cancelled request's connection was closed


# -- the pool's limit -----------------------------------------------------------------------


async def test_a_request_beyond_the_limit_waits_for_a_connection() -> None:
    backend = AsyncPool(https=False, limit=1)
    go = asyncio.Event()
    arrived = asyncio.Event()

    async def held(peer: Peer) -> None:
        while await peer.request() is not None:
            arrived.set()
            await go.wait()
            await peer.send(OK)

    try:
        async with Server(held) as server:
            first = asyncio.create_task(backend.fetch("GET", server.url("/1"), {}, None, T))
            await arrived.wait()
            second = asyncio.create_task(backend.fetch("GET", server.url("/2"), {}, None, T))
            await asyncio.sleep(0.2)
            assert not first.done() and not second.done()
            assert server.accepted == 1  # the second did not open a connection of its own
            assert len(server.requests) == 1  # nor did it send on the busy one
            go.set()
            results = await asyncio.gather(first, second)
    finally:
        await backend.close()
    assert [r[2] for r in results] == [b"ok", b"ok"]
    assert server.accepted == 1
    assert [r.target for r in server.requests] == ["/1", "/2"]


def held_until(go: asyncio.Event) -> Callable[[Peer], Awaitable[None]]:
    """A server that answers each request once ``go`` is set: its connection stays busy."""

    async def held(peer: Peer) -> None:
        while await peer.request() is not None:
            await go.wait()
            await peer.send(OK)

    return held


@pytest.mark.parametrize(
    ("timeouts", "kind"),
    [
        (Timeouts(0.3, 5.0), Failure.CONNECT_TIMEOUT),
        (Timeouts(5.0, 5.0, total=0.3), Failure.DEADLINE),
    ],
    ids=["connect timeout", "deadline"],
)
async def test_a_request_waiting_for_a_place_too_long_fails(
    timeouts: Timeouts, kind: Failure
) -> None:
    backend = AsyncPool(https=False, limit=1)
    go = asyncio.Event()
    try:
        async with Server(held_until(go)) as server:
            first = asyncio.create_task(backend.fetch("GET", server.url(), {}, None, T))
            await asyncio.sleep(0.05)
            started = time.monotonic()
            caught = await failure(backend.fetch("GET", server.url(), {}, None, timeouts))
            waited = time.monotonic() - started
            go.set()
            assert (await first)[2] == b"ok"
    finally:
        await backend.close()
    assert caught.kind is kind
    assert 0.25 <= waited < 1.5
    assert server.accepted == 1


async def test_an_idle_connection_to_another_origin_makes_room() -> None:
    backend = AsyncPool(https=False, limit=1)
    try:
        async with Server(answer_each(OK)) as one, Server(answer_each(OK)) as two:
            await backend.fetch("GET", one.url(), {}, None, T)  # now idle in the pool
            status, _, body, _ = await backend.fetch("GET", two.url(), {}, None, Timeouts(0.5, 5.0))
            closed = await one.peers[0].closed_by_client()
    finally:
        await backend.close()
    assert (status, body) == (200, b"ok")
    assert closed  # the idle connection to the first server made room for the second
    assert (one.accepted, two.accepted) == (1, 1)


async def test_requests_waiting_for_a_place_are_served_in_order() -> None:
    backend = AsyncPool(https=False, limit=1)
    go = asyncio.Event()
    try:
        async with Server(held_until(go)) as server:
            tasks = []
            for name in "abcde":
                tasks.append(
                    asyncio.create_task(backend.fetch("GET", server.url(f"/{name}"), {}, None, T))
                )
                await asyncio.sleep(0.02)  # queued in this order
            tasks[2].cancel()  # "c" gives up: its turn passes to "d"
            go.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await backend.close()
    assert isinstance(results[2], asyncio.CancelledError)
    assert [r[2] for i, r in enumerate(results) if i != 2] == [b"ok"] * 4  # type: ignore[index]
    assert [r.target for r in server.requests] == ["/a", "/b", "/d", "/e"]
    assert server.accepted == 1


# -- flow control ---------------------------------------------------------------------------

BIG_LINES = 80_000  # 64 bytes each: about 5 MB


def big_body() -> bytes:
    return b"".join(b"%07d %s\n" % (n, b"x" * 55) for n in range(BIG_LINES))


async def test_a_large_stream_read_slowly_arrives_whole_in_order(pool: AsyncPool) -> None:
    body = big_body()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(head + body)  # all at once: faster than the reader
        await answer_each(OK)(peer)

    held: list[int] = []
    got: list[str] = []
    async with Server(handler) as server:
        reply = await pool.open("GET", server.url(), {}, None, Timeouts(2.0, 0.5))
        try:
            async for line in reply.lines():
                got.append(line)
                if len(got) % 4000 == 0:
                    await asyncio.sleep(0.005)  # a slow reader
                    assert reply._conn is not None
                    held.append(reply._conn.buffered)
        finally:
            await reply.close()
        again = await pool.fetch("GET", server.url(), {}, None, T)
    assert len(got) == BIG_LINES
    assert got == [line.decode() for line in body.splitlines()]
    # the socket stops being read above the high-water mark: never the whole 5 MB in memory
    assert max(held) < _HIGH_WATER + (512 << 10)
    assert again[2] == b"ok"
    assert server.accepted == 1  # read to its end, the connection went back to the pool


async def test_the_end_of_a_stream_that_arrives_while_the_reader_is_busy_is_seen(
    pool: AsyncPool,
) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(head + chunked(b"data: 1\n\n")[:-5])
        await asyncio.sleep(0.05)  # the reader is busy with "data: 1" now
        await peer.send(chunked(b"data: 2\n\n"))  # the rest, and the end
        await peer.until_closed()

    got: list[str] = []
    async with Server(handler) as server:
        reply = await pool.open("GET", server.url(), {}, None, Timeouts(2.0, 0.5))
        try:
            async for line in reply.lines():
                got.append(line)
                if line == "data: 1":
                    await asyncio.sleep(0.2)  # work on the event, well within the read timeout
        finally:
            await reply.close()
    assert got == ["data: 1", "", "data: 2", ""]


async def test_a_large_body_is_fetched_whole(pool: AsyncPool) -> None:
    body = big_body()[: 3 << 20]
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    async with Server(answer_each(reply)) as server:
        status, _, got, _ = await pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.5))
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
async def test_a_compressed_body_is_decoded_by_fetch(pool: AsyncPool, name: str) -> None:
    encoding, data = ENCODED[name]
    reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (
        encoding.encode(),
        len(data),
    )

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(reply, *cut(data, 2, 9, 40), pause=0.01)

    async with Server(handler) as server:
        status, headers, body, _ = await pool.fetch("GET", server.url(), {}, None, T)
    assert status == 200
    assert headers["content-encoding"] == encoding
    assert body == TEXT
    assert server.requests[0].values("accept-encoding") == ["gzip, deflate"]


@pytest.mark.parametrize("name", sorted(ENCODED))
async def test_a_compressed_stream_is_decoded_by_lines(pool: AsyncPool, name: str) -> None:
    encoding, data = ENCODED[name]
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
        % encoding.encode()
    )
    body = chunked(*cut(data, 2, 5, 17, 30, len(data) - 3))

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(head, *cut(body, 7, 20, 33, 60), pause=0.01)

    async with Server(handler) as server:
        lines = await read_lines(pool, server.url())
        again = await read_lines(pool, server.url())
    assert lines == again == TEXT_LINES
    assert server.accepted == 1


async def test_a_raw_deflate_stream_whose_first_piece_is_one_byte_is_decoded(
    pool: AsyncPool,
) -> None:
    data = raw_deflate(TEXT)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = chunked(*cut(data, 1))

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(head, body)

    async with Server(handler) as server:
        assert await read_lines(pool, server.url()) == TEXT_LINES


async def test_an_encoding_we_did_not_ask_for_is_broken(pool: AsyncPool) -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\n\x1b\x03\x00\x00"
    async with Server(answer_each(reply)) as server:
        fetched = await failure(pool.fetch("GET", server.url(), {}, None, T))
        opened = await failure(pool.open("GET", server.url(), {}, None, T))
    assert fetched.kind is opened.kind is Failure.BROKEN
    assert "br" in fetched.detail


@pytest.mark.parametrize("via", ["fetch", "lines"])
async def test_a_corrupt_gzip_body_is_broken(pool: AsyncPool, via: str) -> None:
    data = b"\x1f\x8b\x08\x00" + b"not really gzip at all" * 3
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(data)
        + data
    )
    async with Server(answer_each(reply)) as server:
        if via == "fetch":
            caught = await failure(pool.fetch("GET", server.url(), {}, None, T))
        else:
            caught = await failure_reading_lines(pool, server.url())
    assert caught.kind is Failure.BROKEN
    assert "corrupt" in caught.detail


# -- timeouts -------------------------------------------------------------------------------


async def silent_after(peer: Peer, data: bytes) -> None:
    await peer.request()
    await peer.send(data)
    await peer.until_closed()


@pytest.mark.parametrize(
    "sent",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
    ids=["before-headers", "mid-body"],
)
async def test_silence_is_a_read_timeout(pool: AsyncPool, sent: bytes) -> None:
    async with Server(lambda peer: silent_after(peer, sent)) as server:
        started = time.monotonic()
        caught = await failure(pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.2)))
        took = time.monotonic() - started
        closed = await server.peers[0].closed_by_client()
    assert caught.kind is Failure.READ_TIMEOUT
    assert 0.18 <= took < 1.5
    assert closed  # a connection that timed out is not kept


async def test_silence_after_the_headers_is_a_read_timeout_in_lines(pool: AsyncPool) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nline1\n\r\n"
    async with Server(lambda peer: silent_after(peer, head)) as server:
        got: list[str] = []
        started = time.monotonic()
        caught = await failure_reading_lines(pool, server.url(), Timeouts(2.0, 0.2), got)
        took = time.monotonic() - started
    assert caught.kind is Failure.READ_TIMEOUT
    assert got == ["line1"]
    assert 0.18 <= took < 1.5


async def test_the_total_time_is_a_deadline(pool: AsyncPool) -> None:
    async with Server(lambda peer: silent_after(peer, b"")) as server:
        started = time.monotonic()
        caught = await failure(
            pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 5.0, total=0.3))
        )
        took = time.monotonic() - started
    assert caught.kind is Failure.DEADLINE
    assert 0.28 <= took < 1.5


async def trickle(peer: Peer, size: int = 20) -> None:
    """Headers, then one byte every 50 ms (1 s in all for 20)."""
    await peer.request()
    await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
    for _ in range(size):
        await asyncio.sleep(0.05)
        await peer.send(b"z")
    await peer.until_closed()


@pytest.mark.parametrize("via", ["fetch", "lines"])
async def test_a_trickling_body_beats_the_read_timeout_but_not_the_deadline(
    pool: AsyncPool, via: str
) -> None:
    async with Server(trickle) as server:
        started = time.monotonic()
        timeouts = Timeouts(2.0, 0.2, total=0.5)
        if via == "fetch":
            caught = await failure(pool.fetch("GET", server.url(), {}, None, timeouts))
        else:
            caught = await failure_reading_lines(pool, server.url(), timeouts)
        took = time.monotonic() - started
    assert caught.kind is Failure.DEADLINE
    assert 0.48 <= took < 0.9


async def test_a_trickling_body_without_a_deadline_is_read_whole(pool: AsyncPool) -> None:
    async with Server(lambda peer: trickle(peer, 12)) as server:  # 0.6 s: three read timeouts
        status, _, body, _ = await pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.2))
    assert (status, body) == (200, b"z" * 12)


async def test_a_head_that_trickles_in_is_not_a_read_timeout(pool: AsyncPool) -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Slow: yes\r\n\r\nok"

    async def handler(peer: Peer) -> None:
        await peer.request()
        # every byte within the read timeout of 0.2 s, the head as a whole well past it
        await peer.send(*cut(reply, *range(8, len(reply), 8)), pause=0.07)
        await peer.until_closed()

    async with Server(handler) as server:
        started = time.monotonic()
        status, headers, body, _ = await pool.fetch(
            "GET", server.url(), {}, None, Timeouts(2.0, 0.2)
        )
        took = time.monotonic() - started
    assert (status, headers["x-slow"], body) == (200, "yes", b"ok")
    assert took > 0.3


async def test_the_read_timeout_fires_on_a_reused_connection(pool: AsyncPool) -> None:
    async def second_silent(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        await peer.request()
        await peer.until_closed()

    async with Server(second_silent) as server:
        await pool.fetch("GET", server.url(), {}, None, T)  # leaves its 5 s timer behind
        started = time.monotonic()
        caught = await failure(pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.3)))
        took = time.monotonic() - started
    assert caught.kind is Failure.READ_TIMEOUT
    assert 0.28 <= took < 1.5
    assert server.accepted == 1  # it was the reused connection that timed out
    assert len(server.peers[0].requests) == 2


async def test_a_short_read_timeout_left_behind_does_not_cut_the_next_request(
    pool: AsyncPool,
) -> None:
    async def second_slow(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        await peer.request()
        await asyncio.sleep(0.6)  # longer than the first request's read timeout
        await peer.send(OK)
        await answer_each(OK)(peer)

    async with Server(second_slow) as server:
        await pool.fetch("GET", server.url(), {}, None, Timeouts(2.0, 0.3))
        status, _, body, _ = await pool.fetch("GET", server.url(), {}, None, T)
    assert (status, body) == (200, b"ok")
    assert server.accepted == 1


# -- broken replies -------------------------------------------------------------------------


async def test_garbage_instead_of_http_is_broken(pool: AsyncPool) -> None:
    async with Server(lambda peer: silent_after(peer, b"SSH-2.0-OpenSSH_9.6\r\n")) as server:
        started = time.monotonic()
        caught = await failure(pool.fetch("GET", server.url(), {}, None, T))
        took = time.monotonic() - started
        closed = await server.peers[0].closed_by_client()
    assert caught.kind is Failure.BROKEN
    assert "HTTP" in caught.detail  # said to be no HTTP reply, not a mere hang-up
    assert took < 1.0  # at once, not at the read timeout
    assert closed


async def test_no_reply_at_all_is_broken(pool: AsyncPool) -> None:
    async def hang_up(peer: Peer) -> None:
        await peer.request()

    async with Server(hang_up) as server:
        caught = await failure(pool.fetch("GET", server.url(), {}, None, T))
    assert caught.kind is Failure.BROKEN


async def test_headers_too_large_are_broken(pool: AsyncPool) -> None:
    many = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"f" * 100) for n in range(1000))  # 100 kB
    reply = b"HTTP/1.1 200 OK\r\n" + many + b"Content-Length: 2\r\n\r\nok"
    async with Server(lambda peer: silent_after(peer, reply)) as server:
        caught = await failure(pool.fetch("GET", server.url(), {}, None, T))
        closed = await server.peers[0].closed_by_client()
    assert caught.kind is Failure.BROKEN
    assert closed


@pytest.mark.parametrize("how", ["reset", "close"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_connection_dropped_mid_body_is_broken(
    pool: AsyncPool, how: str, framing: str
) -> None:
    if framing == "chunked":
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        part = chunked(b"data: 1\n\ndata: 2\n")[:-5]  # without its last chunk
    else:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
        part = b"data: 1\n\ndata: 2\n"

    async def drop(peer: Peer) -> None:
        await peer.request()
        await peer.send(head + part)
        await asyncio.sleep(0.1)  # the client has read what was sent
        if how == "reset":
            peer.reset()

    async with Server(drop) as server:
        fetched = await failure(pool.fetch("GET", server.url(), {}, None, T))
        got: list[str] = []
        streamed = await failure_reading_lines(pool, server.url(), T, got)
    assert fetched.kind is Failure.BROKEN
    assert streamed.kind is Failure.BROKEN
    assert got == ["data: 1", "", "data: 2"]  # what came before the drop


# -- what is sent ---------------------------------------------------------------------------


async def test_the_request_bytes(pool: AsyncPool) -> None:
    body = b'{"prompt": "hi"}'
    async with Server(answer_each(OK)) as server:
        url = server.url("/v1/a b/%41%2Fz?q=1 2&r=%2F&s=\u00e9")
        await pool.fetch("POST", url, {"authorization": "Bearer k", "x-trace": "7"}, body, T)
        await pool.fetch("GET", server.url("/plain"), {}, None, T)
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


async def test_an_empty_body_is_sent_with_a_zero_length(pool: AsyncPool) -> None:
    async with Server(answer_each(OK)) as server:
        await pool.fetch("POST", server.url(), {}, b"", T)
        await pool.fetch("GET", server.url(), {}, None, T)
    assert server.requests[0].values("content-length") == ["0"]
    assert server.requests[1].method == "GET"  # nothing stray between the two
    assert server.accepted == 1


async def test_a_url_without_a_path_asks_for_the_root(pool: AsyncPool) -> None:
    async with Server(answer_each(OK)) as server:
        await pool.fetch("GET", f"http://127.0.0.1:{server.port}", {}, None, T)
        await pool.fetch("GET", f"http://127.0.0.1:{server.port}?x=1", {}, None, T)
    assert [r.target for r in server.requests] == ["/", "/?x=1"]


async def test_an_ipv6_host_is_bracketed_in_the_host_header(pool: AsyncPool) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"IPv6 loopback (::1) cannot be bound here: {exc}")
    async with Server(answer_each(OK), host="::1") as server:
        status, _, body, _ = await pool.fetch("GET", server.url("/v6"), {}, None, T)
    assert (status, body) == (200, b"ok")
    assert server.requests[0].values("host") == [f"[::1]:{server.port}"]


async def test_given_host_content_length_and_accept_encoding_replace_ours(pool: AsyncPool) -> None:
    given = {"host": "api.example.test", "content-length": "999", "accept-encoding": "identity"}
    async with Server(answer_each(OK)) as server:
        await pool.fetch("POST", server.url(), given, b"abc", T)
        await pool.fetch("GET", server.url(), {"content-length": "5"}, None, T)
    post, get = server.requests
    assert post.values("host") == ["api.example.test"]
    assert post.values("content-length") == ["3"]  # the body's own length, once
    assert post.body == b"abc"
    assert post.values("accept-encoding") == ["identity"]
    assert get.values("content-length") == []  # no body: the length given is dropped
    assert server.accepted == 1  # the framing held: the GET came right after


async def test_given_headers_replace_ours_whatever_their_case(pool: AsyncPool) -> None:
    given = {"Host": "api.example.test", "Content-Length": "999", "Accept-Encoding": "identity"}
    async with Server(answer_each(OK)) as server:
        await pool.fetch("POST", server.url(), given, b"abc", T)
    (post,) = server.requests
    assert post.values("host") == ["api.example.test"]
    assert post.values("content-length") == ["3"]
    assert post.values("accept-encoding") == ["identity"]


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
async def test_a_header_that_cannot_be_sent_is_invalid(pool: AsyncPool, name: str) -> None:
    async with Server(answer_each(OK)) as server:
        caught = await failure(pool.fetch("GET", server.url(), BAD_HEADERS[name], None, T))
        again = await failure(pool.open("GET", server.url(), BAD_HEADERS[name], None, T))
    assert caught.kind is again.kind is Failure.INVALID
    assert SECRET not in str(caught) and SECRET not in caught.detail
    assert SECRET not in repr(caught.args)
    assert server.accepted == 0  # refused before any connection


@pytest.mark.parametrize("bad", ["x\r\nX-Injected", "bad name", "x-a:b", "\u212aey"])
async def test_a_bad_header_name_after_a_capitalised_one_is_invalid(
    pool: AsyncPool, bad: str
) -> None:
    async with Server(answer_each(OK)) as server:
        try:
            await pool.fetch("GET", server.url(), {"X-Fine": "1", bad: "1"}, None, T)
        except HTTPFailure as exc:
            caught: HTTPFailure | None = exc
        else:
            caught = None
    assert caught is not None and caught.kind is Failure.INVALID
    assert server.accepted == 0  # nothing sent


async def test_a_head_reply_has_no_body_and_its_connection_is_not_reused(pool: AsyncPool) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: application/json\r\n\r\n"

    async def handler(peer: Peer) -> None:
        while (request := await peer.request()) is not None:
            await peer.send(head if request.method == "HEAD" else OK)

    async with Server(handler) as server:
        started = time.monotonic()
        status, headers, body, _ = await pool.fetch("HEAD", server.url(), {}, None, T)
        took = time.monotonic() - started
        second = await pool.fetch("GET", server.url(), {}, None, T)
        closed = await server.peers[0].closed_by_client()
    assert (status, body) == (200, b"")
    assert headers == {"content-length": "1234", "content-type": "application/json"}
    assert took < 1.0  # not waiting for 1234 bytes that never come
    assert server.requests[0].method == "HEAD"
    assert second[2] == b"ok"
    assert server.accepted == 2
    assert closed


# -- pools per event loop -------------------------------------------------------------------


def test_asyncio_run_again_and_again_leaves_no_connection_open() -> None:
    backend = AsyncPool(https=False)

    async def one() -> bytes:
        first = await backend.fetch("GET", server.url(), {}, None, T)
        second = await backend.fetch("GET", server.url(), {}, None, T)
        return first[2] + second[2]

    gc.collect()  # what earlier tests left behind is theirs
    with ThreadedServer(answer_each(OK)) as server, warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        for _ in range(3):
            assert asyncio.run(one()) == b"okok"
            assert len(backend._pools) == 0  # closed with its loop
        gc.collect()
        deadline = time.monotonic() + 2.0
        while not all(peer.saw_eof for peer in server.peers) and time.monotonic() < deadline:
            time.sleep(0.01)
        eofs = [peer.saw_eof for peer in server.peers]
    assert [str(w.message) for w in got if issubclass(w.category, ResourceWarning)] == []
    assert server.accepted == 3  # one connection per loop, reused within it
    assert [len(peer.requests) for peer in server.peers] == [2, 2, 2]
    assert eofs == [True, True, True]  # each closed by the client when its loop ended
