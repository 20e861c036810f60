"""A loopback server speaking OpenAI Chat Completions whose replies are chosen by a marker in
the prompt: bodies no well-behaved provider sends (JSON nested 200,000 deep, a 5,000-digit
integer, a lone surrogate, a model name full of rich markup), for the robustness tests.

Markers (anywhere in the last user message; the first one found wins):

``#deep``
    a body of 200,000 nested arrays (the JSON parser raises RecursionError);
``#bigint``
    a valid reply whose ``created`` has 5,000 digits (past Python's int-string limit);
``#surrogate``
    a valid reply whose content holds ``\\ud800`` (a lone surrogate once decoded);
``#markup``
    a valid reply naming the model ``x[/oops]``;
``#badmodel``
    a valid reply naming a model that holds a lone surrogate;
``#status500``
    a 500 error (retried by the core).

Anything else is answered ``"echo: <prompt>"`` naming the model asked for. A streamed
request gets the same reply as OpenAI-style SSE events (``#deep`` and ``#bigint`` break
the second event instead).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["DEEP", "MARKUP_MODEL", "CraftedServer"]

DEEP = 200_000
MARKUP_MODEL = "x[/oops]"
_BIG = "1" + "0" * 4_999


def _reply(model: str, content: str) -> dict[str, Any]:
    return {"id": "chatcmpl-crafted", "object": "chat.completion", "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}}


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None,
           usage: dict[str, int] | None = None) -> bytes:
    chunk: dict[str, Any] = {"id": "chatcmpl-crafted", "object": "chat.completion.chunk",
                             "created": 1_700_000_000, "model": model,
                             "choices": [{"index": 0, "delta": delta,
                                          "finish_reason": finish}]}
    if usage is not None:
        chunk["usage"] = usage
        chunk["choices"] = []
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200, json.dumps({"object": "list", "data": []}).encode(),
                   "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length))
        with self.server.lock:
            self.server.prompts.append(request["messages"][-1]["content"])
        prompt = request["messages"][-1]["content"]
        model = request.get("model", "gpt-4o-mini")
        if "#status500" in prompt:
            self._send(500, b'{"error": {"message": "crafted 500", "type": "server_error"}}',
                       "application/json")
            return
        if "#deep" in prompt:
            raw = b"[" * DEEP + b"]" * DEEP
            if request.get("stream"):
                raw = _chunk(model, {"role": "assistant", "content": ""}) + b"data: " + raw + (
                    b"\n\n")
                self._send(200, raw, "text/event-stream")
            else:
                self._send(200, raw, "application/json")
            return
        if "#bigint" in prompt:
            body = json.dumps(_reply(model, "big")).replace("1700000000", _BIG).encode()
            if request.get("stream"):
                event = _chunk(model, {"content": "big"}).replace(b"1700000000", _BIG.encode())
                self._send(200, _chunk(model, {"role": "assistant", "content": ""}) + event,
                           "text/event-stream")
            else:
                self._send(200, body, "application/json")
            return
        content = "bad \ud800 reply" if "#surrogate" in prompt else f"echo: {prompt}"
        if "#markup" in prompt:
            model = MARKUP_MODEL
        elif "#badmodel" in prompt:
            model = "model \udfff"
        if request.get("stream"):
            events = b"".join(self._stream(model, content)) + b"data: [DONE]\n\n"
            self._send(200, events, "text/event-stream")
            return
        # json.dumps escapes a lone surrogate as the six characters \ud800: ASCII on the wire.
        self._send(200, json.dumps(_reply(model, content)).encode(), "application/json")

    @staticmethod
    def _stream(model: str, content: str) -> Iterator[bytes]:
        yield _chunk(model, {"role": "assistant", "content": ""})
        for piece in content.split(" "):
            yield _chunk(model, {"content": piece + " "})
        yield _chunk(model, {}, finish="stop")
        yield _chunk(model, {}, usage={"prompt_tokens": 2, "completion_tokens": 3,
                                       "total_tokens": 5})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.prompts: list[str] = []


class CraftedServer:
    """``with CraftedServer() as server:``; ``server.base_url`` is an OpenAI base URL."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="crafted-server", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def prompts(self) -> list[str]:
        """The last user message of every chat request received, in order."""
        with self._server.lock:
            return list(self._server.prompts)

    def __enter__(self) -> CraftedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
