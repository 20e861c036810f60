"""``AI.fake()``: replace every provider with queued replies, then assert on what was sent.

    with AI.fake() as fake:
        fake.respond("Hello!").respond_tool_call("lookup", {"q": "x"}).fail(RateLimitError("slow"))
        app.run()                               # code that uses AI.conversation(...) etc.
    fake.assert_sent("Hi", provider="openai")
    assert fake.call_count == 3

Fake replies travel through the real core (request validation, conversation history, stream
assembly, hooks, cost), so what an application sees is what a provider would give it; only
the network is replaced. No API key or driver package is needed. Retries are off unless
``AI.fake(retries=True)``, so a queued error reaches the application as it is; with retries on,
each retry attempt is answered by the next queued reply (``calls`` still records the
application's call once).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from attrs import define, field

from jtd_ai.errors import AIError, ProviderError
from jtd_ai.messages import ToolCall
from jtd_ai.protocol import ChatProtocol, StreamDecoder, StreamEvent
from jtd_ai.responses import FinishReason, Response, StreamChunk, TokenUsage, ToolCallDelta
from jtd_ai.wire import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig
    from jtd_ai.modelinfo import Capabilities
    from jtd_ai.request import ChatRequest

__all__ = ["FakeAI", "FakeCall"]


@define
class FakeCall:
    """One call the application made while faked."""

    provider: str
    model: str
    request: ChatRequest
    stream: bool

    @property
    def prompt(self) -> str:
        """The text of the last user message."""
        users = [m for m in self.request.messages if m.role == "user"]
        return users[-1].text if users else ""


@define
class _Queued:
    text: str = ""
    chunks: tuple[str, ...] | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: TokenUsage | None = None
    model: str | None = None
    finish_reason: FinishReason | None = None
    error: AIError | None = None


@define
class FakeAI:
    """The queue of replies and the record of calls of one ``AI.fake()`` block."""

    default: str | None = None
    retries: bool = False
    calls: list[FakeCall] = field(factory=list)
    _queue: list[_Queued] = field(factory=list)
    _errors: dict[int, AIError] = field(factory=dict)
    _ids: Any = field(factory=itertools.count)

    # -- queueing -------------------------------------------------------------------------

    def respond(self, text: str, *, usage: TokenUsage | None = None, model: str | None = None,
                finish_reason: FinishReason = FinishReason.STOP) -> FakeAI:
        """Queue a text reply (streamed word by word when the call streams)."""
        self._queue.append(_Queued(text=text, usage=usage, model=model,
                                   finish_reason=finish_reason))
        return self

    def respond_stream(self, chunks: Sequence[str], *, usage: TokenUsage | None = None,
                       model: str | None = None) -> FakeAI:
        """Queue a reply given as its stream deltas (joined for a non-streamed call)."""
        self._queue.append(_Queued(text="".join(chunks), chunks=tuple(chunks), usage=usage,
                                   model=model, finish_reason=FinishReason.STOP))
        return self

    def respond_tool_call(self, name: str, arguments: Mapping[str, Any] | None = None, *,
                          call_id: str | None = None, text: str = "") -> FakeAI:
        """Queue a reply that asks for one tool call."""
        call = ToolCall(call_id or f"call_fake_{next(self._ids)}", name,
                        json.dumps(dict(arguments or {})))
        self._queue.append(_Queued(text=text, tool_calls=(call,),
                                   finish_reason=FinishReason.TOOL_CALLS))
        return self

    def fail(self, error: AIError) -> FakeAI:
        """Queue an error to be raised by the next call."""
        self._queue.append(_Queued(error=error))
        return self

    def extend(self, replies: Iterable[str | AIError | Response]) -> FakeAI:
        for reply in replies:
            if isinstance(reply, AIError):
                self.fail(reply)
            elif isinstance(reply, Response):
                self._queue.append(_Queued(text=reply.content, tool_calls=reply.tool_calls,
                                           usage=reply.usage, model=reply.model,
                                           finish_reason=reply.finish_reason))
            else:
                self.respond(reply)
        return self

    # -- assertions -----------------------------------------------------------------------

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def prompts(self) -> list[str]:
        return [c.prompt for c in self.calls]

    @property
    def pending(self) -> int:
        """Queued replies not used yet."""
        return len(self._queue)

    def assert_sent(self, text: str | None = None, *, provider: str | None = None,
                    model: str | None = None, **options: Any) -> FakeCall:
        """The first call matching all given facts; AssertionError listing the calls if none."""
        for call in self.calls:
            if text is not None and text not in call.prompt:
                continue
            if provider is not None and call.provider != provider:
                continue
            if model is not None and call.model != model:
                continue
            if any(getattr(call.request, k) != v for k, v in options.items()):
                continue
            return call
        wanted = {"text": text, "provider": provider, "model": model, **options}
        seen = [(c.provider, c.model, c.prompt) for c in self.calls]
        raise AssertionError(f"no call matched {wanted}; calls were {seen}")

    def assert_nothing_sent(self) -> None:
        assert not self.calls, f"expected no calls, got {len(self.calls)}: {self.prompts}"

    # -- serving --------------------------------------------------------------------------

    def _next(self, call: FakeCall) -> _Queued:
        if self._queue:
            return self._queue.pop(0)
        if self.default is not None:
            return _Queued(text=self.default, finish_reason=FinishReason.STOP)
        raise AssertionError(
            f"AI.fake(): no reply queued for call #{len(self.calls)} (provider "
            f"{call.provider!r}, model {call.model!r}, prompt {call.prompt!r}); queue one with "
            f"fake.respond(...)"
        )

    def protocol(self, config: ProviderConfig) -> ChatProtocol:
        return _FakeProtocol(config, self)


def _usage_for(item: _Queued, request: ChatRequest) -> TokenUsage:
    if item.usage is not None:
        return item.usage
    prompt = sum(len(m.text.split()) for m in request.messages)
    return TokenUsage(prompt, len(item.text.split()) + len(item.tool_calls))


class _FakeProtocol(ChatProtocol):
    """Carries queued replies through the real core: requests go to an in-process transport
    that answers with the next queued item, encoded as JSON."""

    name = "fake"
    request_id_header = "x-request-id"

    def __init__(self, config: ProviderConfig, fake: FakeAI) -> None:
        super().__init__(config)
        self.fake = fake
        self._pending: dict[str, tuple[_Queued | None, FakeCall]] = {}

    def default_transport(self) -> httpx.BaseTransport:
        return httpx.MockTransport(self._serve)

    def capabilities(self, model: str | None = None) -> Capabilities:
        from jtd_ai.modelinfo import Capabilities

        return Capabilities(streaming=True, tools=True, vision=True, json_mode=True,
                            structured_output=True, system_prompt=True)

    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        call = FakeCall(self.config.name, request.model, request, stream)
        key = str(next(self.fake._ids))
        self.fake.calls.append(call)
        self._pending[key] = (self.fake._next(call), call)
        return HttpRequest("POST", f"/fake/{key}", json={"stream": stream},
                           stream="sse" if stream else None)

    def _serve(self, request: httpx.Request) -> httpx.Response:
        key = request.url.path.rsplit("/", 1)[-1]
        queued, call = self._pending[key]
        # A retry of the same call is answered by the next queued reply, as a provider would.
        item = queued if queued is not None else self.fake._next(call)
        self._pending[key] = (None, call)
        chat = call.request
        if item.error is not None:
            self.fake._errors[int(key)] = item.error
            return httpx.Response(599, json={"error": key})
        usage = _usage_for(item, chat)
        model = item.model or chat.model
        calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in item.tool_calls]
        final = {"model": model, "finish": str(item.finish_reason or FinishReason.STOP),
                 "usage": [usage.input_tokens, usage.output_tokens, usage.cached_input_tokens,
                           usage.reasoning_tokens], "tool_calls": calls}
        if not json.loads(request.content)["stream"]:
            return httpx.Response(200, json={**final, "text": item.text},
                                  headers={"x-request-id": f"fake-{key}"})
        pieces = list(item.chunks) if item.chunks is not None else [
            (" " if i else "") + w for i, w in enumerate(item.text.split(" "))] if item.text else []
        events = [{"delta": p} for p in pieces] + [{"final": final}]
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
        return httpx.Response(200, content=body.encode(),
                              headers={"x-request-id": f"fake-{key}"})

    def parse_chat(self, response: HttpResponse, request: ChatRequest) -> Response:
        data = response.json(provider=self.provider)
        input_tokens, output_tokens, cached, reasoning = data["usage"]
        return Response(
            content=data["text"], model=data["model"], provider=self.provider,
            finish_reason=FinishReason(data["finish"]),
            usage=TokenUsage(input_tokens, output_tokens, cached, reasoning),
            tool_calls=tuple(ToolCall(c["id"], c["name"], c["arguments"])
                             for c in data["tool_calls"]),
            request_id=response.headers.get("x-request-id"), raw=data,
        )

    def stream_decoder(self, request: ChatRequest) -> StreamDecoder:
        return _FakeDecoder()

    def parse_error(self, response: HttpResponse) -> ProviderError:
        error = self.fake._errors.pop(int(json.loads(response.content)["error"]))
        if not isinstance(error, ProviderError):
            raise error
        return error


class _FakeDecoder(StreamDecoder):
    def feed(self, event: StreamEvent) -> Iterable[StreamChunk]:
        data = json.loads(event.data)
        if "delta" in data:
            return (StreamChunk(delta=data["delta"]),)
        final = data["final"]
        input_tokens, output_tokens, cached, reasoning = final["usage"]
        deltas = tuple(ToolCallDelta(i, c["id"], c["name"], c["arguments"])
                       for i, c in enumerate(final["tool_calls"]))
        return (StreamChunk(tool_calls=deltas, finish_reason=FinishReason(final["finish"]),
                            usage=TokenUsage(input_tokens, output_tokens, cached, reasoning),
                            model=final["model"]),)
