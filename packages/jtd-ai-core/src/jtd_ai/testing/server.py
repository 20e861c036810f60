"""A fake provider server: real HTTP on loopback, speaking OpenAI, Gemini and Ollama.

Tests, benchmarks and the offline demo point real drivers (or the official SDKs) at it::

    with FakeProviderServer(api_key="sk-fake-key") as server:
        ai = AIManager(providers={"openai": {"base_url": server.base_url("openai"),
                                             "api_key": "sk-fake-key"}})
        server.inject(Fault(status=429, retry_after="1"))     # the next request gets a 429
        ai.driver("openai").send_message("hi", model="gpt-4o-mini")

or from a shell: ``python -m jtd_ai.testing.server --port 8787``.

Routes: ``/v1/chat/completions``, ``/v1/models``, ``/v1/models/{m}``, ``/v1/language-models``
(OpenAI, xAI); ``/v1beta/models``, ``/v1beta/models/{m}``, ``:generateContent``,
``:streamGenerateContent`` (SSE with ``?alt=sse``, else a JSON array), ``:countTokens``
(Gemini; key in ``x-goog-api-key`` or ``?key=``; the same under ``/v1`` for a request with
such a key and no ``Authorization``); ``/api/chat``, ``/api/tags``, ``/api/show``,
``/api/ps``, ``/api/version`` (Ollama); batch jobs: OpenAI's ``/v1/files`` and
``/v1/batches`` and Gemini's ``:batchGenerateContent``, ``/v1beta/batches``, file upload and
download (:attr:`FakeProviderServer.batches`, :mod:`jtd_ai.testing.batch_server`). Replies
follow the rule in :mod:`jtd_ai.testing.dialects`. Faults come from
:meth:`FakeProviderServer.inject` or an ``x-fake-fault`` request header
(``status=429;retry_after=2``, ``delay=0.5``, ``reset_after=2``, ``reset_after_bytes=40``,
``stall_after=2``, ``interval=0.1``, ``malformed=1``, ``hang=1``, ``kind=insufficient_quota``,
``message=...``, ``header.retry-after-ms=250``).

:attr:`FakeProviderServer.requests` records what arrived, keys masked (:class:`RecordedRequest`).

It runs on :mod:`aiohttp.web` (keep-alive, chunked request bodies, ``Expect: 100-continue``,
HTTP/1.0 clients), from a background thread (:meth:`~FakeProviderServer.start`) or in the
caller's event loop (:meth:`~FakeProviderServer.start_async`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from attrs import define, field

from jtd_ai.testing.batch_server import BatchReply, FakeBatches
from jtd_ai.testing.dialects import (
    DIALECTS,
    Dialect,
    GeminiDialect,
    OllamaDialect,
    OpenAIDialect,
    Turn,
    plan,
)

__all__ = ["REDACTED", "FakeProviderServer", "Fault", "RecordedRequest"]

MODELS = {
    "openai": ["gpt-4o-mini", "gpt-4o", "gpt-5-mini"],
    "xai": ["grok-4", "grok-3-mini"],
    "gemini": ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "text-embedding-004"],
    "ollama": ["llama3.2:latest", "qwen3:8b"],
}
#: The Ollama models ``/api/ps`` reports as loaded.
RUNNING = ["llama3.2:latest"]

#: What a recorded secret reads instead of its value.
REDACTED = "[REDACTED]"
#: Headers that carry an API key, in the order a key is looked for.
_KEY_HEADERS = ("authorization", "x-goog-api-key", "api-key", "x-api-key")
_SECRET_HEADERS = frozenset({*_KEY_HEADERS, "proxy-authorization"})
_SECRET_PARAMS = frozenset({"key"})
_MAX_BODY = 64 * 1024 * 1024


@define
class Fault:
    """What to do to one request instead of answering it normally.

    Timing: ``delay`` holds back the first byte; ``interval`` spaces stream events;
    ``stall_after`` and ``hang`` go silent with the connection open. Breaking:
    ``reset_after`` drops the connection after some stream events (0: before any byte, for
    any request), ``reset_after_bytes`` after some bytes of any body. Content: ``status``
    (with ``retry_after``, ``kind``, ``message``, ``headers``) answers with an error,
    ``malformed`` with a body that is not JSON. Matching: ``path_contains`` and
    ``body_contains`` limit a fault to some requests (a batch can fail chosen items).
    """

    status: int | None = None
    retry_after: str | None = None
    #: Seconds before the first byte of the reply.
    delay: float = 0.0
    #: For a stream: drop the connection after this many events (0: before any byte, which
    #: also applies to a plain reply).
    reset_after: int | None = None
    malformed: bool = False
    #: For a stream: send the events, then never end the body.
    hang: bool = False
    #: Error flavour: ``insufficient_quota`` (OpenAI; for Gemini a per-day QuotaFailure),
    #: ``API_KEY_INVALID`` or a retryDelay like ``"2s"`` (Gemini).
    kind: str = ""
    #: Apply only to request paths containing this text.
    path_contains: str | None = None
    #: Apply only to requests whose body contains this text (e.g. one prompt of a batch).
    body_contains: str | None = None
    #: The error message of a ``status`` fault (default ``"fake fault: HTTP <status>"``);
    #: xAI's out-of-credits 429 is told apart by its text, for instance.
    message: str | None = None
    #: Extra headers on the reply, e.g. ``{"retry-after-ms": "250"}`` or
    #: ``{"x-should-retry": "false"}``.
    headers: dict[str, str] = field(factory=dict)
    #: For a stream: send this many events, then go silent without ending the body (a
    #: stalled stream). For a plain reply: send the head, then go silent.
    stall_after: int | None = None
    #: Drop the connection after this many bytes of the body: a plain reply cut short, or a
    #: stream cut inside an event.
    reset_after_bytes: int | None = None
    #: For a stream: seconds to wait before each event after the first (a trickling stream).
    interval: float = 0.0

    @classmethod
    def from_header(cls, value: str) -> Fault:
        """A fault from an ``x-fake-fault`` header: ``key=value`` pairs split by ``;``
        (``header.NAME=value`` adds a reply header)."""
        values: dict[str, Any] = {}
        headers: dict[str, str] = {}
        for part in value.split(";"):
            key, _, raw = part.strip().partition("=")
            if key in ("status", "reset_after", "stall_after", "reset_after_bytes"):
                values[key] = int(raw)
            elif key in ("delay", "interval"):
                values[key] = float(raw)
            elif key in ("malformed", "hang"):
                values[key] = raw not in ("0", "false", "")
            elif key in ("retry_after", "kind", "message"):
                values[key] = raw
            elif key.startswith("header."):
                headers[key.removeprefix("header.")] = raw
        return cls(**values, headers=headers)

    def matches(self, path: str, body: bytes) -> bool:
        """Whether this fault applies to a request for ``path`` with ``body``."""
        return ((self.path_contains is None or self.path_contains in path)
                and (self.body_contains is None or self.body_contains.encode() in body))


@define
class RecordedRequest:
    """One request as the server received it, its secrets masked.

    Header names are lower-case. The ``authorization``, ``proxy-authorization``,
    ``x-goog-api-key``, ``api-key`` and ``x-api-key`` headers and the ``key`` query parameter
    read :data:`REDACTED` (an auth scheme stays: ``"Bearer [REDACTED]"``).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    #: Whether the key sent was the server's ``api_key``; None when the server has none.
    authorized: bool | None = None
    #: Where the key was found: a header name, ``"key"`` for the query parameter, or None.
    key_source: str | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def _sent_key(headers: dict[str, str], query: dict[str, str]) -> tuple[str | None, str | None]:
    """The API key a request carries, and where (header name or ``key``)."""
    for name in _KEY_HEADERS:
        value = headers.get(name)
        if value is not None:
            if name == "authorization":
                scheme, _, token = value.partition(" ")
                value = token.strip() if scheme.lower() == "bearer" else value
            return value, name
    if "key" in query:
        return query["key"], "key"
    return None, None


def _google_key(headers: dict[str, str], query: dict[str, str]) -> bool:
    """Whether a request carries a Gemini key (and no bearer token): google-genai calls
    ``/v1/models/...`` by default, which is then Gemini's, not OpenAI's."""
    return "authorization" not in headers and ("x-goog-api-key" in headers or "key" in query)


def _mask_header(name: str, value: str) -> str:
    if name.endswith("authorization"):
        scheme, space, rest = value.partition(" ")
        if space and rest:
            return f"{scheme} {REDACTED}"
    return REDACTED


@define
class _Answer:
    status: int
    payload: bytes = b""
    headers: dict[str, str] = field(factory=dict)
    stream: Iterator[bytes] | None = None
    content_type: str = "application/json"
    #: What a ``malformed`` fault puts in place of the stream's second event.
    broken: bytes = b'data: {"broken": \n\n'


def _plain(dialect: Dialect | None, status: int, body: Any,
           headers: dict[str, str] | None = None) -> _Answer:
    if dialect is None:
        return _Answer(status, json.dumps(body).encode(), headers or {})
    return _Answer(status, dialect.dumps(body), headers or {}, content_type=dialect.content_type)


class FakeProviderServer:
    """Start with ``with FakeProviderServer() as server:`` (a background thread), or
    ``async with`` / :meth:`start_async` in a running event loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 api_key: str | None = None, gemini_page_size: int = 2) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.gemini_page_size = gemini_page_size
        self.requests: collections.deque[RecordedRequest] = collections.deque(maxlen=10_000)
        self._faults: list[tuple[Fault, int]] = []
        self._lock = threading.Lock()
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        #: The batch jobs and files (OpenAI Batch, Gemini batch mode); see
        #: :mod:`jtd_ai.testing.batch_server` for how to steer them.
        self.batches = FakeBatches(lambda: self.url)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """The ``base_url`` a driver of ``provider`` should use against this server."""
        suffix = {"openai": "/v1", "xai": "/v1", "gemini": "/v1beta", "ollama": ""}
        return self.url + suffix.get(provider, "/v1")

    async def start_async(self) -> None:
        """Listen from the running event loop (``port=0`` picks a free port)."""
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client hanging up ends a stalled reply's wait.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop_async(self) -> None:
        """Stop listening and close every connection, stalled ones included."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._closing is not None:
            self._closing.set()
        await runner.cleanup()

    def start(self) -> FakeProviderServer:
        """Serve from a background thread with its own event loop."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # pragma: no cover - e.g. port in use
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.wait(leftovers, timeout=5))
            loop.close()

        self._thread = threading.Thread(target=run, name="jtd-ai-fake-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):  # pragma: no cover
            raise RuntimeError("the fake provider server did not start within 10 s")
        if failure:
            self._loop = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop a server started with :meth:`start`."""
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop_async(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeProviderServer:
        await self.start_async()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_async()

    # -- faults ----------------------------------------------------------------------------

    def inject(self, fault: Fault, *, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` matching requests."""
        with self._lock:
            self._faults.append((fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str, header: str | None, body: bytes = b"") -> Fault | None:
        if header:
            return Fault.from_header(header)
        with self._lock:
            for i, (fault, times) in enumerate(self._faults):
                if fault.matches(path, body):
                    if times <= 1:
                        del self._faults[i]
                    else:
                        self._faults[i] = (fault, times - 1)
                    return fault
        return None

    # -- HTTP ------------------------------------------------------------------------------

    def _record(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                body: bytes) -> None:
        key, source = _sent_key(headers, query)
        self.requests.append(RecordedRequest(
            method, path,
            {k: REDACTED if k in _SECRET_PARAMS else v for k, v in query.items()},
            {k: _mask_header(k, v) if k in _SECRET_HEADERS else v for k, v in headers.items()},
            body,
            authorized=None if self.api_key is None else key == self.api_key,
            key_source=source,
        ))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.path
        query = dict(request.query)
        headers = {name.lower(): value for name, value in request.headers.items()}
        self._record(request.method, path, query, headers, body)
        try:
            fault = self._take_fault(path, headers.get("x-fake-fault"), body)
        except (ValueError, TypeError) as exc:
            return _response(_plain(None, 400, {"error": f"bad x-fake-fault header: {exc}"}))
        if fault is not None and fault.delay and not await self._pause(fault.delay):
            return self._drop(request)
        try:
            answer = self._route(request.method, path, query, headers, body, fault)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            answer = _plain(None, 400, {"error": f"fake server could not read the request: "
                                                 f"{exc!r}"})
        if fault is not None and fault.reset_after == 0:
            return self._drop(request)
        try:
            if answer.stream is None:
                return await self._send_plain(request, answer, fault)
            return await self._send_stream(request, answer, fault)
        except ConnectionError:  # the client went away
            return self._drop(request)

    def _head(self, answer: _Answer, fault: Fault | None) -> web.StreamResponse:
        response = web.StreamResponse(status=answer.status)
        response.headers["Content-Type"] = answer.content_type
        response.headers.update(answer.headers)
        if fault is not None:
            response.headers.update(fault.headers)
        return response

    async def _send_plain(self, request: web.Request, answer: _Answer,
                          fault: Fault | None) -> web.StreamResponse:
        payload = b"{not json" if fault is not None and fault.malformed else answer.payload
        response = self._head(answer, fault)
        response.content_length = len(payload)
        await response.prepare(request)
        if fault is not None and fault.stall_after is not None:
            await response.write(b"")  # the head alone
            await self._silence()
            return self._drop(request)
        cut = fault.reset_after_bytes if fault is not None else None
        if cut is not None and cut < len(payload):
            await response.write(payload[:cut])
            return self._drop(request)
        if request.method != "HEAD":
            await response.write(payload)
        await response.write_eof()
        return response

    async def _send_stream(self, request: web.Request, answer: _Answer,
                           fault: Fault | None) -> web.StreamResponse:
        assert answer.stream is not None
        response = self._head(answer, fault)
        await response.prepare(request)
        await response.write(b"")  # a streaming server sends its head at once
        sent = 0
        for i, event in enumerate(answer.stream):
            if fault is not None:
                if fault.reset_after is not None and i >= fault.reset_after:
                    return self._drop(request)
                if fault.stall_after is not None and i >= fault.stall_after:
                    await self._silence()
                    return self._drop(request)
                if fault.interval and i and not await self._pause(fault.interval):
                    return self._drop(request)
                if fault.malformed and i == 1:
                    event = answer.broken
                cut = fault.reset_after_bytes
                if cut is not None and sent + len(event) > cut:
                    if cut > sent:
                        await response.write(event[:cut - sent])
                    return self._drop(request)
            sent += len(event)
            await response.write(event)
        if fault is not None and fault.hang:
            await self._silence()
            return self._drop(request)
        await response.write_eof()
        return response

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False if the server began stopping meanwhile."""
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def _silence(self) -> None:
        """Send nothing until the server stops; the client hanging up cancels the wait."""
        assert self._closing is not None
        await self._closing.wait()

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        """Close the connection without ending the reply. What was written still goes out
        first; aiohttp's attempt to finish the reply then meets a closed transport."""
        transport = request.transport
        if transport is not None:
            if transport.get_write_buffer_size():
                transport.close()
            else:
                transport.abort()
        response = web.Response()
        response.force_close()
        return response

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes, fault: Fault | None) -> _Answer:
        if path.startswith("/api/"):
            return self._ollama(method, path, headers, body, fault)
        if path.startswith(("/upload/v1beta/", "/download/v1beta/")):
            return self._gemini(method, path, query, headers, body, fault)
        if path.startswith("/v1beta/") or (path.startswith("/v1/") and _google_key(headers, query)):
            return self._gemini(method, path, query, headers, body, fault)
        if path.startswith("/v1/"):
            return self._openai(method, path, headers, body, fault, query)
        return _plain(None, 404, {"error": f"no route for {method} {path}"})

    def _fault_answer(self, dialect: Dialect, fault: Fault | None) -> _Answer | None:
        if fault is None or fault.status is None:
            return None
        headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
        message = fault.message or f"fake fault: HTTP {fault.status}"
        return _plain(dialect, fault.status, dialect.error(fault.status, message,
                                                           kind=fault.kind), headers)

    def _chat(self, dialect: Dialect, turn: Turn, headers: dict[str, str]) -> _Answer:
        seq = self._next_seq()
        if "missing" in turn.model:
            return _plain(dialect, 404,
                          dialect.error(404, f"The model `{turn.model}` does not exist"), headers)
        reply = plan(turn)
        if turn.stream:
            return _Answer(200, headers={**headers, **dialect.stream_headers(turn)},
                           stream=dialect.stream(turn, reply, seq),
                           content_type=dialect.stream_type(turn),
                           broken=dialect.stream_broken(turn))
        return _plain(dialect, 200, dialect.reply(turn, reply, seq), headers)

    def _openai(self, method: str, path: str, headers: dict[str, str], body: bytes,
                fault: Fault | None, query: dict[str, str] | None = None) -> _Answer:
        dialect = DIALECTS["openai"]
        assert isinstance(dialect, OpenAIDialect)
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _plain(dialect, 401, dialect.error(401, "Incorrect API key provided."))
        failed = self._fault_answer(dialect, fault)
        if failed is not None:
            return failed
        seq_headers = {"x-request-id": f"req_fake_{self._seq + 1}",
                       "x-ratelimit-limit-requests": "10000",
                       "x-ratelimit-remaining-requests": "9999",
                       "x-ratelimit-reset-requests": "6ms",
                       "x-ratelimit-limit-tokens": "1000000",
                       "x-ratelimit-remaining-tokens": "999990",
                       "x-ratelimit-reset-tokens": "0s"}
        if method == "POST" and path == "/v1/chat/completions":
            return self._chat(dialect, dialect.turn(json.loads(body), path, {}), seq_headers)
        batch = self.batches.openai(method, path, query or {}, headers, body)
        if batch is not None:
            return _batch_answer(batch)
        if method == "GET" and path == "/v1/models":
            return _plain(dialect, 200, dialect.models(MODELS["openai"]), seq_headers)
        if method == "GET" and path.startswith("/v1/models/"):
            name = path.removeprefix("/v1/models/")
            if name not in MODELS["openai"] + MODELS["xai"]:
                return _plain(dialect, 404, dialect.error(
                    404, f"The model '{name}' does not exist"), seq_headers)
            return _plain(dialect, 200, dialect.models([name])["data"][0], seq_headers)
        if method == "GET" and path == "/v1/language-models":
            return _plain(dialect, 200, {"models": [
                {"id": m, "object": "model", "owned_by": "xai", "created": 1_750_000_000,
                 "input_modalities": ["text"], "output_modalities": ["text"],
                 "prompt_text_token_price": 30_000, "cached_prompt_text_token_price": 7_500,
                 "completion_text_token_price": 150_000, "aliases": []}
                for m in MODELS["xai"]]})
        return _plain(dialect, 404, dialect.error(404, f"no route {method} {path}"))

    def _gemini(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                body: bytes, fault: Fault | None) -> _Answer:
        dialect = DIALECTS["gemini"]
        assert isinstance(dialect, GeminiDialect)
        sent = headers.get("x-goog-api-key", query.get("key"))
        # A resumable upload's URL carries its own authority (upload_id), as Google's does.
        session = path.startswith("/upload/") and "upload_id" in query
        if self.api_key is not None and sent != self.api_key and not session:
            return _plain(dialect, 400, dialect.error(
                400, "API key not valid. Please pass a valid API key.", kind="API_KEY_INVALID"))
        failed = self._fault_answer(dialect, fault)
        if failed is not None:
            return failed
        batch = self.batches.gemini(method, path, query, headers, body)
        if batch is not None:
            return _batch_answer(batch)
        version, _, rest = path.removeprefix("/").partition("/")
        if method == "GET" and rest == "models":
            token = query.get("pageToken", "page-0")
            page = int(token.rsplit("-", 1)[-1]) if token.startswith("page-") else 0
            size = int(query.get("pageSize", self.gemini_page_size))
            return _plain(dialect, 200, dialect.models(MODELS["gemini"], page, size))
        if method == "GET" and rest.startswith("models/") and ":" not in rest:
            name = rest.removeprefix("models/")
            if name not in MODELS["gemini"]:
                return _plain(dialect, 404, dialect.error(
                    404, f"models/{name} is not found for API version {version}"))
            return _plain(dialect, 200, dialect.models([name], 0, 1)["models"][0])
        if method == "POST" and path.endswith(":countTokens"):
            turn = dialect.turn(json.loads(body), path, query)
            return _plain(dialect, 200, {"totalTokens": turn.prompt_tokens})
        if method == "POST" and path.endswith((":generateContent", ":streamGenerateContent")):
            return self._chat(dialect, dialect.turn(json.loads(body), path, query), {})
        return _plain(dialect, 404, dialect.error(404, f"no route {method} {path}"))

    def _ollama(self, method: str, path: str, headers: dict[str, str], body: bytes,
                fault: Fault | None) -> _Answer:
        dialect = DIALECTS["ollama"]
        assert isinstance(dialect, OllamaDialect)
        # A local Ollama takes no key; ollama.com (and a proxy in front of Ollama) rejects a
        # wrong one. So a key is checked only when the request carries one.
        sent = headers.get("authorization")
        if self.api_key is not None and sent is not None and sent != f"Bearer {self.api_key}":
            return _plain(dialect, 401, dialect.error(401, "unauthorized"))
        failed = self._fault_answer(dialect, fault)
        if failed is not None:
            return failed
        reading = method in ("GET", "HEAD")
        if reading and path == "/api/version":
            return _plain(dialect, 200, {"version": "0.12.0"})
        if reading and path == "/api/tags":
            return _plain(dialect, 200, dialect.tags(MODELS["ollama"]))
        if reading and path == "/api/ps":
            return _plain(dialect, 200, dialect.running(RUNNING))
        if method == "POST" and path == "/api/show":
            request = json.loads(body)
            name = request.get("model") or request.get("name", "")
            if "missing" in name:
                return _plain(dialect, 404, dialect.error(404, f"model '{name}' not found"))
            return _plain(dialect, 200, dialect.show(name))
        if method == "POST" and path == "/api/chat":
            turn = dialect.turn(json.loads(body), path, {})
            if "missing" in turn.model:
                return _plain(dialect, 404, dialect.error(
                    404, f"model '{turn.model}' not found, try pulling it first"))
            return self._chat(dialect, turn, {})
        return _plain(dialect, 404, dialect.error(404, f"no route {method} {path}"))


def _batch_answer(reply: BatchReply) -> _Answer:
    return _Answer(reply.status, reply.payload(), reply.headers, content_type=reply.content_type)


def _response(answer: _Answer) -> web.Response:
    response = web.Response(status=answer.status, body=answer.payload, headers=answer.headers)
    response.headers["Content-Type"] = answer.content_type
    return response


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="jtd-ai's fake provider server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--api-key", default=None, help="require this key (default: any)")
    args = parser.parse_args(argv)
    server = FakeProviderServer(args.host, args.port, api_key=args.api_key)

    async def serve() -> None:
        async with server:
            print(f"fake provider server on {server.url} "  # noqa: T201
                  f"(OpenAI {server.base_url('openai')}, Gemini {server.base_url('gemini')}, "
                  f"Ollama {server.base_url('ollama')})", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
