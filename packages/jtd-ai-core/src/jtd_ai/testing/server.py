"""A fake provider server: real HTTP on loopback, speaking OpenAI, Gemini and Ollama.

Tests, benchmarks and the offline demo point real drivers (or the official SDKs) at it::

    with FakeProviderServer(api_key="sk-fake-key") as server:
        ai = AIManager(providers={"openai": {"base_url": server.base_url("openai"),
                                             "api_key": "sk-fake-key"}})
        server.inject(Fault(status=429, retry_after="1"))     # the next request gets a 429
        ai.driver("openai").send_message("hi", model="gpt-4o-mini")

or from a shell: ``python -m jtd_ai.testing.server --port 8787``.

Routes: ``/v1/chat/completions``, ``/v1/models``, ``/v1/language-models`` (OpenAI, xAI);
``/v1beta/models``, ``/v1beta/models/{m}:generateContent``, ``:streamGenerateContent``,
``:countTokens`` (Gemini); ``/api/chat``, ``/api/tags``, ``/api/show``, ``/api/version`` (Ollama).
Replies follow the rule in :mod:`jtd_ai.testing.dialects`. Faults come from :meth:`inject` or
an ``x-fake-fault`` request header (``status=429;retry_after=2``, ``delay=0.5``,
``reset_after=2``, ``reset_after_bytes=40``, ``stall_after=2``, ``interval=0.1``,
``malformed=1``, ``hang=1``, ``kind=insufficient_quota``, ``message=...``).

It is an asyncio server with a minimal HTTP/1.1 reader (keep-alive, Content-Length bodies,
chunked streamed replies), so it is never the bottleneck of a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import threading
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from attrs import define, field

from jtd_ai.testing.dialects import (
    DIALECTS,
    Dialect,
    GeminiDialect,
    OllamaDialect,
    OpenAIDialect,
    Turn,
    plan,
)

__all__ = ["FakeProviderServer", "Fault", "RecordedRequest"]

MODELS = {
    "openai": ["gpt-4o-mini", "gpt-4o", "gpt-5-mini"],
    "xai": ["grok-4", "grok-3-mini"],
    "gemini": ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "text-embedding-004"],
    "ollama": ["llama3.2:latest", "qwen3:8b"],
}


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
        values: dict[str, Any] = {}
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
        return cls(**values)

    def matches(self, path: str, body: bytes) -> bool:
        """Whether this fault applies to a request for ``path`` with ``body``."""
        return ((self.path_contains is None or self.path_contains in path)
                and (self.body_contains is None or self.body_contains.encode() in body))


@define
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@define
class _Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(factory=dict)
    stream: Iterator[bytes] | None = None
    content_type: str = "application/json"


class FakeProviderServer:
    """Start with ``with FakeProviderServer() as server:`` or :meth:`start`/:meth:`stop`."""

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
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """The ``base_url`` a driver of ``provider`` should use against this server."""
        suffix = {"openai": "/v1", "xai": "/v1", "gemini": "/v1beta", "ollama": ""}
        return self.url + suffix.get(provider, "/v1")

    async def start_async(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port,
                                                  limit=16 * 1024 * 1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> FakeProviderServer:
        """Serve from a background thread with its own event loop."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # pragma: no cover - e.g. port in use
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="jtd-ai-fake-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                keep = await self._respond(reader, writer, method, target, headers, body)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       method: str, target: str, headers: dict[str, str], body: bytes) -> bool:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query))
        self.requests.append(RecordedRequest(method, parts.path, query, headers, body))
        fault = self._take_fault(parts.path, headers.get("x-fake-fault"), body)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        try:
            answer = self._route(method, parts.path, query, headers, body, fault)
        except (ValueError, KeyError) as exc:
            answer = _Answer(400, {"error": f"fake server could not read the request: {exc}"})
        if fault is not None and fault.reset_after == 0:
            writer.transport.abort()
            return False
        head = [f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}",
                f"content-type: {answer.content_type}"]
        head += [f"{k}: {v}" for k, v in answer.headers.items()]
        if fault is not None:
            head += [f"{k}: {v}" for k, v in fault.headers.items()]
        cut = fault.reset_after_bytes if fault is not None else None
        if answer.stream is None:
            payload = b"{not json" if fault is not None and fault.malformed else (
                json.dumps(answer.body).encode())
            head.append(f"content-length: {len(payload)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
            if fault is not None and fault.stall_after is not None:
                await writer.drain()
                await _silence(reader)
                return False
            if cut is not None and cut < len(payload):
                writer.write(payload[:cut])
                await writer.drain()
                writer.transport.abort()
                return False
            writer.write(payload)
            await writer.drain()
            return True
        head.append("transfer-encoding: chunked")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        for i, event in enumerate(answer.stream):
            if fault is not None and fault.reset_after is not None and i >= fault.reset_after:
                await writer.drain()
                writer.transport.abort()
                return False
            if fault is not None and fault.stall_after is not None and i >= fault.stall_after:
                await writer.drain()
                await _silence(reader)
                return False
            if fault is not None and fault.interval and i:
                await asyncio.sleep(fault.interval)
            if fault is not None and fault.malformed and i == 1:
                event = b"data: {\"broken\": \n\n"
            if cut is not None and sent + len(event) > cut:
                piece = event[:cut - sent]
                if piece:
                    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
                writer.transport.abort()
                return False
            sent += len(event)
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
        if fault is not None and fault.hang:
            await writer.drain()
            await _silence(reader)
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes, fault: Fault | None) -> _Answer:
        if path.startswith("/api/"):
            return self._ollama(method, path, headers, body, fault)
        if path.startswith("/v1beta/"):
            return self._gemini(method, path, query, headers, body, fault)
        if path.startswith("/v1/"):
            return self._openai(method, path, headers, body, fault)
        return _Answer(404, {"error": f"no route for {method} {path}"})

    def _fault_answer(self, dialect: Dialect, fault: Fault | None) -> _Answer | None:
        if fault is None or fault.status is None:
            return None
        headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
        message = fault.message or f"fake fault: HTTP {fault.status}"
        return _Answer(fault.status, dialect.error(fault.status, message, kind=fault.kind),
                       headers)

    def _chat(self, dialect: Dialect, turn: Turn, headers: dict[str, str]) -> _Answer:
        seq = self._next_seq()
        if "missing" in turn.model:
            return _Answer(404, dialect.error(404, f"The model `{turn.model}` does not exist"),
                           headers)
        reply = plan(turn)
        if turn.stream:
            return _Answer(200, headers=headers, stream=dialect.stream(turn, reply, seq),
                           content_type=dialect.stream_content_type)
        return _Answer(200, dialect.reply(turn, reply, seq), headers)

    def _openai(self, method: str, path: str, headers: dict[str, str], body: bytes,
                fault: Fault | None) -> _Answer:
        dialect = DIALECTS["openai"]
        assert isinstance(dialect, OpenAIDialect)
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _Answer(401, dialect.error(401, "Incorrect API key provided."))
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
        if method == "GET" and path == "/v1/models":
            return _Answer(200, dialect.models(MODELS["openai"]), seq_headers)
        if method == "GET" and path == "/v1/language-models":
            return _Answer(200, {"models": [
                {"id": m, "object": "model", "owned_by": "xai", "created": 1_750_000_000,
                 "input_modalities": ["text"], "output_modalities": ["text"],
                 "prompt_text_token_price": 30_000, "cached_prompt_text_token_price": 7_500,
                 "completion_text_token_price": 150_000, "aliases": []}
                for m in MODELS["xai"]]})
        return _Answer(404, dialect.error(404, f"no route {method} {path}"))

    def _gemini(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                body: bytes, fault: Fault | None) -> _Answer:
        dialect = DIALECTS["gemini"]
        assert isinstance(dialect, GeminiDialect)
        if self.api_key is not None and headers.get("x-goog-api-key") != self.api_key:
            return _Answer(400, dialect.error(400, "API key not valid. Please pass a valid "
                                              "API key.", kind="API_KEY_INVALID"))
        failed = self._fault_answer(dialect, fault)
        if failed is not None:
            return failed
        if method == "GET" and path == "/v1beta/models":
            token = query.get("pageToken", "page-0")
            page = int(token.rsplit("-", 1)[-1]) if token.startswith("page-") else 0
            size = int(query.get("pageSize", self.gemini_page_size))
            return _Answer(200, dialect.models(MODELS["gemini"], page, size))
        if method == "POST" and path.endswith(":countTokens"):
            turn = dialect.turn(json.loads(body), path, query)
            return _Answer(200, {"totalTokens": turn.prompt_tokens})
        if method == "POST" and path.endswith((":generateContent", ":streamGenerateContent")):
            return self._chat(dialect, dialect.turn(json.loads(body), path, query), {})
        return _Answer(404, dialect.error(404, f"no route {method} {path}"))

    def _ollama(self, method: str, path: str, headers: dict[str, str], body: bytes,
                fault: Fault | None) -> _Answer:
        dialect = DIALECTS["ollama"]
        assert isinstance(dialect, OllamaDialect)
        # A local Ollama takes no key; ollama.com (and a proxy in front of Ollama) rejects a
        # wrong one. So a key is checked only when the request carries one.
        sent = headers.get("authorization")
        if self.api_key is not None and sent is not None and sent != f"Bearer {self.api_key}":
            return _Answer(401, dialect.error(401, "unauthorized"))
        failed = self._fault_answer(dialect, fault)
        if failed is not None:
            return failed
        if method == "GET" and path == "/api/version":
            return _Answer(200, {"version": "0.12.0"})
        if method == "GET" and path == "/api/tags":
            return _Answer(200, dialect.tags(MODELS["ollama"]))
        if method == "POST" and path == "/api/show":
            name = json.loads(body).get("model") or json.loads(body).get("name", "")
            if "missing" in name:
                return _Answer(404, dialect.error(404, f"model '{name}' not found"))
            return _Answer(200, dialect.show(name))
        if method == "POST" and path == "/api/chat":
            turn = dialect.turn(json.loads(body), path, {})
            if "missing" in turn.model:
                return _Answer(404, dialect.error(404, f"model '{turn.model}' not found, try "
                                                  f"pulling it first"))
            return self._chat(dialect, turn, {})
        return _Answer(404, dialect.error(404, f"no route {method} {path}"))


async def _silence(reader: asyncio.StreamReader) -> None:
    """Send nothing more until the client hangs up (a stall): the connection stays open."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="jtd-ai's fake provider server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--api-key", default=None, help="require this key (default: any)")
    args = parser.parse_args(argv)
    server = FakeProviderServer(args.host, args.port, api_key=args.api_key)

    async def serve() -> None:
        await server.start_async()
        print(f"fake provider server on {server.url} "  # noqa: T201
              f"(OpenAI {server.base_url('openai')}, Gemini {server.base_url('gemini')}, "
              f"Ollama {server.base_url('ollama')})", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
