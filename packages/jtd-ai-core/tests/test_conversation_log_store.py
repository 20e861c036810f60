"""The conversation log's storage (jtd_ai.convlog.ConversationLog on a real SQLite file and
a real PostgreSQL database): turns grouped by conversation, only the new messages kept per
turn and the history put back together, failed turns with their partial reply, listing,
search and ids by their start."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pg_cluster import (  # noqa: F401  (the fixtures: store_url on both engines)
    pg_cluster_fixture,
    pg_url_fixture,
    store_url_fixture,
)

from jtd_ai import (
    FinishReason,
    ImagePart,
    Message,
    RateLimitError,
    Response,
    TokenUsage,
    ToolCall,
    ValidationError,
)
from jtd_ai.convlog import ConversationLog
from jtd_ai.request import ChatRequest
from jtd_ai.store import open_store

SYSTEM = Message.system("Answer briefly.")


@pytest.fixture
def log(store_url: str) -> Iterator[ConversationLog]:
    """The log in a new store of each engine (SQLite, PostgreSQL)."""
    store = open_store(store_url)
    store.open()
    yield ConversationLog(store)
    store.close()


def answer(text: str, *, cost: str | None = "0.00001", **fields: object) -> Response:
    return Response(text, "gpt-4o-mini-2024-07-18", "openai",  # type: ignore[arg-type]
                    FinishReason.STOP, TokenUsage(10, 2),
                    cost=Decimal(cost) if cost else None, latency=0.25, **fields)


def send(log: ConversationLog, history: list[Message], reply: Response | None = None,
         cid: str = "c1", **kwargs: object) -> list[Message]:
    """Log a turn of ``history`` (as a Conversation sends it) and append the reply, as a
    Conversation does."""
    request = ChatRequest.build([SYSTEM, *history], "gpt-4o-mini", temperature=0.2)
    log.record(request, reply, provider="openai", conversation_id=cid, driver="openai",
               **kwargs)  # type: ignore[arg-type]
    if reply is not None:
        history.append(reply.to_message())
    return history


def stored_messages(log: ConversationLog) -> list[str]:
    """The ``messages`` column of every turn, as stored."""
    return [row[0] for row in log.store.query("SELECT messages FROM turns ORDER BY ts")]


def test_each_turn_keeps_only_its_new_messages_and_the_history_comes_back_whole(
        log: ConversationLog) -> None:
    history = [Message.user("Name a river")]
    send(log, history, answer("The Nile."))
    history.append(Message.user("Another?"))
    send(log, history, answer("The Amazon."))
    history.append(Message.user("And one more?"))
    send(log, history, answer("The Yangtze."))
    assert log.history("c1") == history
    turns = log.turns("c1")
    assert [t.prompt for t in turns] == ["Name a river", "Another?", "And one more?"]
    assert [t.history_index for t in turns] == [0, 2, 4]
    assert [t.reply for t in turns] == ["The Nile.", "The Amazon.", "The Yangtze."]
    # Each row holds its own message only, not the whole history again.
    assert all(row.count('"role"') == 1 for row in stored_messages(log))
    first = turns[0]
    assert (first.system, first.options, first.provider, first.driver, first.model,
            first.requested_model, first.input_tokens, first.output_tokens, first.cost,
            first.latency, first.status, first.cached, first.finish_reason) == (
        "Answer briefly.", {"temperature": 0.2}, "openai", "openai",
        "gpt-4o-mini-2024-07-18", "gpt-4o-mini", 10, 2, Decimal("0.00001"), 0.25, "ok",
        False, "stop")


def test_a_conversation_summary_counts_turns_and_sums_costs(log: ConversationLog) -> None:
    history = [Message.user("  Name   a\nriver  " + "x" * 100)]
    send(log, history, answer("The Nile.", cost="0.1"))
    history.append(Message.user("Another?"))
    send(log, history, answer("The Amazon.", cost="0.02"))
    [found] = log.conversations()
    assert found.id == "c1" and found.turns == 2
    assert found.cost == Decimal("0.12")
    assert found.title == ("Name a river " + "x" * 100)[:80]
    assert found.system == "Answer briefly." and found.model == "gpt-4o-mini-2024-07-18"
    assert found.started <= found.updated
    assert log.conversation("c1") == found
    assert log.conversation("nope") is None


def test_conversations_come_newest_first_and_latest_names_the_newest(
        log: ConversationLog) -> None:
    assert log.latest() is None and log.conversations() == []
    for cid in ("aaa1", "bbb2", "ccc3"):
        send(log, [Message.user(f"hello {cid}")], answer("hi"), cid=cid)
    send(log, [Message.user("hello aaa1"), Message.assistant("hi"), Message.user("again")],
         answer("hi again"), cid="aaa1")
    assert [c.id for c in log.conversations()] == ["aaa1", "ccc3", "bbb2"]
    assert [c.id for c in log.conversations(limit=2)] == ["aaa1", "ccc3"]
    assert log.latest() == "aaa1"


def test_tool_calls_and_tool_results_round_trip(log: ConversationLog) -> None:
    call = ToolCall("call_1", "weather", '{"city": "Paris"}', metadata={"sig": "x"})
    history = [Message.user("Weather in Paris?")]
    send(log, history, answer("", tool_calls=(call,), reasoning="Look it up.",
                              metadata={"signature": "s1"}))
    history.append(Message.tool({"temp": 21}, call_id="call_1", name="weather"))
    send(log, history, answer("21 degrees."))
    rebuilt = log.history("c1")
    assert rebuilt == history
    assert rebuilt[1].tool_calls[0].metadata == {"sig": "x"}
    # What the provider needs back on the next call (kept out of equality) comes back too.
    assert (rebuilt[1].reasoning, rebuilt[1].metadata) == ("Look it up.", {"signature": "s1"})
    first, second = log.turns("c1")
    assert first.tool_calls == (call,) and first.reply == ""
    assert second.prompt == ""  # a tool result is not a prompt
    assert second.messages[0].tool_call_id == "call_1"


def test_images_are_kept_in_their_place(log: ConversationLog) -> None:
    image = ImagePart.from_bytes(b"\x89PNG fake", "image/png")
    message = Message("user", ["What is this?", image, "Be brief."])
    history = [message]
    send(log, history, answer("A picture."))
    assert log.history("c1")[0] == message


def test_a_failed_turn_keeps_its_partial_reply_and_the_next_turn_follows_on(
        log: ConversationLog) -> None:
    history = [Message.user("Tell me a story")]
    error = RateLimitError("slow down", provider="openai",
                           partial=answer("Once upon", cost=None))
    send(log, history, None, error=error)
    [failed] = log.turns("c1")
    assert failed.status == "error" and failed.reply == "Once upon"
    assert failed.error is not None and failed.error.startswith("RateLimitError: ")
    assert failed.reply_message is None
    assert log.history("c1") == []  # a failed last turn is not part of the history
    # The Conversation kept the question and sends it again, with one more.
    history.append(Message.user("Please?"))
    send(log, history, answer("Once upon a time."))
    assert log.history("c1") == history
    assert [t.status for t in log.turns("c1")] == ["error", "ok"]


def test_a_retried_request_logs_no_message_twice(log: ConversationLog) -> None:
    """A failed call tried again with the same messages (a fallback elsewhere): the second
    turn adds no message."""
    history = [Message.user("Hello")]
    send(log, history, None, error=RateLimitError("busy", provider="openai"))
    send(log, history, answer("Hi!"))
    assert [len(t.messages) for t in log.turns("c1")] == [1, 0]
    assert log.history("c1") == history


def test_a_failed_question_taken_back_is_not_part_of_the_history(
        log: ConversationLog) -> None:
    """The interactive chat drops a question that got no reply; the next one follows on
    from before it (the counts alone would say it was already logged)."""
    history = [Message.user("one")]
    send(log, history, answer("1"))
    send(log, [*history, Message.user("fails")], None,
         error=RateLimitError("busy", provider="openai"))
    history.append(Message.user("two"))
    send(log, history, answer("2"))
    assert log.history("c1") == history
    assert [(t.history_index, t.prompt) for t in log.turns("c1")] == [
        (0, "one"), (2, "fails"), (2, "two")]


def test_an_edited_history_is_stored_whole(log: ConversationLog) -> None:
    history = [Message.user("one")]
    send(log, history, answer("1"))
    edited = [Message.user("one, edited"), Message.assistant("1"), Message.user("two")]
    send(log, edited, answer("2"))
    assert log.history("c1") == edited
    assert log.turns("c1")[-1].history_index == 0


def test_a_cleared_history_starts_over_in_the_same_conversation(log: ConversationLog) -> None:
    history = [Message.user("one")]
    send(log, history, answer("1"))
    history.append(Message.user("two"))
    send(log, history, answer("2"))
    fresh = [Message.user("three")]
    send(log, fresh, answer("3"))
    assert log.history("c1") == fresh
    assert log.turns("c1")[-1].history_index == 0


def test_search_matches_prompts_replies_and_system_in_any_case(log: ConversationLog) -> None:
    send(log, [Message.user("Name a RIVER")], answer("The Nile."), cid="a1")
    send(log, [Message.user("100% sure?")], answer("Yes."), cid="b2")
    send(log, [Message.user("snake_case")], answer("fine"), cid="c3")
    assert [t.conversation_id for t in log.search("river")] == ["a1"]
    assert [t.conversation_id for t in log.search("nile")] == ["a1"]
    assert [t.conversation_id for t in log.search("0% s")] == ["b2"]
    assert log.search("%") and [t.conversation_id for t in log.search("%")] == ["b2"]
    assert [t.conversation_id for t in log.search("e_c")] == ["c3"]
    assert len(log.search("briefly")) == 3  # the system prompt
    assert len(log.search("briefly", limit=2)) == 2
    assert log.search("nowhere") == []


def test_an_id_is_found_by_its_start(log: ConversationLog) -> None:
    send(log, [Message.user("x")], answer("y"), cid="abc123")
    send(log, [Message.user("x")], answer("y"), cid="abd456")
    assert log.resolve("abc") == "abc123"
    assert log.resolve("ABC123") == "abc123"
    with pytest.raises(ValidationError, match="several"):
        log.resolve("ab")
    with pytest.raises(ValidationError, match="no logged conversation"):
        log.resolve("ffff")
    with pytest.raises(ValidationError, match="not a conversation id"):
        log.resolve("a%")


def test_calls_without_a_conversation_get_one_each(log: ConversationLog) -> None:
    request = ChatRequest.build([Message.user("hi")], "m")
    first = log.record(request, answer("a"), provider="openai")
    second = log.record(request, answer("b"), provider="openai", batch_id="batch-1")
    assert first.conversation_id != second.conversation_id
    assert len(first.conversation_id) == 32
    assert second.batch_id == "batch-1"
    assert len(log.conversations()) == 2


def test_to_dict_is_plain_json_data(log: ConversationLog) -> None:
    import json

    send(log, [Message.user("hi")], answer("hello", cached=True, cost="0"))
    [turn] = log.turns("c1")
    data = json.loads(json.dumps(turn.to_dict()))
    assert data["cached"] is True and data["cost"] == "0"
    assert data["messages"] == [{"role": "user", "content": "hi"}]
    summary = json.loads(json.dumps(log.conversations()[0].to_dict()))
    assert summary["turns"] == 1 and summary["id"] == "c1"
