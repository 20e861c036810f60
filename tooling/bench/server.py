"""A fast fake OpenAI-compatible server for the benchmarks: raw asyncio, replies precomputed.

It runs in its own process (and, when run.py pins it, on its own core) so it never shares a
GIL or a core with the client being measured; with uvloop when installed. It speaks just
enough HTTP/1.1 for the clients measured: keep-alive, pipelining, Content-Length request
bodies, chunked streamed replies. Every reply is bytes built once, so a request costs the
server a header scan and one write; ``GET /_bench/stats`` reports its CPU time so a run can
show the server was not the limit.

    python tooling/bench/server.py [--port 0] [--cpu N] [--no-uvloop]

Routes: ``POST /v1/chat/completions`` (a chat.completion, or with ``"stream": true`` SSE
chunks: as many content chunks as the ``x-bench-chunks`` header or ``max_tokens`` asks, 5,000
by default, then the finish chunk, the usage chunk when ``stream_options.include_usage`` is
set, and ``data: [DONE]``), ``GET /v1/models``, ``GET /_bench/stats``. Prints
``listening on <base URL> loop=<name>`` once ready.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from payloads import (
    API_KEY,
    PROMPT_TOKENS,
    REPLY,
    REPLY_TOKENS,
    SERVED_MODEL,
    STREAM_CHUNKS,
    dumps,
    stream_piece,
)

_MAX_HEAD = 64 * 1024
_MAX_CHUNKS = 1_000_000
_TOKENS = re.compile(rb'"max_(?:completion_)?tokens"\s*:\s*(\d+)')
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_INCLUDE_USAGE = re.compile(rb'"include_usage"\s*:\s*true')
_AUTH = b"Bearer " + API_KEY.encode()
_CREATED = 1782321902
#: What OpenAI sends with every reply; the rate-limit ones feed clients' pacing logic.
_COMMON_HEADERS = (
    ("x-request-id", "req_bench0123456789"), ("openai-processing-ms", "1"),
    ("x-ratelimit-limit-requests", "30000"), ("x-ratelimit-remaining-requests", "29999"),
    ("x-ratelimit-reset-requests", "2ms"), ("x-ratelimit-limit-tokens", "150000000"),
    ("x-ratelimit-remaining-tokens", "149999970"), ("x-ratelimit-reset-tokens", "0s"),
)


def head(status: str, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def whole(status: str, body: bytes, *, close: bool = False) -> bytes:
    """A complete reply with a JSON body."""
    headers = [("content-type", "application/json"), ("content-length", str(len(body))),
               *_COMMON_HEADERS]
    if close:
        headers.append(("connection", "close"))
    return head(status, headers) + body


def error(status: str, message: str, kind: str, code: str | None = None) -> bytes:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return whole(status, dumps(body))


def usage(completion: int) -> dict[str, Any]:
    """Token counts as OpenAI reports them, details included."""
    return {
        "prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def completion() -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench0123456789", "object": "chat.completion", "created": _CREATED,
        "model": SERVED_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY,
                                             "refusal": None, "annotations": []},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": usage(REPLY_TOKENS), "service_tier": "default",
        "system_fingerprint": "fp_bench01",
    }


def frame(payload: bytes) -> bytes:
    """One SSE event in one chunk of the chunked encoding, as a real server flushes it."""
    event = b"data: " + payload + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


class StreamReplies:
    """Streamed replies of any length, built from a few precomputed chunks and cached."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, bool], bytes] = {}
        self._head = head("200 OK", [("content-type", "text/event-stream; charset=utf-8"),
                                     ("transfer-encoding", "chunked"), *_COMMON_HEADERS])

    def _chunk(self, choices: list[dict[str, Any]], with_usage: bool,
               usage_value: dict[str, Any] | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": "chatcmpl-bench0123456789", "object": "chat.completion.chunk",
            "created": _CREATED, "model": SERVED_MODEL, "service_tier": "default",
            "system_fingerprint": "fp_bench01", "choices": choices,
        }
        if with_usage:  # with include_usage every chunk carries "usage": null
            chunk["usage"] = usage_value
        chunk["obfuscation"] = "bEnCh0"
        return frame(dumps(chunk))

    def get(self, chunks: int, with_usage: bool) -> bytes:
        key = (chunks, with_usage)
        reply = self._cache.get(key)
        if reply is None:
            reply = self._cache[key] = self._build(chunks, with_usage)
        return reply

    def _build(self, chunks: int, with_usage: bool) -> bytes:
        def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

        pieces: dict[str, bytes] = {}
        parts = [self._head, self._chunk(choice({"role": "assistant", "content": "",
                                                 "refusal": None}), with_usage)]
        for index in range(chunks):
            text = stream_piece(index)
            encoded = pieces.get(text)
            if encoded is None:
                encoded = pieces[text] = self._chunk(choice({"content": text}), with_usage)
            parts.append(encoded)
        parts.append(self._chunk(choice({}, "stop"), with_usage))
        if with_usage:
            parts.append(self._chunk([], True, usage(chunks)))
        parts.append(frame(b"[DONE]"))
        parts.append(b"0\r\n\r\n")
        return b"".join(parts)


class Server:
    """The replies, the request count and the routing; one per process."""

    def __init__(self, loop_name: str) -> None:
        self.loop_name = loop_name
        self.requests = 0
        self.chat = whole("200 OK", dumps(completion()))
        self.models = whole("200 OK", dumps({"object": "list", "data": [
            {"id": name, "object": "model", "created": 1721172741, "owned_by": "system"}
            for name in ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")]}))
        self.streams = StreamReplies()
        self.streams.get(STREAM_CHUNKS, True)  # the standard scenario, built before any client
        self.unauthorized = error("401 Unauthorized", "Incorrect API key provided.",
                                  "invalid_request_error", "invalid_api_key")
        self.not_found = error("404 Not Found", "Unknown route.", "invalid_request_error")

    def answer(self, method: bytes, path: bytes, headers: dict[bytes, bytes],
               body: bytes) -> bytes:
        self.requests += 1
        if path.startswith(b"/v1/") and headers.get(b"authorization") != _AUTH:
            return self.unauthorized
        route = path.split(b"?", 1)[0]
        if method == b"POST" and route == b"/v1/chat/completions":
            if _STREAM.search(body) is None:
                return self.chat
            return self.stream(headers, body)
        if method == b"GET" and route == b"/v1/models":
            return self.models
        if method == b"GET" and route == b"/_bench/stats":
            return whole("200 OK", json.dumps({
                "cpu_s": time.process_time(), "requests": self.requests,
                "loop": self.loop_name, "pid": os.getpid()}).encode())
        return self.not_found

    def stream(self, headers: dict[bytes, bytes], body: bytes) -> bytes:
        asked = headers.get(b"x-bench-chunks")
        if asked is None:
            found = _TOKENS.search(body)
            asked = found.group(1) if found else None
        chunks = int(asked) if asked is not None and asked.isdigit() else STREAM_CHUNKS
        if not 0 < chunks <= _MAX_CHUNKS:
            return error("400 Bad Request", f"chunks must be 1..{_MAX_CHUNKS}",
                         "invalid_request_error")
        return self.streams.get(chunks, _INCLUDE_USAGE.search(body) is not None)


class Connection(asyncio.Protocol):
    """One client connection: reads requests as they complete, answers each in order."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while self.transport is not None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    self.fail("431 Request Header Fields Too Large")
                return
            lines = bytes(buffer[:end]).split(b"\r\n")
            request = lines[0].split(b" ")
            if len(request) != 3:
                self.fail("400 Bad Request")
                return
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if b"transfer-encoding" in headers:
                self.fail("411 Length Required")  # the clients measured all send a length
                return
            length = int(headers.get(b"content-length", b"0"))
            total = end + 4 + length
            if len(buffer) < total:
                return
            body = bytes(buffer[end + 4:total])
            del buffer[:total]
            self.transport.write(self.server.answer(request[0], request[1], headers, body))
            if headers.get(b"connection", b"").lower() == b"close" or request[2] != b"HTTP/1.1":
                self.transport.close()
                self.transport = None

    def fail(self, status: str) -> None:
        assert self.transport is not None
        self.transport.write(whole(status, b"{}", close=True))
        self.transport.close()
        self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def loop_factory(use_uvloop: bool) -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    """uvloop's loop when wanted and installed, else asyncio's own."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop, f"uvloop {importlib.metadata.version('uvloop')}"
    return asyncio.new_event_loop, "asyncio"


async def serve(host: str, port: int, loop_name: str) -> None:
    server = Server(loop_name)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: Connection(server), host, port, backlog=2048)
    bound = listener.sockets[0].getsockname()[1]
    print(f"listening on http://{host}:{bound}/v1 loop={loop_name}", flush=True)
    async with listener:
        await listener.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cpu", type=int, help="pin the server to this CPU (Linux)")
    parser.add_argument("--no-uvloop", action="store_true", help="use asyncio's own loop")
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    factory, name = loop_factory(not args.no_uvloop)
    with asyncio.Runner(loop_factory=factory) as runner:
        try:
            runner.run(serve(args.host, args.port, name))
        except KeyboardInterrupt:
            sys.exit(0)


if __name__ == "__main__":
    main()
