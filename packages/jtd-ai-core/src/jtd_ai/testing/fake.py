"""``AI.fake()``: replace every provider with scripted replies, then assert on what was sent.

    with AI.fake() as fake:
        fake.respond("Hello!").respond_tool_call("lookup", {"q": "x"}).fail(RateLimitError("slow"))
        fake.respond_stream(["The ", "answer ", "is"], interrupt_after=2)  # breaks half-way
        fake.respond_with(lambda call: f"you said {call.prompt}", times=None)  # from the request
        fake.respond_via_tool("weather", {"city": "Paris"})  # call a tool, answer its result
        app.run()                               # code that uses AI.conversation(...) etc.
    fake.assert_sent("Hi", provider="openai", system="Be brief")
    assert fake.call_count == 3

Fake replies travel through the real core (request validation, conversation history, stream
assembly, hooks, cost), so what an application sees is what a provider would give it; only
the network is replaced. No API key or driver package is needed. Retries are off unless
``AI.fake(retries=True)``, so a queued error reaches the application as it is; with retries on,
each retry attempt is answered by the next queued reply (``calls`` still records the
application's call once).

Replies are used in the order they were scripted. A reply function (``respond_with``) gets the
:class:`FakeCall` (messages, system prompt, tools, options) and returns the reply: text, a
:class:`FakeReply` (tool calls, a broken stream, usage...), a ``Response``, or an error to
raise; it is the fake's counterpart of pydantic-ai's ``FunctionModel``. In strict mode
(``FakeAI(strict=True)``; :meth:`FakeAI.assert_all_used` at any time) scripted replies that no
call used fail the test.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import httpx
from attrs import define, field

from jtd_ai.errors import AIError, ProviderError
from jtd_ai.messages import Message, Tool, ToolCall
from jtd_ai.protocol import ChatProtocol, StreamDecoder, StreamEvent
from jtd_ai.responses import FinishReason, Response, StreamChunk, TokenUsage, ToolCallDelta
from jtd_ai.testing.transports import BrokenStream
from jtd_ai.wire import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from jtd_ai.config import ProviderConfig
    from jtd_ai.modelinfo import Capabilities
    from jtd_ai.request import ChatRequest

__all__ = ["FakeAI", "FakeCall", "FakeReply", "ReplyFunction", "ReplyValue"]

_call_ids = itertools.count()


@define
class FakeCall:
    """One call the application made while faked."""

    provider: str
    model: str
    request: ChatRequest
    stream: bool

    @property
    def messages(self) -> tuple[Message, ...]:
        """Every message of the request, the system prompt included."""
        return self.request.messages

    @property
    def prompt(self) -> str:
        """The text of the last user message."""
        users = [m for m in self.request.messages if m.role == "user"]
        return users[-1].text if users else ""

    @property
    def system(self) -> str | None:
        """The system prompt (system messages joined by a blank line), or None."""
        texts = [m.text for m in self.request.messages if m.role == "system"]
        return "\n\n".join(texts) if texts else None

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The tools offered to the model."""
        return self.request.tools

    @property
    def tool_results(self) -> tuple[Message, ...]:
        """The tool results this call sends: the tool messages after the last assistant
        turn (each with ``tool_call_id``, ``name`` and ``text``); empty when there are none."""
        results: list[Message] = []
        for message in reversed(self.request.messages):
            if message.role != "tool":
                break
            results.append(message)
        return tuple(reversed(results))


def _chunks(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _tool_calls(value: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(value)


@define
class FakeReply:
    """One scripted reply: text (streamed word by word, or as ``chunks``), tool calls, usage,
    or an ``error`` to raise. ``interrupt_after=N``: a streamed call gets the first N chunks,
    then the connection breaks and the application gets ``StreamInterruptedError`` whose
    ``partial`` holds those N chunks; a call that does not stream gets the error of a
    connection broken mid-reply (``ProviderUnavailableError``)."""

    text: str = ""
    chunks: tuple[str, ...] | None = field(default=None, converter=_chunks)
    tool_calls: tuple[ToolCall, ...] = field(default=(), converter=_tool_calls)
    usage: TokenUsage | None = None
    model: str | None = None
    finish_reason: FinishReason | None = None
    error: AIError | None = None
    interrupt_after: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.chunks is not None and not self.text:
            self.text = "".join(self.chunks)
        if self.interrupt_after is not None and (
                not isinstance(self.interrupt_after, int) or self.interrupt_after < 0):
            raise ValueError(f"interrupt_after must be a number of chunks (0 or more), not "
                             f"{self.interrupt_after!r}")

    @classmethod
    def tool_call(cls, name: str, arguments: Mapping[str, Any] | None = None, *,
                  call_id: str | None = None, text: str = "") -> FakeReply:
        """A reply that asks for one tool call (``finish_reason`` ``tool_calls``)."""
        call = ToolCall(call_id or f"call_fake_{next(_call_ids)}", name,
                        json.dumps(dict(arguments or {})))
        return cls(text=text, tool_calls=(call,), finish_reason=FinishReason.TOOL_CALLS)

    @classmethod
    def tool_calls_of(cls, calls: Iterable[tuple[str, Mapping[str, Any]] | ToolCall], *,
                      text: str = "") -> FakeReply:
        """A reply that asks for several tool calls at once (parallel calls): each a
        ``(name, arguments)`` pair or a ToolCall."""
        made = tuple(c if isinstance(c, ToolCall) else ToolCall(
            f"call_fake_{next(_call_ids)}", c[0], json.dumps(dict(c[1]))) for c in calls)
        if not made:
            raise ValueError("tool_calls_of needs at least one call")
        return cls(text=text, tool_calls=made, finish_reason=FinishReason.TOOL_CALLS)

    @classmethod
    def from_response(cls, response: Response) -> FakeReply:
        return cls(text=response.content, tool_calls=response.tool_calls, usage=response.usage,
                   model=response.model, finish_reason=response.finish_reason)

    def describe(self) -> str:
        if self.error is not None:
            return f"error {type(self.error).__name__}({self.error.message!r})"
        if self.tool_calls:
            return "tool call(s) " + ", ".join(c.name for c in self.tool_calls)
        return f"reply {self.text!r}"


#: What a reply function may return: text, a scripted reply, a Response, or an error to raise.
ReplyValue: TypeAlias = str | FakeReply | Response | AIError
#: A reply computed from the call (``fake.respond_with(function)``).
ReplyFunction: TypeAlias = Callable[[FakeCall], ReplyValue]


@define
class _Scripted:
    """A reply function in the queue: it answers ``times`` calls (None: every later call)."""

    function: ReplyFunction
    times: int | None
    used: int = 0

    @property
    def unused(self) -> int:
        if self.times is None:
            return 0 if self.used else 1
        return self.times - self.used

    def describe(self) -> str:
        name = getattr(self.function, "__qualname__", repr(self.function))
        return f"respond_with({name}) x{self.unused}"


def _as_reply(value: Any, call: FakeCall) -> FakeReply:
    if isinstance(value, FakeReply):
        return value
    if isinstance(value, str):
        return FakeReply(text=value, finish_reason=FinishReason.STOP)
    if isinstance(value, AIError):
        return FakeReply(error=value)
    if isinstance(value, Response):
        return FakeReply.from_response(value)
    raise TypeError(f"AI.fake(): the reply function for {_describe(call)} returned "
                    f"{type(value).__name__}; return a str, a FakeReply (e.g. "
                    f"FakeReply.tool_call(name, args)), a Response or an AIError")


def _describe(call: FakeCall) -> str:
    return f"the call to {call.provider}/{call.model} (prompt {call.prompt!r})"


@define
class FakeAI:
    """The scripted replies and the record of calls of one ``AI.fake()`` block."""

    default: str | None = None
    retries: bool = False
    #: Fail (:meth:`finish`, :meth:`assert_all_used`) when scripted replies were not used.
    strict: bool = False
    calls: list[FakeCall] = field(factory=list)
    _queue: list[FakeReply | _Scripted] = field(factory=list)
    _errors: dict[int, AIError] = field(factory=dict)
    _ids: Any = field(factory=itertools.count)

    # -- scripting ------------------------------------------------------------------------

    def _add(self, entry: FakeReply | _Scripted) -> FakeAI:
        forever = next((e for e in self._queue if isinstance(e, _Scripted) and e.times is None),
                       None)
        if forever is not None:
            raise ValueError(f"AI.fake(): {forever.describe()} answers every call from its "
                             f"turn on (times=None), so nothing queued after it would be used")
        self._queue.append(entry)
        return self

    def reply(self, reply: FakeReply) -> FakeAI:
        """Queue a :class:`FakeReply` as it is."""
        return self._add(reply)

    def respond(self, text: str, *, usage: TokenUsage | None = None, model: str | None = None,
                finish_reason: FinishReason = FinishReason.STOP,
                interrupt_after: int | None = None) -> FakeAI:
        """Queue a text reply (streamed word by word when the call streams);
        ``interrupt_after=N`` breaks the stream after N words (see :class:`FakeReply`)."""
        return self._add(FakeReply(text=text, usage=usage, model=model,
                                   finish_reason=finish_reason,
                                   interrupt_after=interrupt_after))

    def respond_stream(self, chunks: Sequence[str], *, usage: TokenUsage | None = None,
                       model: str | None = None, interrupt_after: int | None = None) -> FakeAI:
        """Queue a reply given as its stream deltas (joined for a non-streamed call);
        ``interrupt_after=N`` breaks the stream after N of them: the application gets
        ``StreamInterruptedError`` with those N in ``.partial``."""
        return self._add(FakeReply(text="".join(chunks), chunks=tuple(chunks), usage=usage,
                                   model=model, finish_reason=FinishReason.STOP,
                                   interrupt_after=interrupt_after))

    def respond_tool_call(self, name: str, arguments: Mapping[str, Any] | None = None, *,
                          call_id: str | None = None, text: str = "") -> FakeAI:
        """Queue a reply that asks for one tool call."""
        return self._add(FakeReply.tool_call(name, arguments, call_id=call_id, text=text))

    def respond_tool_calls(self, *calls: tuple[str, Mapping[str, Any]] | ToolCall,
                           text: str = "") -> FakeAI:
        """Queue a reply that asks for several tool calls at once: ``(name, arguments)``
        pairs (or ToolCalls)."""
        return self._add(FakeReply.tool_calls_of(calls, text=text))

    def respond_via_tool(self, name: str, arguments: Mapping[str, Any] | None = None, *,
                         answer: Callable[[str], ReplyValue] | str | None = None) -> FakeAI:
        """Queue one tool round: a reply that calls tool ``name`` with ``arguments``, then
        a reply to the call that sends its result, made from that result: ``answer(text)``,
        a fixed ``answer`` text, or (by default) the result's text itself. The second call
        fails the test (AssertionError) unless it carries the result of that tool call, so
        this checks the application ran the tool and sent the result back."""
        call = FakeReply.tool_call(name, arguments)
        call_id = call.tool_calls[0].id

        def reply(fake_call: FakeCall) -> ReplyValue:
            found = [m for m in fake_call.tool_results if m.tool_call_id == call_id]
            if not found:
                sent = [(m.name, m.tool_call_id) for m in fake_call.tool_results]
                raise AssertionError(
                    f"AI.fake(): {_describe(fake_call)} should send the result of the "
                    f"{name!r} call {call_id}; it sends tool results {sent or 'none'}")
            result = found[-1].text
            if answer is None:
                return result
            if isinstance(answer, str):
                return answer
            return answer(result)

        reply.__qualname__ = f"respond_via_tool({name!r}) answer"
        self._add(call)
        return self._add(_Scripted(reply, 1))

    def respond_with(self, function: ReplyFunction, *, times: int | None = 1) -> FakeAI:
        """Queue a reply computed from the call: ``function(call)`` gets the
        :class:`FakeCall` (``messages``, ``system``, ``tools``, ``request``) and returns text,
        a :class:`FakeReply` (``FakeReply.tool_call(name, args)`` for a tool call), a
        ``Response`` or an ``AIError`` to raise. It answers ``times`` calls; ``times=None``:
        every call from its turn on."""
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError(f"times must be a positive number of calls or None, not {times!r}")
        return self._add(_Scripted(function, times))

    def fail(self, error: AIError) -> FakeAI:
        """Queue an error to be raised by the next call."""
        return self._add(FakeReply(error=error))

    def extend(self, replies: Iterable[str | AIError | Response | FakeReply]) -> FakeAI:
        for reply in replies:
            if isinstance(reply, AIError):
                self.fail(reply)
            elif isinstance(reply, Response):
                self._add(FakeReply.from_response(reply))
            elif isinstance(reply, FakeReply):
                self._add(reply)
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
        """Scripted replies not used yet (a reply function counts once per unused time; one
        with ``times=None`` counts until its first call)."""
        return sum(e.unused if isinstance(e, _Scripted) else 1 for e in self._queue)

    def unused(self) -> list[str]:
        """What is left of the script, described (empty when everything was used)."""
        return [e.describe() for e in self._queue if not isinstance(e, _Scripted) or e.unused]

    def assert_all_used(self) -> None:
        """AssertionError naming the scripted replies that no call used."""
        left = self.unused()
        if left:
            raise AssertionError(
                f"AI.fake(): {len(left)} scripted repl{'y was' if len(left) == 1 else 'ies were'}"
                f" not used (after {self.call_count} call(s)): {'; '.join(left)}")

    def finish(self) -> None:
        """The end of the fake block: in strict mode, :meth:`assert_all_used`."""
        if self.strict:
            self.assert_all_used()

    def assert_sent(self, text: str | None = None, *, provider: str | None = None,
                    model: str | None = None, system: str | None = None,
                    **options: Any) -> FakeCall:
        """The first call matching all given facts (``text`` and ``system`` are found in the
        last user message and the system prompt); AssertionError listing the calls if none."""
        for call in self.calls:
            if text is not None and text not in call.prompt:
                continue
            if provider is not None and call.provider != provider:
                continue
            if model is not None and call.model != model:
                continue
            if system is not None and (call.system is None or system not in call.system):
                continue
            if any(getattr(call.request, k) != v for k, v in options.items()):
                continue
            return call
        wanted = {k: v for k, v in {"text": text, "provider": provider, "model": model,
                                    "system": system, **options}.items() if v is not None}
        seen = [(c.provider, c.model, c.prompt, *((c.system,) if system is not None else ()))
                for c in self.calls]
        raise AssertionError(f"no call matched {wanted}; calls were {seen}")

    def assert_nothing_sent(self) -> None:
        assert not self.calls, f"expected no calls, got {len(self.calls)}: {self.prompts}"

    # -- serving --------------------------------------------------------------------------

    def _next(self, call: FakeCall) -> FakeReply:
        if self._queue:
            head = self._queue[0]
            if isinstance(head, FakeReply):
                del self._queue[0]
                return head
            head.used += 1
            if head.times is not None and head.used >= head.times:
                self._queue.pop(0)
            return _as_reply(head.function(call), call)
        if self.default is not None:
            return FakeReply(text=self.default, finish_reason=FinishReason.STOP)
        raise AssertionError(
            f"AI.fake(): no reply queued for call #{len(self.calls)} (provider "
            f"{call.provider!r}, model {call.model!r}, prompt {call.prompt!r}); queue one with "
            f"fake.respond(...)"
        )

    def protocol(self, config: ProviderConfig) -> ChatProtocol:
        return _FakeProtocol(config, self)


def _usage_for(item: FakeReply, request: ChatRequest) -> TokenUsage:
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
        self._pending: dict[str, tuple[FakeReply | None, FakeCall]] = {}
        #: The last stream request built and not yet sent: the core may build a stream's
        #: request twice (to check it early, then to send it), which is one call.
        self._unsent_stream: tuple[ChatRequest, HttpRequest] | None = None

    def default_transport(self) -> httpx.BaseTransport:
        return httpx.MockTransport(self._serve)

    def capabilities(self, model: str | None = None) -> Capabilities:
        from jtd_ai.modelinfo import Capabilities

        return Capabilities(streaming=True, tools=True, vision=True, json_mode=True,
                            structured_output=True, system_prompt=True)

    def chat_request(self, request: ChatRequest, *, stream: bool) -> HttpRequest:
        unsent = self._unsent_stream
        if stream and unsent is not None and unsent[0] is request:
            return unsent[1]  # the same stream call, built again: no second reply taken
        call = FakeCall(self.config.name, request.model, request, stream)
        key = str(next(self.fake._ids))
        self.fake.calls.append(call)
        self._pending[key] = (self.fake._next(call), call)
        built = HttpRequest("POST", f"/fake/{key}", json={"stream": stream},
                            stream="sse" if stream else None)
        self._unsent_stream = (request, built) if stream else None
        return built

    def _serve(self, request: httpx.Request) -> httpx.Response:
        key = request.url.path.rsplit("/", 1)[-1]
        self._unsent_stream = None
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
        headers = {"x-request-id": f"fake-{key}"}
        cut = item.interrupt_after
        if not json.loads(request.content)["stream"]:
            body = json.dumps({**final, "text": item.text}).encode()
            if cut is not None:  # the connection breaks half-way through the reply
                return httpx.Response(200, headers={**headers, "content-type": "application/json"},
                                      stream=BrokenStream(body[:len(body) // 2]))
            return httpx.Response(200, content=body, headers={**headers,
                                                               "content-type": "application/json"})
        pieces = list(item.chunks) if item.chunks is not None else [
            (" " if i else "") + w for i, w in enumerate(item.text.split(" "))] if item.text else []
        events: list[dict[str, Any]] = [{"delta": p} for p in pieces]
        if cut is None:
            events.append({"final": final})
        else:
            events = events[:cut]
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode()
        if cut is not None:  # the connection breaks after ``cut`` chunks
            return httpx.Response(200, headers=headers, stream=BrokenStream(body))
        return httpx.Response(200, content=body, headers=headers)

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
