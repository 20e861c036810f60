"""The HTTP backends under the transport: each one moves the same bytes and reports the same
failures in the same terms, over real sockets to the fake provider server."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jtd_ai import AIManager
from jtd_ai.backends import Failure, HTTPFailure, LineSplitter, Timeouts, proxy_for
from jtd_ai.backends.aiohttp_backend import AiohttpAsync
from jtd_ai.backends.httpx_backend import HttpxAsync, HttpxSync
from jtd_ai.backends.network import Network
from jtd_ai.config import ProviderConfig
from jtd_ai.errors import ConfigurationError
from jtd_ai.testing.server import FakeProviderServer, Fault

KEY = "sk-fake-backend-key"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
STREAM = json.dumps({"model": "gpt-4o-mini", "stream": True,
                     "messages": [{"role": "user", "content": "one two three"}]})
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
TIMEOUTS = Timeouts(connect=2.0, read=5.0)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(api_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_faults(server: FakeProviderServer) -> Iterator[None]:
    server.clear_faults()
    yield
    server.clear_faults()


def url(server: FakeProviderServer, path: str = "chat/completions") -> str:
    return server.base_url("openai").rstrip("/") + "/" + path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def network(**settings: Any) -> Network:
    return Network(ProviderConfig(name="p", driver="openai", **settings))


SYNC = {"httpx": lambda: HttpxSync(network())}
ASYNC = {"aiohttp": lambda: AiohttpAsync(network()), "httpx": lambda: HttpxAsync(network())}


# -- the line splitter ----------------------------------------------------------------------


@pytest.mark.parametrize("cut", range(1, 12))
def test_lines_come_out_whole_wherever_chunks_are_cut(cut: int) -> None:
    body = "data: é1\r\n\r\ndata: 2\n\nx\ry\r\n".encode()
    splitter = LineSplitter()
    lines = [line for i in range(0, len(body), cut) for line in splitter.feed(body[i:i + cut])]
    lines += splitter.end()
    assert lines == ["data: é1", "", "data: 2", "", "x", "y"]


def test_a_block_of_whole_lines_is_split_as_any_other() -> None:
    splitter = LineSplitter(limit=8)
    assert splitter.feed(b"data: 1\r\n\n") == ["data: 1", ""]  # whole lines at once
    assert splitter.feed(b"a\rb\n") == ["a", "b"]
    assert splitter.feed(b"c\r") == []  # a CR that may be half of a CRLF waits
    assert splitter.feed(b"\nd\n") == ["c", "d"]
    with pytest.raises(HTTPFailure) as info:
        splitter.feed(b"123456789\n")  # one line past the limit, even when whole
    assert info.value.kind is Failure.TOO_LARGE


def test_an_unterminated_last_line_comes_out_at_the_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"a\nb") == ["a"]
    assert splitter.end() == ["b"]
    assert splitter.end() == []


# -- sync backends --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SYNC))
def test_sync_fetch_returns_status_headers_and_body(server: FakeProviderServer,
                                                    name: str) -> None:
    backend = SYNC[name]()
    try:
        status, headers, body, where = backend.fetch("POST", url(server), HEADERS,
                                                     BODY.encode(), TIMEOUTS)
    finally:
        backend.close()
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    assert all(key == key.lower() for key in headers)
    assert json.loads(body)["choices"][0]["message"]["content"] == "echo: hi"
    assert where == url(server)  # (a 200: the server, made with api_key=KEY, took the key)


@pytest.mark.parametrize("name", sorted(SYNC))
def test_sync_stream_gives_lines(server: FakeProviderServer, name: str) -> None:
    backend = SYNC[name]()
    reply = backend.open("POST", url(server), HEADERS, STREAM.encode(), TIMEOUTS)
    try:
        assert reply.status == 200
        lines = list(reply.lines())
    finally:
        reply.close()
        backend.close()
    events = [line[6:] for line in lines if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                   for e in events[:-1] if json.loads(e).get("choices"))
    assert text == "echo: one two three"


@pytest.mark.parametrize("name", sorted(SYNC))
def test_sync_refused_connection_is_a_connect_failure(name: str) -> None:
    backend = SYNC[name]()
    with pytest.raises(HTTPFailure) as caught:
        backend.fetch("GET", f"http://127.0.0.1:{closed_port()}/v1/models", {}, None, TIMEOUTS)
    assert caught.value.kind is Failure.CONNECT


@pytest.mark.parametrize("name", sorted(SYNC))
def test_sync_silence_is_a_read_timeout(server: FakeProviderServer, name: str) -> None:
    server.inject(Fault(delay=2.0))
    backend = SYNC[name]()
    with pytest.raises(HTTPFailure) as caught:
        backend.fetch("POST", url(server), HEADERS, BODY.encode(), Timeouts(2.0, 0.2))
    assert caught.value.kind is Failure.READ_TIMEOUT


@pytest.mark.parametrize("name", sorted(SYNC))
def test_sync_dropped_stream_is_a_broken_connection(server: FakeProviderServer,
                                                    name: str) -> None:
    server.inject(Fault(reset_after=2))
    backend = SYNC[name]()
    reply = backend.open("POST", url(server), HEADERS, STREAM.encode(), TIMEOUTS)
    got: list[str] = []
    with pytest.raises(HTTPFailure) as caught:
        got.extend(reply.lines())
    reply.close()
    assert caught.value.kind is Failure.BROKEN
    assert sum(line.startswith("data: ") for line in got) == 2


# -- async backends -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ASYNC))
async def test_async_fetch_returns_status_headers_and_body(server: FakeProviderServer,
                                                           name: str) -> None:
    backend = ASYNC[name]()
    try:
        status, headers, body, _ = await backend.fetch("POST", url(server), HEADERS,
                                                       BODY.encode(), TIMEOUTS)
    finally:
        await backend.close()
    assert status == 200
    assert all(key == key.lower() for key in headers)
    assert json.loads(body)["choices"][0]["message"]["content"] == "echo: hi"


@pytest.mark.parametrize("name", sorted(ASYNC))
async def test_async_stream_gives_lines(server: FakeProviderServer, name: str) -> None:
    backend = ASYNC[name]()
    reply = await backend.open("POST", url(server), HEADERS, STREAM.encode(), TIMEOUTS)
    try:
        lines = [line async for line in reply.lines()]
    finally:
        await reply.close()
        await backend.close()
    assert [line for line in lines if line.startswith("data: ")][-1] == "data: [DONE]"


@pytest.mark.parametrize("name", sorted(ASYNC))
async def test_async_refused_connection_is_a_connect_failure(name: str) -> None:
    backend = ASYNC[name]()
    try:
        with pytest.raises(HTTPFailure) as caught:
            await backend.fetch("GET", f"http://127.0.0.1:{closed_port()}/v1/models", {}, None,
                                TIMEOUTS)
    finally:
        await backend.close()
    assert caught.value.kind is Failure.CONNECT


@pytest.mark.parametrize("name", sorted(ASYNC))
async def test_async_total_time_is_the_deadline(server: FakeProviderServer, name: str) -> None:
    server.inject(Fault(delay=2.0))
    backend = ASYNC[name]()
    try:
        with pytest.raises(HTTPFailure) as caught:
            await backend.fetch("POST", url(server), HEADERS, BODY.encode(),
                                Timeouts(2.0, 5.0, total=0.2))
    finally:
        await backend.close()
    assert caught.value.kind is Failure.DEADLINE


@pytest.mark.parametrize("name", sorted(ASYNC))
async def test_async_silence_is_a_read_timeout(server: FakeProviderServer, name: str) -> None:
    server.inject(Fault(delay=2.0))
    backend = ASYNC[name]()
    try:
        with pytest.raises(HTTPFailure) as caught:
            await backend.fetch("POST", url(server), HEADERS, BODY.encode(), Timeouts(2.0, 0.2))
    finally:
        await backend.close()
    assert caught.value.kind is Failure.READ_TIMEOUT


@pytest.mark.parametrize("name", sorted(ASYNC))
async def test_async_dropped_stream_is_a_broken_connection(server: FakeProviderServer,
                                                           name: str) -> None:
    server.inject(Fault(reset_after=2))
    backend = ASYNC[name]()
    reply = await backend.open("POST", url(server), HEADERS, STREAM.encode(), TIMEOUTS)
    got: list[str] = []
    try:
        with pytest.raises(HTTPFailure) as caught:
            async for line in reply.lines():
                got.append(line)
    finally:
        await reply.close()
        await backend.close()
    assert caught.value.kind is Failure.BROKEN
    assert sum(line.startswith("data: ") for line in got) == 2


@pytest.mark.parametrize("name", sorted(ASYNC))
def test_async_connections_close_with_their_event_loop(server: FakeProviderServer,
                                                       name: str) -> None:
    backend = ASYNC[name]()
    per_loop = backend._sessions if isinstance(backend, AiohttpAsync) else backend._clients

    async def one() -> int:
        status, *_ = await backend.fetch("POST", url(server), HEADERS, BODY.encode(), TIMEOUTS)
        assert len(per_loop) == 1
        return status

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):  # a script calling asyncio.run again and again
            assert asyncio.run(one()) == 200
            assert len(per_loop) == 0  # closed when the loop shut down
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


# -- which backend a provider gets ----------------------------------------------------------


def driver_for(**config: Any) -> Any:
    providers = {"p": {"driver": "echo", "base_url": "http://127.0.0.1:9/v1", **config}}
    return AIManager(providers=providers, config_file=False, env={}).driver("p")


def test_default_backends_are_httpx_and_aiohttp() -> None:
    driver = driver_for()
    driver._http_transport = None  # echo brings its own in-process transport
    assert isinstance(driver.transport.sync_backend, HttpxSync)
    assert isinstance(driver.transport.async_backend, AiohttpAsync)


def test_an_aiohttp_session_given_carries_async_calls() -> None:
    import aiohttp

    async def check() -> None:
        session = aiohttp.ClientSession()
        try:
            driver = driver_for()
            driver._http_transport = session
            backend = driver.transport.async_backend
            assert isinstance(backend, AiohttpAsync) and backend._given is session
            assert isinstance(driver.transport.sync_backend, HttpxSync)  # an async one only
            await backend.close()
            assert not session.closed  # the application's session is the application's
        finally:
            await session.close()

    asyncio.run(check())


def test_an_httpx_transport_given_is_used_for_both() -> None:
    driver = driver_for()
    mock = httpx.MockTransport(lambda request: httpx.Response(200))
    driver._http_transport = mock
    assert isinstance(driver.transport.sync_backend, HttpxSync)
    assert isinstance(driver.transport.async_backend, HttpxAsync)


def test_http_backend_httpx_is_honoured() -> None:
    driver = driver_for(http_backend="httpx")
    driver._http_transport = None
    assert isinstance(driver.transport.sync_backend, HttpxSync)
    assert isinstance(driver.transport.async_backend, HttpxAsync)


def test_the_environment_can_move_every_provider_onto_httpx(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JTD_AI_HTTP_BACKEND", "httpx")
    driver = driver_for()
    driver._http_transport = None
    assert isinstance(driver.transport.async_backend, HttpxAsync)
    mine = driver_for(http_backend="auto")  # a provider's own setting wins
    mine._http_transport = None
    assert isinstance(mine.transport.async_backend, AiohttpAsync)
    monkeypatch.setenv("JTD_AI_HTTP_BACKEND", "curl")
    with pytest.raises(ConfigurationError, match="JTD_AI_HTTP_BACKEND"):
        driver_for().transport  # noqa: B018


def test_an_unknown_http_backend_is_a_configuration_error() -> None:
    driver = driver_for(http_backend="curl")
    with pytest.raises(ConfigurationError, match="http_backend"):
        driver.transport  # noqa: B018


def test_a_proxy_in_the_environment_is_found_for_a_url(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert proxy_for("http://api.example.com/v1") == "http://proxy.internal:3128"
    monkeypatch.setenv("ALL_PROXY", "proxy.all:8080")
    monkeypatch.delenv("HTTP_PROXY")
    assert proxy_for("https://api.example.com/v1") == "http://proxy.all:8080"


def test_the_proxy_setting_wins_over_the_environment_and_empty_turns_it_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://env.proxy:3128")
    assert network().proxy("https://api.example.com/v1") == "http://env.proxy:3128"
    assert network(proxy="http://mine:1").proxy("https://api.example.com/v1") == "http://mine:1"
    assert network(proxy="").proxy("https://api.example.com/v1") is None
    with pytest.raises(ConfigurationError, match="proxy"):
        network(proxy="socks5://x:1")


def test_no_proxy_exempts_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    assert proxy_for("https://api.example.com/v1") is None
    assert proxy_for("https://other.example.com/v1") == "http://proxy.internal:3128"


def test_without_proxy_variables_there_is_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("https://api.example.com/v1") is None


def test_an_httpx_client_given_carries_the_calls_of_its_kind() -> None:
    driver = driver_for()
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    driver._http_transport = client
    backend = driver.transport.sync_backend
    assert isinstance(backend, HttpxSync) and backend._client is client
    assert isinstance(driver.transport.async_backend, AiohttpAsync)  # a sync client only
    backend.close()
    assert not client.is_closed  # the application's client is the application's to close
    client.close()


# -- compressed replies (the sync pool asks for gzip and deflate, as httpx does) -------------


@pytest.fixture
def gzip_server() -> Iterator[str]:
    import gzip
    import http.server
    import threading

    body = json.dumps({"ok": "compressed"}).encode()
    events = b"data: 1\n\ndata: 2\n\n"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = gzip.compress(events if self.path == "/stream" else body)
            encoding = "gzip" if "gzip" in self.headers.get("Accept-Encoding", "") else ""
            self.send_response(200)
            self.send_header("Content-Encoding", encoding or "identity")
            self.send_header("Content-Length", str(len(payload) if encoding else len(body)))
            self.end_headers()
            self.wfile.write(payload if encoding else body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


GZIP = {"accept-encoding": "gzip, deflate"}


def test_a_gzipped_reply_is_decoded(gzip_server: str) -> None:
    pool = HttpxSync(network())
    try:
        status, headers, body, _ = pool.fetch("GET", gzip_server + "/reply", GZIP, None,
                                              TIMEOUTS)
        assert status == 200
        reply = pool.open("GET", gzip_server + "/stream", GZIP, None, TIMEOUTS)
        lines = list(reply.lines())
        reply.close()
    finally:
        pool.close()
    assert headers["content-encoding"] == "gzip"
    assert json.loads(body) == {"ok": "compressed"}
    assert lines == ["data: 1", "", "data: 2", ""]


@pytest.mark.parametrize("name", sorted(ASYNC))
async def test_async_a_gzipped_reply_is_decoded(gzip_server: str, name: str) -> None:
    backend = ASYNC[name]()
    try:
        status, headers, body, _ = await backend.fetch("GET", gzip_server + "/reply", GZIP,
                                                       None, TIMEOUTS)
        reply = await backend.open("GET", gzip_server + "/stream", GZIP, None, TIMEOUTS)
        lines = [line async for line in reply.lines()]
        await reply.close()
    finally:
        await backend.close()
    assert (status, headers["content-encoding"]) == (200, "gzip")
    assert json.loads(body) == {"ok": "compressed"}
    assert lines == ["data: 1", "", "data: 2", ""]


def test_an_encoding_we_did_not_ask_for_is_a_broken_reply() -> None:
    from jtd_ai.backends import BodyDecoder

    with pytest.raises(HTTPFailure) as caught:
        BodyDecoder.for_encoding("br")
    assert caught.value.kind is Failure.BROKEN
    with pytest.raises(HTTPFailure, match="corrupt"):
        list(BodyDecoder("gzip").feed(b"not gzip at all"))


def decoded(encoding: str, pieces: list[bytes]) -> bytes:
    from jtd_ai.backends import BodyDecoder

    decoder = BodyDecoder.for_encoding(encoding)
    if decoder is None:
        return b"".join(pieces)
    return b"".join(b"".join(decoder.feed(piece)) for piece in pieces) + decoder.flush()


def test_what_real_servers_send_compressed_is_decoded() -> None:
    import gzip
    import zlib

    members = gzip.compress(b"hello ") + gzip.compress(b"world")
    assert decoded("gzip", [members]) == b"hello world"
    assert decoded("gzip", [members[:7], members[7:]]) == b"hello world"
    assert decoded("gzip", [gzip.compress(b"abc") + b"\0\0\0"]) == b"abc"
    assert decoded("gzip", [gzip.compress(b"abc") + b"junk"]) == b"abc"  # as gzip(1) does
    assert decoded("gzip", [gzip.compress(b"")]) == b""
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):  # flushed, never finished
        co = zlib.compressobj(wbits=wbits)
        assert decoded("deflate", [co.compress(b"sync") + co.flush(zlib.Z_SYNC_FLUSH)]) == b"sync"
    for encoding in ("Identity", "none", "gzip, identity", " GZIP "):
        body = gzip.compress(b"x") if "gzip" in encoding.lower() else b"x"
        assert decoded(encoding, [body]) == b"x"


def test_a_gzip_body_cut_short_is_broken() -> None:
    import gzip

    with pytest.raises(HTTPFailure, match="ended before") as caught:
        decoded("gzip", [gzip.compress(b"x" * 100)[:-8]])
    assert caught.value.kind is Failure.BROKEN


def test_two_codings_at_once_are_broken() -> None:
    with pytest.raises(HTTPFailure, match="more than one coding") as caught:
        decoded("gzip, br", [b""])
    assert caught.value.kind is Failure.BROKEN


def test_a_header_given_in_two_places_is_sent_once_with_the_nearest_value() -> None:
    from jtd_ai.wire import HttpRequest

    driver = driver_for(headers={"User-Agent": "my-app/2", "X-Team": "a"})
    request = HttpRequest("POST", "chat", json={"a": 1},
                          headers={"x-team": "b", "Content-Type": "application/json; v=2"})
    url, headers, body = driver.transport._prepare(request)
    assert url == "http://127.0.0.1:9/v1/chat"
    assert headers == {"user-agent": "my-app/2", "x-team": "b",
                       "content-type": "application/json; v=2",
                       "accept-encoding": "gzip, deflate"}
    assert body == b'{"a":1}'


# -- what cannot be sent, and deadlines on bodies that trickle ---------------------------------


@pytest.mark.parametrize("name", sorted(SYNC))
def test_sync_a_header_that_cannot_be_sent_is_invalid(server: FakeProviderServer,
                                                      name: str) -> None:
    backend = SYNC[name]()
    with pytest.raises(HTTPFailure) as caught:
        backend.fetch("GET", url(server, "models"), {"authorization": f"Bearer {KEY}\n"},
                      None, TIMEOUTS)
    assert caught.value.kind is Failure.INVALID
    assert KEY not in caught.value.detail


@pytest.mark.parametrize("name", sorted(ASYNC))
async def test_async_a_header_that_cannot_be_sent_is_invalid(server: FakeProviderServer,
                                                             name: str) -> None:
    backend = ASYNC[name]()
    try:
        with pytest.raises(HTTPFailure) as caught:
            await backend.fetch("GET", url(server, "models"),
                                {"authorization": f"Bearer {KEY}\n"}, None, TIMEOUTS)
    finally:
        await backend.close()
    assert caught.value.kind is Failure.INVALID
    assert KEY not in caught.value.detail


def test_deflate_without_the_zlib_wrapper_is_read_too() -> None:
    import zlib

    from jtd_ai.backends import BodyDecoder

    def decoded(pieces: list[bytes]) -> bytes:
        decoder = BodyDecoder("deflate")
        return b"".join(b"".join(decoder.feed(piece)) for piece in pieces) + decoder.flush()

    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = raw.compress(b'{"ok": true}') + raw.flush()
    assert decoded([body[:3], body[3:]]) == b'{"ok": true}'
    assert decoded([body[:1], body[1:]]) == b'{"ok": true}'
    assert decoded([zlib.compress(b"wrapped")]) == b"wrapped"


def test_a_sync_reply_that_trickles_past_the_deadline_stops_there() -> None:
    import http.server
    import threading
    import time

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            for _ in range(40):  # 2 s in all, each byte well within the read timeout
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    pool = HttpxSync(network())
    started = time.monotonic()
    try:
        with pytest.raises(HTTPFailure) as caught:
            pool.fetch("GET", f"http://127.0.0.1:{httpd.server_address[1]}/", {}, None,
                       Timeouts(2.0, 1.0, total=0.3))
    finally:
        pool.close()
        httpd.shutdown()
        httpd.server_close()
    assert caught.value.kind is Failure.DEADLINE
    assert time.monotonic() - started < 1.5


def test_a_key_with_a_newline_is_a_configuration_error_without_the_key(
        server: FakeProviderServer) -> None:
    import traceback

    from jtd_ai.wire import HttpRequest

    driver = driver_for()
    driver._http_transport = None
    driver.protocol.auth_headers = lambda: {"Authorization": f"Bearer {KEY}\n"}  # type: ignore[method-assign]
    request = HttpRequest("GET", server.base_url("openai") + "/models")
    call = driver._call("models")
    for send in (lambda: driver.transport.send(request, call, driver._policy(None)),
                 lambda: asyncio.run(driver.transport.asend(request, call,
                                                            driver._policy(None)))):
        with pytest.raises(ConfigurationError) as caught:
            send()
        assert KEY not in "".join(traceback.format_exception(caught.value))
    assert call.attempts == 2  # one each: never retried


def test_a_base_url_that_cannot_be_used_is_refused_before_any_request() -> None:
    for bad in ("http://exämple.com/v1", "http://127.0.0.1:99999/v1", "ftp://host/v1"):
        with pytest.raises(ConfigurationError, match="base_url"):
            driver_for(base_url=bad).transport  # noqa: B018
    spaced = driver_for(base_url="http://127.0.0.1:9/my path/v1").transport
    assert spaced._base == "http://127.0.0.1:9/my%20path/v1/"


def test_a_body_that_is_not_json_is_a_validation_error_before_sending() -> None:
    from jtd_ai.errors import ValidationError
    from jtd_ai.wire import HttpRequest

    sent: list[httpx.Request] = []
    driver = driver_for()
    driver._http_transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    call = driver._call("chat")
    for bad in ({"x": float("nan")}, {"x": {1, 2}}, {"x": "ok", 1j: 2}):
        with pytest.raises(ValidationError, match="cannot be encoded as JSON"):
            driver.transport.send(HttpRequest("POST", "chat", json=bad), call,
                                  driver._policy(None))
    assert sent == []


def test_a_forked_child_uses_its_own_connections(server: FakeProviderServer) -> None:
    import os

    manager = AIManager(providers={"openai": {"base_url": server.base_url("openai"),
                                              "api_key": KEY}}, config_file=False, env={})
    driver = manager.driver("openai")
    assert driver.send_message("before", model="gpt-4o-mini").content == "echo: before"
    parent_backend = driver.transport.sync_backend  # a kept-alive connection is pooled now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's manager and driver, its own sockets
        code = 1
        try:
            reply = driver.send_message("child", model="gpt-4o-mini").content
            fresh = driver.transport.sync_backend is not parent_backend
            code = 0 if reply == "echo: child" and fresh else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"\x00"
    os.close(read)
    assert driver.send_message("after", model="gpt-4o-mini").content == "echo: after"
    assert driver.transport.sync_backend is parent_backend  # the parent's pool is untouched
    manager.close()
