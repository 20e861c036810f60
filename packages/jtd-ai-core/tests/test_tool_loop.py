"""The tool loop (``Conversation.run``/``arun``/``run_stream``/``arun_stream``) against the
fake provider server over real HTTP, for every driver: the model's call is parsed, the
Python function runs with its arguments converted, the result goes back in the provider's
form, the final reply ends the run; each model call is one ledger row in a SQLite file.

The fake server's rule (``jtd_ai.testing.dialects``): offered tools and a user turn last, it
calls the first tool with ``{"query": <user text>}``; after a tool result it answers
``"tool said: <result>"``."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import needs
from ledger_helpers import CHAT_PATHS, KEY, db_rows
from ledger_server import server_fixture  # noqa: F401  (the fixture: server)

from jtd_ai import AIManager, MaxStepsError, Role, Tool, ToolError, ValidationError
from jtd_ai.testing import FakeProviderServer
from jtd_ai.tools import FinalResponse, TextDelta, ToolCallRequested, ToolResult

pytestmark = [needs("openai"), needs("xai"), needs("gemini"), needs("ollama")]

MODELS = {"openai": "gpt-4o-mini", "xai": "grok-4", "gemini": "gemini-2.5-flash",
          "ollama": "llama3.2:latest"}
WAYS = ["run", "arun", "run_stream", "arun_stream"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jtd-ai.db"


@pytest.fixture
def make(server: FakeProviderServer, db: Path) -> Iterator[Any]:
    made: list[AIManager] = []

    def build(driver: str) -> AIManager:
        ai = AIManager(providers={driver: {
            "driver": driver, "base_url": server.base_url(driver), "api_key": KEY,
            "default_model": MODELS[driver], "retry_attempts": 1, "timeout": 30}},
            default=driver, config_file=False, env={}, store={"path": str(db)})
        made.append(ai)
        return ai

    yield build
    for ai in made:
        ai.close()


def lookup(query: str) -> dict[str, str]:
    """Look a phrase up.

    Args:
        query: The phrase to look up.
    """
    return {"found": query.upper()}


def chat_bodies(server: FakeProviderServer, since: int) -> list[dict[str, Any]]:
    return [r.json() for r in list(server.requests)[since:]
            if any(p in r.path for p in CHAT_PATHS)]


def drive(conversation: Any, way: str, **settings: Any) -> tuple[Any, list[Any]]:
    """Run the loop one ``way``; the final Response and the events (streams only)."""
    if way == "run":
        return conversation.run(**settings), []
    if way == "arun":
        return asyncio.run(conversation.arun(**settings)), []
    if way == "run_stream":
        events = list(conversation.run_stream(**settings))
        return events[-1].response, events

    async def collect() -> list[Any]:
        return [event async for event in conversation.arun_stream(**settings)]

    events = asyncio.run(collect())
    return events[-1].response, events


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("driver", list(MODELS))
def test_the_loop_runs_the_tool_and_ends_with_the_reply(server, make, db, driver,
                                                        way) -> None:
    ai = make(driver)
    start = len(server.requests)
    conversation = ai.conversation().tools(lookup).message("hello world")
    reply, events = drive(conversation, way)
    assert reply.content == 'tool said: {"found": "HELLO WORLD"}'
    assert [m.role for m in conversation.history] == [Role.USER, Role.ASSISTANT, Role.TOOL,
                                                      Role.ASSISTANT]
    (call,) = conversation.history[1].tool_calls
    assert (call.name, call.parsed_arguments()) == ("lookup", {"query": "hello world"})
    result = conversation.history[2]
    assert (result.tool_call_id, result.name) == (call.id, "lookup")
    assert json.loads(result.text) == {"found": "HELLO WORLD"}
    assert conversation.last_response is reply
    # two model calls: the first offers the tool, the second carries its result
    first, second = chat_bodies(server, start)
    assert "lookup" in json.dumps(first) and "The phrase to look up." in json.dumps(first)
    assert "HELLO WORLD" not in json.dumps(first) and "HELLO WORLD" in json.dumps(second)
    # one ledger row per model call
    assert ai.storage.flush(timeout=30)
    rows = db_rows(db)
    assert [(r["provider"], r["status"]) for r in rows] == [(driver, "ok"), (driver, "ok")]
    assert [r["streamed"] for r in rows] == [int("stream" in way)] * 2
    if events:
        kinds = [type(e).__name__ for e in events]
        assert kinds[:2] == ["ToolCallRequested", "ToolResult"]
        assert kinds[-1] == "FinalResponse" and set(kinds[2:-1]) == {"TextDelta"}
        assert events[0] == ToolCallRequested(call, 1)
        assert events[1].text == result.text and not events[1].is_error
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == reply.content
        assert {e.step for e in events if isinstance(e, TextDelta)} == {2}
        assert events[-1] == FinalResponse(reply, 2)


@pytest.mark.parametrize("way", WAYS)
def test_the_conversation_goes_on_after_a_run(server, make, way) -> None:
    conversation = make("openai").conversation().tools(lookup).message("first thing")
    drive(conversation, way)
    reply, _ = drive(conversation.message("second thing"), way)
    assert reply.content == 'tool said: {"found": "SECOND THING"}'
    assert [m.role for m in conversation.history] == [
        Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT] * 2
    follow_up = conversation.message("third").send()  # a plain send goes on from there
    assert len(conversation.history) == 10 and follow_up.tool_calls  # the rule: a call


@pytest.mark.parametrize("way", WAYS)
def test_max_steps_ends_the_run_with_the_conversation_kept(server, make, db, way) -> None:
    ai = make("gemini")
    conversation = ai.conversation().tools(lookup).message("look")
    with pytest.raises(MaxStepsError) as info:
        drive(conversation, way, max_steps=1)
    error = info.value
    assert error.steps == 1 and error.conversation is conversation
    assert error.response.tool_calls and error.response.tool_calls[0].name == "lookup"
    # the last step's call was run: its result is in the history, so a run goes on
    assert [m.role for m in conversation.history] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    reply, _ = drive(conversation, way)
    assert reply.content == 'tool said: {"found": "LOOK"}'
    assert ai.storage.flush(timeout=30)
    assert len(db_rows(db)) == 2


@pytest.mark.parametrize("way", WAYS)
def test_a_tool_that_raises_gives_the_model_the_error(server, make, way) -> None:
    def lookup(query: str) -> str:
        raise KeyError(f"no entry for {query}")

    conversation = make("ollama").conversation().tools(lookup).message("zebra")
    reply, events = drive(conversation, way)
    assert reply.content == "tool said: Error: the tool raised KeyError: 'no entry for zebra'"
    assert conversation.history[2].text == "Error: the tool raised KeyError: 'no entry for zebra'"
    if events:
        (result,) = [e for e in events if isinstance(e, ToolResult)]
        assert result.is_error and isinstance(result.error, KeyError)


@pytest.mark.parametrize("way", WAYS)
def test_on_tool_error_raise_ends_the_run_and_run_resumes(server, make, db, way) -> None:
    attempts: list[str] = []

    def lookup(query: str) -> str:
        attempts.append(query)
        if len(attempts) == 1:
            raise RuntimeError("the index is rebuilding")
        return "found it"

    ai = make("xai")
    conversation = ai.conversation().tools(lookup).message("cats")
    with pytest.raises(ToolError, match="the index is rebuilding") as info:
        drive(conversation, way, on_tool_error="raise")
    error = info.value
    assert isinstance(error.__cause__, RuntimeError)
    assert error.tool == "lookup" and error.conversation is conversation
    assert error.call == conversation.history[-1].tool_calls[0]
    assert [m.role for m in conversation.history] == [Role.USER, Role.ASSISTANT]
    # run() again answers the pending call first, then asks the model
    reply, _ = drive(conversation, way, on_tool_error="raise")
    assert reply.content == "tool said: found it" and attempts == ["cats", "cats"]
    assert ai.storage.flush(timeout=30)
    assert len(db_rows(db)) == 2  # the first model call, and the one after the result


@pytest.mark.parametrize("way", WAYS)
def test_bad_arguments_from_the_model_are_an_error_result(server, make, way) -> None:
    def lookup(query: int) -> str:  # the fake server sends a string
        raise AssertionError("never called with arguments that do not match")

    conversation = make("openai").conversation().tools(lookup).message("seven")
    reply, _ = drive(conversation, way, on_tool_error="raise")
    result = conversation.history[2].text
    assert result.startswith("Error: invalid arguments for tool 'lookup': argument 'query':")
    assert "expected an integer" in result
    assert reply.content == f"tool said: {result}"


@pytest.mark.parametrize("way", ["run", "arun"])
def test_async_and_sync_functions_run_in_either_loop(server, make, way) -> None:
    threads: list[str] = []

    async def lookup(query: str) -> str:
        await asyncio.sleep(0)
        threads.append(threading.current_thread().name)
        return f"async {query}"

    conversation = make("openai").conversation().tools(lookup).message("x")
    reply, _ = drive(conversation, way)
    assert reply.content == "tool said: async x" and len(threads) == 1

    def blocking(query: str) -> str:
        threads.append(threading.current_thread().name)
        return f"sync {query}"

    conversation = make("openai").conversation().tools(blocking).message("y")
    reply, _ = drive(conversation, way)
    assert reply.content == "tool said: sync y"
    main = threading.main_thread().name
    # arun keeps its event loop free: a sync function runs in a worker thread
    assert (threads[-1] != main) == (way == "arun")


def test_tool_objects_with_a_function_and_dicts_mix(server, make) -> None:
    seen: list[dict[str, Any]] = []

    def anything(**arguments: Any) -> str:
        seen.append(arguments)
        return "ok"

    hand_written = Tool("search", "Search.", {"type": "object",
                                              "properties": {"query": {"type": "string"}}},
                        function=anything)
    conversation = make("openai").conversation().tools(hand_written).message("raw")
    assert conversation.run().content == "tool said: ok"
    assert seen == [{"query": "raw"}]


def test_a_tool_without_a_function_cannot_run(server, make) -> None:
    start = len(server.requests)
    conversation = make("openai").conversation().tools(
        {"type": "function", "function": {"name": "lookup", "parameters": {}}}).message("q")
    with pytest.raises(ValidationError, match="'lookup' has no function to run"):
        conversation.run()
    with pytest.raises(ValidationError, match="'lookup' has no function to run"):
        conversation.run_stream()  # at once, not at the first event
    with pytest.raises(ValidationError, match="'lookup' has no function to run"):
        conversation.arun_stream()
    with pytest.raises(ValidationError, match="'lookup' has no function to run"):
        asyncio.run(conversation.arun())
    assert len(server.requests) == start  # nothing was sent


@pytest.mark.parametrize(("settings", "field"), [
    ({"max_steps": 0}, "max_steps"), ({"max_steps": 2.5}, "max_steps"),
    ({"max_steps": True}, "max_steps"), ({"parallel": 0}, "parallel"),
    ({"parallel": "yes"}, "parallel"), ({"on_tool_error": "ignore"}, "on_tool_error")])
def test_bad_run_settings_are_refused_before_sending(server, make, settings, field) -> None:
    start = len(server.requests)
    conversation = make("openai").conversation().tools(lookup).message("q")
    with pytest.raises(ValidationError) as info:
        conversation.run(**settings)
    assert info.value.field == field
    with pytest.raises(ValidationError):
        asyncio.run(conversation.arun(**settings))
    assert len(server.requests) == start


def test_a_stream_left_early_closes_its_call(server, make, db) -> None:
    ai = make("openai")
    conversation = ai.conversation().tools(lookup).message("early exit")
    events = conversation.run_stream()
    for event in events:
        if isinstance(event, TextDelta):
            break
    events.close()  # type: ignore[attr-defined]
    # the first call finished; the second was left after its first chunk
    assert ai.storage.flush(timeout=30)
    assert [r["status"] for r in db_rows(db)] == ["ok", "cancelled"]
    assert [m.role for m in conversation.history] == [Role.USER, Role.ASSISTANT, Role.TOOL]
