"""Real components on loopback for the network suite (tests/network): a background event loop,
an HTTP forwarder in front of the fake provider server (redirects, header capture, idle
connections dropped, TLS), a TLS terminator that counts handshakes, a hostile server, a real
HTTP proxy (``proxy.py`` in a subprocess) and a private CA (``trustme``).

Everything listens on 127.0.0.1 (or ::1) with an ephemeral port, is started by a fixture and
stopped after it; every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import trustme
from aiohttp import web
from attrs import define, field

__all__ = [
    "HOSTILE_MODES",
    "HUGE_EVENT",
    "MIB",
    "PROXY_PASSWORD",
    "PROXY_USER",
    "STREAM_TEXT",
    "BackgroundLoop",
    "Certs",
    "Forwarder",
    "HostileServer",
    "Listening",
    "ProxyPy",
    "Seen",
    "TLSRelay",
    "closed_port",
    "free_port",
    "gzip_bomb_blocks",
    "redirect",
]

T = TypeVar("T")

#: Headers that belong to one connection, never forwarded.
_HOP = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length",
                  "proxy-authorization", "proxy-connection", "te", "trailer", "upgrade"})


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (for a server that must be told its port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


closed_port = free_port


class BackgroundLoop:
    """An event loop in a daemon thread; :meth:`run` runs a coroutine there and waits
    (bounded) for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="netkit-loop",
                                        daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            if rest:
                await asyncio.wait(rest, timeout=5)

        with contextlib.suppress(Exception):
            self.run(cancel_rest(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()


# -- an HTTP forwarder -----------------------------------------------------------------------


@define
class Seen:
    """One request as a :class:`Forwarder` received it, nothing masked: the tests check
    exactly what a server in the path sees."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]  # lower-case names
    body: bytes
    #: The client's port: requests on one kept-alive connection share it.
    peer_port: int


#: A forwarder's rule for a request: a reply of its own (a redirect), a path to forward the
#: request to instead of its own, or None to forward it as it is.
Rule = Callable[[Seen], "web.StreamResponse | str | None"]


class Forwarder:
    """An aiohttp.web server that records every request (headers unmasked) and forwards it
    to ``upstream`` (the fake provider server), streaming the reply back, unless ``rule``
    answers it itself.

    ``keepalive_timeout``: seconds an idle kept-alive connection stays open before the server
    closes it (FIN), without announcing it (no ``Connection: close``). ``abort_idle``:
    instead reset an idle connection (RST) that long after each reply. ``ssl_context``:
    serve https."""

    def __init__(self, upstream: str, *, rule: Rule | None = None,
                 keepalive_timeout: float = 75.0, abort_idle: float | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rule = rule
        self.keepalive_timeout = keepalive_timeout
        self.abort_idle = abort_idle
        self.ssl_context = ssl_context
        self.seen: list[Seen] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._idle: dict[int, asyncio.TimerHandle] = {}

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def start(self) -> Forwarder:
        self._session = aiohttp.ClientSession(auto_decompress=False,
                                              cookie_jar=aiohttp.DummyCookieJar())
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=self.keepalive_timeout,
                               shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.ssl_context).start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        for handle in self._idle.values():
            handle.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        pending = self._idle.pop(id(transport), None)
        if pending is not None:
            pending.cancel()
        body = await request.read()
        peer = transport.get_extra_info("peername") if transport is not None else None
        seen = Seen(request.method, request.path_qs,
                    {name.lower(): value for name, value in request.headers.items()}, body,
                    int(peer[1]) if peer else 0)
        self.seen.append(seen)
        answer = self.rule(seen) if self.rule is not None else None
        if isinstance(answer, web.StreamResponse):
            return answer
        path = answer if isinstance(answer, str) else request.path_qs
        response = await self._forward(request, path, body)
        if self.abort_idle is not None and transport is not None:
            self._idle[id(transport)] = asyncio.get_running_loop().call_later(
                self.abort_idle, self._abort, transport)
        return response

    def _abort(self, transport: asyncio.Transport) -> None:
        self._idle.pop(id(transport), None)
        if not transport.is_closing():
            transport.abort()  # a reset, no FIN, no Connection: close

    async def _forward(self, request: web.Request, path: str,
                       body: bytes) -> web.StreamResponse:
        assert self._session is not None
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() not in _HOP}
        async with self._session.request(request.method, self.upstream + path,
                                         headers=headers, data=body or None,
                                         allow_redirects=False) as upstream:
            response = web.StreamResponse(status=upstream.status, headers={
                name: value for name, value in upstream.headers.items()
                if name.lower() not in _HOP})
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


def redirect(status: int, location: str) -> web.Response:
    return web.Response(status=status, headers={"Location": location},
                        text=f"moved to {location}")


# -- a TLS terminator that counts handshakes ---------------------------------------------------


class TLSRelay:
    """Serves TLS on 127.0.0.1 with ``context`` and relays the decrypted bytes to the plain
    server at ``upstream_port``. Counts TCP connections and handshakes, so a test can tell
    how often a client tried."""

    def __init__(self, upstream_port: int, context: ssl.SSLContext) -> None:
        self.upstream_port = upstream_port
        self.context = context
        self.connections = 0
        self.handshakes = 0
        self.failures: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self) -> TLSRelay:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def _connected(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._relay(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await writer.start_tls(self.context, ssl_handshake_timeout=10)
        except (TimeoutError, ssl.SSLError, OSError) as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
            writer.transport.abort()
            return
        self.handshakes += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1",
                                                                 self.upstream_port)
        except OSError:
            writer.transport.abort()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                with contextlib.suppress(OSError, RuntimeError):
                    sink.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            up_writer.transport.abort()
            writer.transport.abort()


# -- a private CA ------------------------------------------------------------------------------


class Certs:
    """A private CA (trustme) and the server certificates the TLS tests need."""

    def __init__(self, folder: Path) -> None:
        now = datetime.datetime.now(datetime.UTC)
        self.folder = folder
        self.ca = trustme.CA()
        self.ca_file = folder / "private-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        #: Valid for 127.0.0.1 (an IP address SAN) and localhost.
        self.good = self.ca.issue_cert("127.0.0.1", "localhost")
        #: Valid, but for another name than the one the client connects to.
        self.wrong_host = self.ca.issue_cert("other.test")
        #: For 127.0.0.1, but it ran out yesterday.
        self.expired = self.ca.issue_cert("127.0.0.1", not_before=now - datetime.timedelta(
            days=30), not_after=now - datetime.timedelta(days=1))

    def write_pair(self, leaf: trustme.LeafCert, name: str) -> tuple[Path, Path]:
        """``leaf``'s certificate chain and key as PEM files (for a server run elsewhere)."""
        cert, key = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key))
        return cert, key

    @staticmethod
    def server_context(leaf: trustme.LeafCert) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        return context


# -- a hostile server ------------------------------------------------------------------------

#: What each hostile reply sends, chosen by a marker in the request body (``mode:NAME``).
HOSTILE_MODES = ("warmup", "big", "endless", "bomb", "endless-line", "endless-event",
                 "huge-event")
MIB = 1 << 20
#: How much an endless reply sends at most before it gives up (a bound on the test).
ENDLESS_LIMIT = 2 << 30
#: Size of the content of the one huge stream event.
HUGE_EVENT = 50 * 1000 * 1000


def _chunk(content: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {"id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 1,
               "model": "gpt-4o-mini",
               "choices": [{"index": 0, "delta": content, "finish_reason": finish}]}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


#: The stream events sent before a hostile part: the role, then "hello world".
STREAM_HEAD = (_chunk({"role": "assistant", "content": ""}) + _chunk({"content": "hello"})
               + _chunk({"content": " world"}))
STREAM_TEXT = "hello world"
STREAM_END = _chunk({}, "stop") + b"data: [DONE]\n\n"
REPLY = json.dumps({
    "id": "chatcmpl-hostile", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}).encode()


def gzip_bomb_blocks() -> tuple[bytes, bytes]:
    """The opening of a gzip stream of zeros and a block that may follow it any number of
    times: each block is a mebibyte of zeros, compressed to about a kilobyte, ending at a full
    flush (byte-aligned, no reference to earlier data), so a bomb is sent block by block,
    never built in memory."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MIB)
    head = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    return head, block


class HostileServer:
    """An OpenAI-shaped ``/v1/chat/completions`` that answers as the request's ``mode:NAME``
    marker says (see :data:`HOSTILE_MODES`); counts the requests of each mode."""

    BOMB_BLOCKS = 10_000  # about 10 MB sent, 10 GiB once inflated

    def __init__(self) -> None:
        #: Requests received, by the ``run:TAG`` marker of their body (else by mode).
        self.counts: collections.Counter[str] = collections.Counter()
        #: Body bytes put on the wire, by the same key.
        self.sent: collections.Counter[str] = collections.Counter()
        #: Replies still being written.
        self.active = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._filler = b"a" * (64 * 1024)
        self._bomb = gzip_bomb_blocks()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> HostileServer:
        app = web.Application(client_max_size=16 * MIB)
        app.router.add_post("/v1/chat/completions", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        named = re.search(rb"mode:([\w-]+)", body)
        mode = named.group(1).decode() if named else "warmup"
        if mode not in HOSTILE_MODES:
            return web.Response(status=400, text=f"no mode {mode!r}")
        tag = re.search(rb"run:([\w-]+)", body)
        key = tag.group(1).decode() if tag else mode
        stream = bool(json.loads(body).get("stream"))
        self.counts[key] += 1
        self.active += 1
        response = web.StreamResponse()
        response.content_type = "text/event-stream" if stream else "application/json"
        sent = 0
        try:
            if mode == "warmup":
                payload = STREAM_HEAD + STREAM_END if stream else REPLY
                response.content_length = len(payload)
                await response.prepare(request)
                await response.write(payload)
            elif mode == "big":  # 50 MiB, announced by Content-Length
                total = 50 * MIB
                response.content_length = total
                await response.prepare(request)
                head = b'{"id": "x", "pad": "'
                await response.write(head)
                sent = len(head)
                while sent < total:
                    piece = self._filler[:total - sent]
                    await response.write(piece)
                    sent += len(piece)
            elif mode == "endless":  # chunked, never ends
                await response.prepare(request)
                await response.write(b'{"id": "x", "pad": "')
                while sent < ENDLESS_LIMIT:
                    await response.write(self._filler)
                    sent += len(self._filler)
            elif mode == "bomb":
                response.headers["Content-Encoding"] = "gzip"
                await response.prepare(request)
                head, block = self._bomb
                await response.write(head)
                sent = len(head)
                for _ in range(self.BOMB_BLOCKS):
                    await response.write(block)
                    sent += len(block)
            elif mode == "endless-line":  # good events, then one line that never ends
                await response.prepare(request)
                await response.write(STREAM_HEAD + b"data: ")
                while sent < ENDLESS_LIMIT:
                    await response.write(self._filler)
                    sent += len(self._filler)
            elif mode == "endless-event":  # good events, then one event of endless lines
                await response.prepare(request)
                await response.write(STREAM_HEAD)
                line = b"data: " + self._filler[:1018] + b"\n"  # 1 KiB lines, no blank one
                lines = line * 64
                while sent < ENDLESS_LIMIT:
                    await response.write(lines)
                    sent += len(lines)
            elif mode == "huge-event":  # one 50 MB event, then the end: a big, valid reply
                await response.prepare(request)
                head, tail = _chunk({"content": "@@"}).rstrip(b"\n").split(b"@@")
                await response.write(STREAM_HEAD + head)
                while sent < HUGE_EVENT:
                    piece = self._filler[:HUGE_EVENT - sent]
                    await response.write(piece)
                    sent += len(piece)
                await response.write(tail + b"\n\n" + STREAM_END)
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client hung up: what a capped client should do
        finally:
            self.sent[key] += sent
            self.active -= 1
        return response

    def settle(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until no reply is still being written (a client that hung up
        ends its reply at the next write)."""
        ends = time.monotonic() + timeout
        while self.active and time.monotonic() < ends:
            time.sleep(0.02)


# -- a real HTTP proxy ---------------------------------------------------------------------------


#: The user and password the authenticating proxy demands; the password must never be shown.
#: It holds "@" and ":", which a proxy URL carries percent-encoded (see ``url_with``).
PROXY_USER = "proxyuser"
PROXY_PASSWORD = "pr0xy@S3cret:7731"


class ProxyPy:
    """``proxy.py`` (PyPI) in a subprocess on 127.0.0.1, an ephemeral port, one worker;
    ``basic_auth`` (``user:password``) makes it demand Proxy-Authorization; ``tls`` (a
    certificate and its key, PEM files) makes it an https:// proxy. Its access log
    (one line per client connection, written when the connection closes) tells which
    requests went through it."""

    def __init__(self, folder: Path, *, basic_auth: str | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.folder = folder
        self.basic_auth = basic_auth
        self.tls = tls
        self.port = 0
        self.log_file = folder / "proxy.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    def url_with(self, user: str, password: str) -> str:
        """The proxy's URL with credentials, percent-encoded as a URL must hold them."""
        return (f"{self.scheme}://{quote(user, safe='')}:{quote(password, safe='')}"
                f"@127.0.0.1:{self.port}")

    def start(self, timeout: float = 30.0) -> ProxyPy:
        self.folder.mkdir(parents=True, exist_ok=True)
        port_file = self.folder / "port"
        port_file.unlink(missing_ok=True)
        args = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
                "--port-file", str(port_file), "--num-workers", "1", "--num-acceptors", "1",
                "--log-level", "INFO", "--log-file", str(self.log_file),
                "--data-dir", str(self.folder / "data"), "--timeout", "10"]
        if self.basic_auth:
            args += ["--basic-auth", self.basic_auth]
        if self.tls is not None:
            args += ["--cert-file", str(self.tls[0]), "--key-file", str(self.tls[1])]
        env = {name: value for name, value in os.environ.items()
               if not name.lower().endswith("_proxy")}
        env["HOME"] = str(self.folder)  # proxy.py makes ~/.proxy/cache whatever it is told
        stderr = (self.folder / "stderr.log").open("wb")
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=stderr, env=env,
                                         start_new_session=True)
        stderr.close()
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            if self._process.poll() is not None:
                break
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text.isdigit() and self._accepts(int(text)):
                self.port = int(text)
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"proxy.py did not start within {timeout}s: "
                           f"{(self.folder / 'stderr.log').read_text()[-2000:]}")

    @staticmethod
    def _accepts(port: int) -> bool:
        with socket.socket() as probe:
            probe.settimeout(1)
            return probe.connect_ex(("127.0.0.1", port)) == 0

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # the group this fixture started
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def mark(self) -> int:
        """Where the log ends now: :meth:`access_since` reads what comes after."""
        return self.log_file.stat().st_size if self.log_file.exists() else 0

    def access_since(self, mark: int) -> list[str]:
        if not self.log_file.exists():
            return []
        with self.log_file.open("rb") as log:
            log.seek(mark)
            text = log.read().decode("utf-8", "replace")
        return [line for line in text.splitlines() if "access_log" in line]

    def wait_access(self, mark: int, needle: str, count: int = 1,
                    timeout: float = 10.0) -> list[str]:
        """The access lines after ``mark`` holding ``needle``, once there are ``count`` of
        them (or the timeout passed: then what there is)."""
        ends = time.monotonic() + timeout
        while True:
            found = [line for line in self.access_since(mark) if needle in line]
            if len(found) >= count or time.monotonic() > ends:
                return found
            time.sleep(0.05)


@define
class Listening:
    """A socket made to look unreachable: it listens with a full accept queue, so a new
    connection's SYN is dropped and the connect hangs, as to a host that is down."""

    sock: socket.socket
    fillers: list[socket.socket] = field(factory=list)

    def close(self) -> None:
        for filler in self.fillers:
            filler.close()
        self.sock.close()
