"""The wrapper hook (``wrap_call``): changing a request, answering without calling, replacing
a reply or an error, calling another provider (Via), streams, order, and the direct path
with no wrapper. Real drivers against the fake provider server over loopback, the usage
ledger in a SQLite file; each test runs send, asend, stream and astream where they differ."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from call_forms import MODES, call
from wrap_helpers import KEY, chat_requests, raises, two_providers

import jtd_ai
from jtd_ai import (
    AIError,
    CallInfo,
    ChatRequest,
    FinishReason,
    Message,
    PluginError,
    ProviderUnavailableError,
    Response,
    StreamChunk,
    StreamInterruptedError,
    TokenUsage,
    ValidationError,
    Via,
    hookimpl,
)
from jtd_ai.testing import FakeProviderServer, Fault

Wrapper = Generator[Any, Response, Response]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(api_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(server: FakeProviderServer) -> Iterator[None]:
    server.clear_faults()
    server.requests.clear()
    yield
    server.clear_faults()


class Suffix:
    """Appends a word to the last message, and keeps what came back."""

    def __init__(self, word: str = " plus") -> None:
        self.word = word
        self.replies: list[Response] = []

    @hookimpl
    def wrap_call(self, call: CallInfo) -> Wrapper:
        def wrapper() -> Wrapper:
            request = call.request
            assert request is not None
            *before, last = request.messages
            changed = attrs.evolve(request, messages=(*before, Message.user(last.text + self.word)))
            response = yield changed
            self.replies.append(response)
            return response
        return wrapper()


class Answer:
    """Answers every call itself, without calling (what a reply cache does on a hit)."""

    reply = Response(content="kept reply", model="gpt-4o-mini", provider="primary",
                     finish_reason=FinishReason.STOP, usage=TokenUsage(4, 2),
                     cost=Decimal("0.5"))

    @hookimpl
    def wrap_call(self, call: CallInfo) -> Wrapper:
        def wrapper() -> Wrapper:
            return self.reply
            yield  # a generator that never calls through
        return wrapper()


class Chunks:
    """Keeps every chunk ``on_chunk`` is told of."""

    def __init__(self) -> None:
        self.seen: list[StreamChunk] = []

    @hookimpl
    def on_chunk(self, call: CallInfo, chunk: StreamChunk) -> None:
        self.seen.append(chunk)


@pytest.mark.parametrize("mode", MODES)
def test_a_wrapper_changes_the_request_and_sees_the_reply(
        server: FakeProviderServer, tmp_path: Path, mode: str) -> None:
    """What the wrapper yields is what the provider gets; the reply it is sent is the caller's."""
    manager = two_providers(server, tmp_path)
    wrapper = Suffix()
    manager.hooks.register(wrapper)
    deltas: list[str] = []
    response = call(manager, mode, "hello there", deltas=deltas)
    assert response.content == "echo: hello there plus"  # the fake server echoes the prompt
    assert wrapper.replies == [response]
    assert not response.cached
    if mode in ("stream", "astream"):
        assert "".join(deltas) == response.content
    (row,) = manager.usage.records()
    assert (row.provider, row.status, row.attempts) == ("primary", "ok", 1)
    manager.close()


@pytest.mark.parametrize("mode", MODES)
def test_an_answer_without_calling_is_cached_free_and_in_the_ledger(
        server: FakeProviderServer, tmp_path: Path, mode: str) -> None:
    """A Response returned without yielding: nothing is sent, the reply is marked cached at
    no cost, the hooks still see it (attempts 0), and a stream replays it as chunks."""
    manager = two_providers(server, tmp_path)
    manager.hooks.register(Answer())
    observer = Chunks()
    manager.hooks.register(observer)
    deltas: list[str] = []
    response = call(manager, mode, deltas=deltas)
    assert chat_requests(server) == []
    assert (response.content, response.cached, response.cost) == ("kept reply", True, Decimal(0))
    assert response.usage == TokenUsage(4, 2)
    (row,) = manager.usage.records()
    assert (row.status, row.attempts, row.cost, row.input_tokens) == ("ok", 0, Decimal(0), 4)
    if mode in ("stream", "astream"):
        assert deltas == ["kept reply", ""]
        text, final = observer.seen
        assert (text.delta, final.finish_reason, final.usage) == (
            "kept reply", FinishReason.STOP, TokenUsage(4, 2))
    else:
        assert observer.seen == []
    manager.close()


def test_a_replayed_stream_carries_tool_calls_and_reasoning(
        server: FakeProviderServer, tmp_path: Path) -> None:
    manager = two_providers(server, tmp_path)
    reply = Response(content="", model="m", provider="primary", reasoning="thinking",
                     finish_reason=FinishReason.TOOL_CALLS,
                     tool_calls=(jtd_ai.ToolCall("c1", "lookup", '{"q": 1}'),))

    class Tools:
        @hookimpl
        def wrap_call(self, call: CallInfo) -> Wrapper:
            def wrapper() -> Wrapper:
                return reply
                yield
            return wrapper()

    manager.hooks.register(Tools())
    with manager.driver().stream("x") as stream:
        chunks = list(stream)
    assert [c.reasoning for c in chunks] == ["thinking", "", ""]
    assert chunks[1].tool_calls[0].arguments == '{"q": 1}'
    assert stream.response is not None
    assert stream.response.tool_calls == reply.tool_calls
    manager.close()


@pytest.mark.parametrize("mode", MODES)
def test_an_error_is_thrown_in_and_can_be_replaced(
        server: FakeProviderServer, tmp_path: Path, mode: str) -> None:
    """The AIError the call ended with is thrown into the wrapper; its replacement is what the
    caller gets (a stream with no chunk delivered replays it). The failed attempt keeps its
    ledger row."""
    manager = two_providers(server, tmp_path)
    seen: list[AIError] = []

    class Replace:
        @hookimpl
        def wrap_call(self, call: CallInfo) -> Wrapper:
            def wrapper() -> Wrapper:
                try:
                    return (yield call.request)
                except ProviderUnavailableError as error:
                    seen.append(error)
                    return Response(content="stand-in", model="none", provider=call.provider)
            return wrapper()

    manager.hooks.register(Replace())
    server.inject(Fault(status=503))
    deltas: list[str] = []
    response = call(manager, mode, deltas=deltas)
    assert response.content == "stand-in"
    assert not response.cached  # the provider was called
    assert [type(e) for e in seen] == [ProviderUnavailableError]
    if mode in ("stream", "astream"):
        assert deltas == ["stand-in", ""]
    (row,) = manager.usage.records()
    assert (row.status, row.error) == ("error", "ProviderUnavailableError")
    manager.close()


def test_tryfirst_is_outermost_and_trylast_innermost(
        server: FakeProviderServer, tmp_path: Path) -> None:
    manager = two_providers(server, tmp_path)
    events: list[str] = []

    def tracing(name: str) -> Any:
        def wrap(self: Any, call: CallInfo) -> Wrapper:
            def wrapper() -> Wrapper:
                events.append(f"{name} in")
                response = yield call.request
                events.append(f"{name} out")
                return response
            return wrapper()
        return wrap

    class Plain:
        wrap_call = hookimpl(tracing("plain"))

    class First:
        wrap_call = hookimpl(tryfirst=True)(tracing("first"))

    class Last:
        wrap_call = hookimpl(trylast=True)(tracing("last"))

    for plugin in (Last(), Plain(), First()):
        manager.hooks.register(plugin)
    manager.driver().send_message("order")
    assert events == ["first in", "plain in", "last in", "last out", "plain out", "first out"]
    manager.close()


@pytest.mark.parametrize("mode", MODES)
def test_via_calls_another_provider_with_its_own_call(
        server: FakeProviderServer, tmp_path: Path, mode: str) -> None:
    """Via("second"): the other provider's full call (its default model, its ledger row)."""
    manager = two_providers(server, tmp_path)
    calls: list[CallInfo] = []

    class Elsewhere:
        @hookimpl
        def wrap_call(self, call: CallInfo) -> Wrapper | None:
            calls.append(call)
            if call.provider != "primary":
                return None

            def wrapper() -> Wrapper:
                return (yield Via("second"))
            return wrapper()

    class Sent:
        def __init__(self) -> None:
            self.calls: list[CallInfo] = []

        @hookimpl
        def before_request(self, call: CallInfo) -> None:
            self.calls.append(call)

    sent = Sent()
    manager.hooks.register(Elsewhere())
    manager.hooks.register(sent)
    deltas: list[str] = []
    response = call(manager, mode, "route me", deltas=deltas, tags={"team": "search"})
    assert (response.provider, response.model, response.content) == (
        "second", "gemini-2.5-flash", "echo: route me")
    assert all(":" in path for path in chat_requests(server))  # Gemini's paths only
    # The call made through Via does not run the plugin that issued it.
    assert [c.provider for c in calls] == ["primary"]
    (made,) = sent.calls
    assert (made.provider, made.model, dict(made.tags)) == (
        "second", "gemini-2.5-flash", {"team": "search"})
    if mode in ("stream", "astream"):
        assert "".join(deltas) == "echo: route me"
    (row,) = manager.usage.records()
    assert (row.provider, row.model, row.status) == ("second", "gemini-2.5-flash", "ok")
    manager.close()


def test_via_never_re_enters_the_plugin_that_issued_it(
        server: FakeProviderServer, tmp_path: Path) -> None:
    """A plugin that always sends a call to the other provider ends after one hop: the
    call it made runs every wrapper but its own."""
    manager = two_providers(server, tmp_path)
    hops: list[str] = []

    class PingPong:
        @hookimpl
        def wrap_call(self, call: CallInfo) -> Wrapper:
            other = "second" if call.provider == "primary" else "primary"
            hops.append(call.provider)

            def wrapper() -> Wrapper:
                return (yield Via(other))
            return wrapper()

    manager.hooks.register(PingPong())
    watcher = Suffix(" seen")
    manager.hooks.register(watcher)
    response = manager.driver("primary").send_message("bounce")
    assert hops == ["primary"]
    assert response.provider == "second"
    # The other plugin wrapped both calls: the first, and the one made through Via.
    assert response.content == "echo: bounce seen seen"
    manager.close()


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_stream_is_not_redirected_once_a_chunk_reached_the_caller(
        server: FakeProviderServer, tmp_path: Path, mode: str) -> None:
    """A stream cut after its first chunks: the wrapper sees the error, but its Via is
    refused and the caller gets the error, with what had arrived."""
    manager = two_providers(server, tmp_path)
    seen: list[AIError] = []

    class Redirect:
        @hookimpl
        def wrap_call(self, call: CallInfo) -> Wrapper | None:
            if call.provider != "primary":
                return None

            def wrapper() -> Wrapper:
                try:
                    return (yield call.request)
                except AIError as error:
                    seen.append(error)
                    return (yield Via("second"))
            return wrapper()

    manager.hooks.register(Redirect())
    server.inject(Fault(reset_after=3))
    deltas: list[str] = []
    error = raises(lambda: call(manager, mode, "one two three four", deltas=deltas),
                   StreamInterruptedError)
    assert isinstance(error, StreamInterruptedError)
    assert [type(e) for e in seen] == [StreamInterruptedError]
    assert deltas and "".join(deltas) == error.partial.content  # type: ignore[union-attr]
    assert all(":" not in path for path in chat_requests(server))  # never sent to Gemini
    manager.close()


@pytest.mark.parametrize("mode", MODES)
def test_with_no_wrapper_the_call_never_enters_the_machinery(
        server: FakeProviderServer, tmp_path: Path, mode: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from jtd_ai import middleware

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the wrapper machinery ran with no wrapper registered")

    monkeypatch.setattr(middleware, "run", refuse)
    monkeypatch.setattr(middleware, "arun", refuse)
    manager = two_providers(server, tmp_path)
    assert not manager.driver()._wrapped(stream=True)
    assert call(manager, mode, "direct").content == "echo: direct"
    manager.close()


def test_call_info_carries_conversation_tags_and_fallbacks(
        server: FakeProviderServer, tmp_path: Path) -> None:
    manager = two_providers(server, tmp_path)
    calls: list[CallInfo] = []

    class Keep:
        @hookimpl
        def before_request(self, call: CallInfo) -> None:
            calls.append(call)

    manager.hooks.register(Keep())
    conversation = manager.conversation().message("hi").fallbacks("second")
    conversation.send()
    manager.driver().send_message("plain", tags={"user": "u1"})
    first, second = calls
    assert (first.conversation_id, first.fallbacks) == (conversation.id, ("second",))
    assert (second.conversation_id, dict(second.tags), second.fallbacks) == (
        None, {"user": "u1"}, ())
    manager.close()


def test_bad_tags_are_refused_before_sending(server: FakeProviderServer,
                                             tmp_path: Path) -> None:
    manager = two_providers(server, tmp_path)
    with pytest.raises(ValidationError, match="tags"):
        manager.driver().send_message("x", tags=["not", "a", "mapping"])
    assert chat_requests(server) == []
    manager.close()


@pytest.mark.parametrize("wrong", ["yield text", "return text", "pluggy wrapper", "no generator"])
def test_a_wrapper_breaking_the_protocol_is_a_plugin_error(
        server: FakeProviderServer, tmp_path: Path, wrong: str) -> None:
    manager = two_providers(server, tmp_path)

    class Broken:
        if wrong == "pluggy wrapper":
            @hookimpl(wrapper=True)
            def wrap_call(self, call: CallInfo) -> Any:
                return (yield)
        else:
            @hookimpl
            def wrap_call(self, call: CallInfo) -> Any:
                if wrong == "no generator":
                    return call.request

                def wrapper() -> Any:
                    if wrong == "yield text":
                        yield "not a request"
                    return "not a response"
                    yield
                return wrapper()

    manager.hooks.register(Broken(), name="broken-wrapper")
    with pytest.raises(PluginError, match="broken-wrapper"):
        manager.driver().send_message("x")
    manager.close()


def test_a_changed_request_is_what_inner_wrappers_see(
        server: FakeProviderServer, tmp_path: Path) -> None:
    manager = two_providers(server, tmp_path)
    seen: list[ChatRequest] = []

    class Inner:
        @hookimpl(trylast=True)
        def wrap_call(self, call: CallInfo) -> Wrapper:
            def wrapper() -> Wrapper:
                assert call.request is not None
                seen.append(call.request)
                return (yield call.request)
            return wrapper()

    manager.hooks.register(Inner())
    manager.hooks.register(Suffix(" outer"))
    manager.driver().send_message("ask")
    assert seen[0].messages[-1].text == "ask outer"
    manager.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_wrapper_may_call_through_again(server: FakeProviderServer, tmp_path: Path,
                                          mode: str) -> None:
    """A retrying wrapper: each call through is its own provider call (its own ledger row
    and attempt count), and each gets fresh inner wrappers."""
    manager = two_providers(server, tmp_path)

    class Again:
        @hookimpl(tryfirst=True)
        def wrap_call(self, call: CallInfo) -> Wrapper:
            def wrapper() -> Wrapper:
                try:
                    return (yield call.request)
                except ProviderUnavailableError:
                    return (yield call.request)
            return wrapper()

    inner = Suffix(" inner")
    manager.hooks.register(Again())
    manager.hooks.register(inner)
    server.inject(Fault(status=503))
    deltas: list[str] = []
    response = call(manager, mode, "twice", deltas=deltas)
    assert response.content == "echo: twice inner"
    assert len(chat_requests(server)) == 2
    assert [(r.status, r.attempts) for r in reversed(manager.usage.records())] == [
        ("error", 1), ("ok", 1)]
    manager.close()


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_on_chunk_alone_sees_every_chunk(server: FakeProviderServer, tmp_path: Path,
                                         mode: str) -> None:
    manager = two_providers(server, tmp_path)
    observer = Chunks()
    manager.hooks.register(observer)
    deltas: list[str] = []
    response = call(manager, mode, "watch these words", deltas=deltas)
    assert [c.delta for c in observer.seen] == deltas
    assert "".join(deltas) == response.content == "echo: watch these words"
    manager.close()


def test_closing_a_wrapped_stream_early_closes_the_wrappers_and_keeps_the_row(
        server: FakeProviderServer, tmp_path: Path) -> None:
    manager = two_providers(server, tmp_path)
    closed: list[bool] = []

    class Watch:
        @hookimpl
        def wrap_call(self, call: CallInfo) -> Wrapper:
            def wrapper() -> Wrapper:
                try:
                    return (yield call.request)
                except GeneratorExit:
                    closed.append(True)
                    raise
            return wrapper()

    manager.hooks.register(Watch())
    with manager.driver().stream("one two three four five") as stream:
        next(iter(stream))
        next(iter(stream))
    assert closed == [True]
    (row,) = manager.usage.records()
    assert row.status == "cancelled"
    manager.close()
