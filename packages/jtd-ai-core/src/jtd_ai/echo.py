"""The ``echo`` driver: a test and demo driver that answers offline by echoing the prompt.

It is a real driver through the whole stack: a protocol adapter speaking a small JSON/SSE
wire format, served by an in-process httpx transport (:class:`EchoServer`) instead of a
network peer, so transport, retries, streaming, hooks, logging and cost all run for real.
It is never used as a silent fallback: it answers only when a provider names it.

Reply: ``"echo: <last user message>"``; tokens are counted as whitespace-separated words.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from jtd_ai.errors import ProviderError, StreamInterruptedError
from jtd_ai.hookspecs import hookimpl
from jtd_ai.messages import Role
from jtd_ai.modelinfo import Capabilities, ModelInfo, ModelKind
from jtd_ai.pricing import Pricing
from jtd_ai.protocol import ChatProtocol, ModelPage, StreamDecoder, StreamEvent
from jtd_ai.request import ChatRequest
from jtd_ai.responses import FinishReason, Response, StreamChunk, TokenUsage
from jtd_ai.wire import HttpRequest, HttpResponse

__all__ = ["EchoProtocol", "EchoServer", "register_drivers"]

MODELS = ("echo-1", "echo-large")
_PRICES_AS_OF = dt.date(2026, 11, 24)


def _words(text: str) -> int:
    return len(text.split())


class EchoProtocol(ChatProtocol):
    name = "echo"
    config_options = frozenset()  # no options of its own: any other key is a typo

    def auth_headers(self) -> Mapping[str, str]:
        key = self.config.api_key
        return {"Authorization": f"Bearer {key.reveal()}"} if key else {}

    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": str(m.role), "content": m.text} for m in request.messages],
            "stream": stream,
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        body.update(request.extra)
        return HttpRequest("POST", "/chat", json=body, stream="sse" if stream else None)

    def parse_chat(self, response: HttpResponse, request: ChatRequest) -> Response:
        data = response.json(provider=self.provider)
        return Response(
            content=data["content"],
            model=data["model"],
            provider=self.provider,
            finish_reason=FinishReason(data["finish_reason"]),
            usage=TokenUsage(data["usage"]["input"], data["usage"]["output"]),
            request_id=response.headers.get("x-request-id"),
            raw=data,
        )

    def stream_decoder(self, request: ChatRequest) -> StreamDecoder:
        return _EchoDecoder(self.provider)

    def parse_error(self, response: HttpResponse) -> ProviderError:
        try:
            message = json.loads(response.content)["error"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200] or f"HTTP {response.status}"
        return self.error_for_status(response, str(message))

    def models_request(self, page_token: str | None) -> HttpRequest:
        return HttpRequest("GET", "/models", params={"page": page_token} if page_token else {})

    def parse_models(self, response: HttpResponse) -> ModelPage:
        data = response.json(provider=self.provider)
        models = tuple(
            ModelInfo(id=m["id"], provider=self.provider, kind=ModelKind.CHAT,
                      context_length=m.get("context_length"), capabilities=self.capabilities(),
                      pricing=self.pricing(m["id"]))
            for m in data["data"]
        )
        return ModelPage(models, data.get("next_page"))

    def default_transport(self) -> httpx.BaseTransport:
        return EchoServer()

    def capabilities(self, model: str | None = None) -> Capabilities:
        return Capabilities(streaming=True, tools=False, vision=False, json_mode=False,
                            structured_output=False, reasoning=False, system_prompt=True)

    def pricing(self, model: str) -> Pricing | None:
        # Echo costs nothing; a price still exists so cost, and overrides of it, are exercised.
        return Pricing(input=0, output=0, source="echo", as_of=_PRICES_AS_OF)


class _EchoDecoder(StreamDecoder):
    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.done = False

    def feed(self, event: StreamEvent) -> Iterable[StreamChunk]:
        data = json.loads(event.data)
        if "error" in data:
            raise ProviderError(f"{self.provider} stream failed: {data['error']}",
                                provider=self.provider)
        if data.get("done"):
            self.done = True
            usage = TokenUsage(data["usage"]["input"], data["usage"]["output"])
            return (StreamChunk(finish_reason=FinishReason(data["finish_reason"]), usage=usage,
                                model=data["model"]),)
        return (StreamChunk(delta=data["delta"], model=data.get("model")),)

    def end(self) -> Iterable[StreamChunk]:
        if not self.done:
            raise StreamInterruptedError(f"{self.provider}: the stream ended before its last "
                                         f"event", provider=self.provider)
        return ()


class EchoServer(httpx.MockTransport):
    """The in-process server behind the echo driver (sync and async)."""

    def __init__(self) -> None:
        super().__init__(self.handle)
        self.requests = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        headers = {"x-request-id": f"echo-{self.requests}"}
        if request.url.path.endswith("/models"):
            data = [{"id": m, "context_length": 8192} for m in MODELS]
            return httpx.Response(200, json={"data": data}, headers=headers)
        if not request.url.path.endswith("/chat"):
            return httpx.Response(404, json={"error": f"no route {request.url.path}"})
        body = json.loads(request.content)
        if body["model"] not in MODELS:
            return httpx.Response(404, json={"error": f"model {body['model']} not found"},
                                  headers=headers)
        prompt = next((m["content"] for m in reversed(body["messages"])
                       if m["role"] == Role.USER), "")
        words = f"echo: {prompt}".split(" ")
        limit = body.get("max_tokens")
        finish = "stop"
        if limit is not None and len(words) > limit:
            words, finish = words[:limit], "length"
        content = " ".join(words)
        usage = {"input": sum(_words(m["content"]) for m in body["messages"]),
                 "output": _words(content)}
        if not body.get("stream"):
            return httpx.Response(200, headers=headers, json={
                "model": body["model"], "content": content, "finish_reason": finish,
                "usage": usage, "created": int(time.time()),
            })
        events = [
            {"delta": (" " if i else "") + word, "model": body["model"]}
            for i, word in enumerate(words)
        ]
        events.append({"done": True, "usage": usage, "finish_reason": finish,
                       "model": body["model"]})
        payload = "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode()
        return httpx.Response(200, headers={**headers, "content-type": "text/event-stream"},
                              content=payload)


@hookimpl
def register_drivers(register: Any) -> None:
    register("echo", EchoProtocol, default_base_url="http://echo.invalid",
             default_model="echo-1", requires_api_key=False,
             description="offline test/demo driver that echoes the prompt")
