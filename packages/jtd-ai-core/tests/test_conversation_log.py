"""The conversation log end to end ([plugins.log] on a manager talking to the fake provider
server over real HTTP, the store a SQLite file): every turn of a Conversation (send, async
send, stream, async stream) is logged in its conversation with its prompt, reply, tool calls,
model, tokens and cost; bare driver calls and batch items get conversations of their own;
failures are logged with what had arrived; cache hits and fallbacks are logged as they
happened."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import needs
from ledger_helpers import provider
from ledger_server import no_faults_fixture, server_fixture  # noqa: F401  (the fixtures)

from jtd_ai import AIManager, ProviderError, StreamInterruptedError
from jtd_ai.convlog import ConversationLog
from jtd_ai.messages import Tool
from jtd_ai.testing import FakeProviderServer, Fault

pytestmark = needs("openai")


@pytest.fixture
def logged(server: FakeProviderServer, tmp_path: Path) -> Iterator[Any]:
    """``logged(plugins=..., **providers)``: a manager with the conversation log on (and
    whatever else ``plugins`` adds), its store in ``tmp_path``."""
    made: list[AIManager] = []

    def make(*, plugins: dict[str, Any] | None = None,
             providers: dict[str, dict[str, Any]] | None = None) -> AIManager:
        ai = AIManager(providers=providers or {"openai": provider(server)}, default="openai",
                       config_file=False, env={},
                       store={"path": str(tmp_path / "jtd-ai.db"), "background_writes": False},
                       plugins={"log": {}, **(plugins or {})})
        made.append(ai)
        return ai

    yield make
    for ai in made:
        ai.close()


def log_of(ai: AIManager) -> ConversationLog:
    return ConversationLog.of(ai)


def test_each_send_of_a_conversation_is_a_turn_of_it(logged) -> None:
    ai = logged()
    chat = ai.conversation().system("Answer briefly.").temperature(0.3)
    first = chat.message("Name a river").send()
    second = chat.message("Another one").send()
    log = log_of(ai)
    [summary] = log.conversations()
    assert summary.id == chat.id and summary.turns == 2
    assert summary.cost == first.cost + second.cost  # type: ignore[operator]
    turns = log.turns(chat.id)
    assert [t.prompt for t in turns] == ["Name a river", "Another one"]
    assert [t.reply for t in turns] == [first.content, second.content]
    turn = turns[1]
    assert (turn.provider, turn.model, turn.requested_model, turn.operation) == (
        "openai", second.model, "gpt-4o-mini", "chat")
    assert second.usage is not None
    assert (turn.input_tokens, turn.output_tokens) == (
        second.usage.input_tokens, second.usage.output_tokens)
    assert (turn.cost, turn.system, turn.options) == (
        second.cost, "Answer briefly.", {"temperature": 0.3})
    assert turn.latency is not None and turn.latency > 0
    assert log.history(chat.id) == chat.history


async def test_async_sends_and_streams_are_turns_too(logged) -> None:
    ai = logged()
    chat = ai.conversation()
    await chat.message("one two").asend()
    stream = chat.message("three four").astream()
    async for _ in stream:
        pass
    sync_stream = chat.message("five six").stream()
    for _ in sync_stream:
        pass
    turns = log_of(ai).turns(chat.id)
    assert [(t.operation, t.prompt, t.reply) for t in turns] == [
        ("chat", "one two", "echo: one two"), ("stream", "three four", "echo: three four"),
        ("stream", "five six", "echo: five six")]
    assert all(t.input_tokens and t.output_tokens and t.cost for t in turns)
    assert log_of(ai).history(chat.id) == chat.history


async def test_an_async_call_is_logged_off_its_event_loop(logged, monkeypatch) -> None:
    """Writing a turn is blocking I/O: an async call does it in a worker thread."""
    threads: list[int] = []
    real = ConversationLog.record

    def spy(self: ConversationLog, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ConversationLog, "record", spy)
    ai = logged()
    chat = ai.conversation()
    await chat.message("one two").asend()
    async for _ in chat.message("three four").astream():
        pass
    assert len(threads) == 2 and threading.get_ident() not in threads
    assert [t.prompt for t in log_of(ai).turns(chat.id)] == ["one two", "three four"]


def test_bare_calls_and_batch_items_are_conversations_of_their_own(logged) -> None:
    ai = logged()
    ai.driver().send_message("alone")
    chat = ai.conversation().system("Be brief.")
    results = chat.send_batch(["item one", "item two", "item three"])
    assert all(not isinstance(r, Exception) for r in results)
    log = log_of(ai)
    summaries = log.conversations()
    assert sorted(s.title for s in summaries) == ["alone", "item one", "item three",
                                                  "item two"]
    assert all(s.turns == 1 for s in summaries)
    assert chat.id not in {s.id for s in summaries}  # the batch left the conversation alone
    items = [t for s in summaries for t in log.turns(s.id) if t.prompt.startswith("item")]
    assert len({t.batch_id for t in items}) == 1 and items[0].batch_id is not None
    assert all(t.system == "Be brief." for t in items)


def test_tool_calls_and_results_are_logged(logged) -> None:
    ai = logged()
    lookup = Tool("lookup", "Look a word up.", {"type": "object", "properties": {
        "query": {"type": "string"}}})
    chat = ai.conversation().tools(lookup)
    asked = chat.message("weather in Paris").send()
    [call] = asked.tool_calls
    chat.tool_result(call.id, "sunny", name="lookup")
    answered = chat.send()
    first, second = log_of(ai).turns(chat.id)
    assert first.tool_calls == asked.tool_calls and first.reply == ""
    assert first.options["tools"][0]["name"] == "lookup"
    assert second.prompt == "" and second.messages[0].tool_call_id == call.id
    assert second.reply == answered.content == "tool said: sunny"
    assert log_of(ai).history(chat.id) == chat.history


def test_a_failed_call_is_logged_with_its_error(server, logged) -> None:
    ai = logged()
    chat = ai.conversation()
    server.inject(Fault(status=500))
    with pytest.raises(ProviderError):
        chat.message("will fail").send()
    chat.send()  # sent again, as it stands: the question is still in the history
    failed, ok = log_of(ai).turns(chat.id)
    assert failed.status == "error" and failed.error is not None
    assert failed.prompt == "will fail" and failed.reply is None
    assert ok.status == "ok" and ok.messages == ()  # nothing new: the same question
    assert log_of(ai).history(chat.id) == chat.history


def test_a_stream_cut_mid_way_keeps_what_arrived(server, logged) -> None:
    ai = logged()
    chat = ai.conversation()
    server.inject(Fault(reset_after=3))
    seen = []
    with pytest.raises(StreamInterruptedError):
        for chunk in chat.message("one two three four five six").stream():
            seen.append(chunk.delta)
    [turn] = log_of(ai).turns(chat.id)
    assert turn.status == "error" and turn.error.startswith("StreamInterruptedError")  # type: ignore[union-attr]
    assert turn.reply and turn.reply == "".join(seen)


def test_a_cache_hit_is_logged_as_cached(logged) -> None:
    ai = logged(plugins={"cache": {"ttl": "1h"}})
    first = ai.conversation().message("same question").send()
    second_chat = ai.conversation()
    second = second_chat.message("same question").send()
    assert second.cached is True
    [turn] = log_of(ai).turns(second_chat.id)
    assert turn.cached is True and turn.cost == 0 and turn.reply == first.content


@needs("gemini")
def test_a_fallback_logs_each_provider_tried_in_one_conversation(server, logged) -> None:
    ai = logged(providers={
        "openai": provider(server, fallbacks=["gemini"]), "gemini": provider(server, "gemini")})
    chat = ai.conversation("openai")
    server.inject(Fault(status=503, path_contains="chat/completions"))
    reply = chat.message("fall over").send()
    assert reply.provider == "gemini"
    failed, served = log_of(ai).turns(chat.id)
    assert (failed.provider, failed.status) == ("openai", "error")
    assert (served.provider, served.status, served.reply) == ("gemini", "ok", reply.content)
    assert log_of(ai).history(chat.id) == chat.history
    # A bare call's attempts share one conversation too.
    server.inject(Fault(status=503, path_contains="chat/completions"))
    ai.driver("openai").send_message("bare fall")
    [bare] = [s for s in log_of(ai).conversations() if s.title == "bare fall"]
    assert bare.turns == 2


def test_faked_calls_are_not_logged(logged) -> None:
    ai = logged()
    with ai.fake(["scripted"]):
        assert ai.conversation().message("hello").send().content == "scripted"
    assert log_of(ai).conversations() == []
