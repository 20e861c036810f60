"""Structured output (``output=T``) on all four drivers, over real HTTP against the fake
provider server: the schema in each provider's form, the reply parsed into the type, sync,
async and streamed, retries (each attempt a ledger row), and typed errors before sending.

The fake server answers a request that carries a schema with the smallest value the schema
allows, each string being its usual reply (``"echo: <user text>"``), or, when the user text
is itself JSON, with that text verbatim (see jtd_ai.testing.schema_reply).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest
from ledger_helpers import db_rows
from structured_helpers import DRIVERS, MODELS, MODES, chat_bodies, manager_fixture, send  # noqa: F401

from jtd_ai import AIManager, Message, OutputValidationError, Response, ValidationError
from jtd_ai.testing import FakeProviderServer


@attrs.frozen
class City:
    """A city and what it is known for."""

    name: str
    population: int
    tags: list[str]
    kind: Literal["town", "city"] = "city"


#: City's schema as sent, written out by hand: every property required (the model fills in
#: the default too), closed to unknown keys.
CITY_SCHEMA = {
    "type": "object", "title": "City", "description": "A city and what it is known for.",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"},
                   "tags": {"type": "array", "items": {"type": "string"}},
                   "kind": {"type": "string", "enum": ["town", "city"]}},
    "required": ["name", "population", "tags", "kind"], "additionalProperties": False,
}


def paris(text: str = "Paris") -> City:
    """What the fake server's rule makes of a City asked for with ``text``."""
    return City(f"echo: {text}", 0, [f"echo: {text}"], "town")


def sent_schema(driver: str, body: dict[str, Any]) -> Any:
    """Where each provider's documented wire format carries the response schema."""
    if driver in ("openai", "xai"):
        assert body["response_format"]["type"] == "json_schema"
        return body["response_format"]["json_schema"]["schema"]
    if driver == "gemini":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        return body["generationConfig"]["responseJsonSchema"]
    return body["format"]


def turns(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of each message of a chat request body, in any of the wire formats."""
    if "contents" in body:  # Gemini
        return [("assistant" if c["role"] == "model" else c["role"],
                 "".join(p.get("text", "") for p in c["parts"])) for c in body["contents"]]
    return [(m["role"], m["content"]) for m in body["messages"]]


# -- the round trip, on every driver ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_reply_is_parsed_into_the_type(manager: AIManager, driver: str, mode: str,
                                       fake_provider_server: FakeProviderServer) -> None:
    reply = send(manager, driver, mode, output=City)
    assert reply.parsed == paris()
    assert json.loads(reply.content) == attrs.asdict(paris())
    (body,) = chat_bodies(fake_provider_server)
    assert sent_schema(driver, body) == CITY_SCHEMA
    if driver in ("openai", "xai"):
        assert body["response_format"]["json_schema"]["name"] == "City"
        assert body["response_format"]["json_schema"]["strict"] is True
    assert "output" not in json.dumps(body)  # output is ours, never a wire field


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_stream_parses_its_final_reply(manager: AIManager, driver: str, mode: str) -> None:
    chosen = manager.driver(driver)
    if mode == "sync":
        with chosen.stream("Lyon", output=City) as stream:
            deltas = [chunk.delta for chunk in stream]
        final = stream.response
    else:
        async def collect() -> tuple[list[str], Response[City] | None]:
            async with chosen.astream("Lyon", output=City) as astream:
                return [chunk.delta async for chunk in astream], astream.response

        deltas, final = asyncio.run(collect())
    assert final is not None and final.parsed == paris("Lyon")
    assert "".join(deltas) == final.content
    assert len(deltas) > 1  # it really streamed


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_list_travels_wrapped_in_an_object(manager: AIManager, driver: str,
                                             fake_provider_server: FakeProviderServer) -> None:
    reply = manager.driver(driver).send_message("Nice", output=list[City])
    assert reply.parsed == [paris("Nice")]
    (body,) = chat_bodies(fake_provider_server)
    assert sent_schema(driver, body) == {
        "type": "object", "properties": {"result": {"type": "array", "items": CITY_SCHEMA}},
        "required": ["result"], "additionalProperties": False}


# -- retries and mismatches -------------------------------------------------------------------

WRONG = '{"name": 1}'


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_mismatch_is_retried_each_attempt_its_own_call(
        manager: AIManager, driver: str, mode: str, tmp_path: Path,
        fake_provider_server: FakeProviderServer) -> None:
    reply = send(manager, driver, mode, WRONG, output=City, output_retries=2)
    # kind has a default: the schema asks the model for it, the type does without it.
    problem = ("expected a string, got 1 @ $.name; required field missing @ $.population; "
               "required field missing @ $.tags")
    feedback = (f"Your reply did not match the required JSON schema: {problem}. Reply "
                f"again with only the JSON value, matching the schema.")
    assert reply.parsed == paris(feedback)  # the second attempt answered the feedback
    first, second = chat_bodies(fake_provider_server)
    assert turns(first) == [("user", WRONG)]
    assert turns(second) == [("user", WRONG), ("assistant", WRONG), ("user", feedback)]
    assert manager.storage.flush()
    rows = db_rows(tmp_path / "jtd-ai.db")
    assert [(row["provider"], row["status"]) for row in rows] == [(driver, "ok")] * 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_mismatch_without_retries_is_a_typed_error_with_the_text(
        manager: AIManager, driver: str, mode: str) -> None:
    with pytest.raises(OutputValidationError) as info:
        send(manager, driver, mode, WRONG, output=City)
    error = info.value
    assert error.text == WRONG
    assert error.problem.startswith("expected a string, got 1 @ $.name")
    assert error.attempts == 1 and error.provider == driver
    assert error.partial is not None and error.partial.content == WRONG
    assert "the reply does not match City" in str(error)


def positive(_: object, __: object, value: int) -> None:
    if value < 1:
        raise ValueError("must be at least 1")


@attrs.frozen
class Count:
    value: int = attrs.field(validator=positive)


def test_retries_run_out_with_the_last_reply(manager: AIManager, tmp_path: Path) -> None:
    # The fake answers 0 every time; the type's own validator refuses it.
    with pytest.raises(OutputValidationError) as info:
        manager.driver("ollama").send_message("count", output=Count, output_retries=2)
    assert info.value.attempts == 3
    assert "must be at least 1" in info.value.problem
    assert manager.storage.flush()
    assert len(db_rows(tmp_path / "jtd-ai.db")) == 3


def test_a_reply_that_is_not_json_says_so(manager: AIManager) -> None:
    with pytest.raises(OutputValidationError, match="the reply is not JSON"):
        manager.driver("openai").send_message("hi", output=City,
                                              extra={"response_format": {"type": "text"}})


# -- errors before anything is sent -----------------------------------------------------------


class Opaque:
    pass


@attrs.frozen
class Node:
    value: int
    children: list[Node]


@pytest.mark.parametrize(("driver", "options", "field", "words"), [
    ("openai", {"output": Opaque}, "Opaque", "cannot derive a JSON schema for Opaque"),
    ("openai", {"output": dict[int, str]}, "dict[int, str]", "keys that are not str"),
    ("openai", {"output": City, "output_retries": -1}, "output_retries", "from 0 to 10"),
    ("openai", {"output": City, "output_retries": True}, "output_retries", "from 0 to 10"),
    ("openai", {"output_retries": 2}, "output_retries", "needs output="),
    ("openai", {"output": City, "response_format": "json"}, "response_format",
     "sets the response format itself"),
    ("xai", {"output": Node}, "response_format.schema",
     "xai (xAI) cannot take a response schema that refers to itself (the definition 'Node')"),
    ("gemini", {"output": {"type": "object", "properties": {}, "not": {"required": ["a"]}}},
     "response_format.schema", "Gemini cannot take the response schema's 'not'"),
])
def test_bad_output_is_refused_before_sending(
        manager: AIManager, fake_provider_server: FakeProviderServer, driver: str,
        options: dict[str, Any], field: str, words: str) -> None:
    for mode in MODES:
        with pytest.raises(ValidationError, match=None) as info:
            send(manager, driver, mode, **options)
        assert info.value.field == field and words in str(info.value)
        with pytest.raises(ValidationError):
            manager.driver(driver).stream("Paris", **options)
    assert chat_bodies(fake_provider_server) == []


def test_streams_refuse_retries(manager: AIManager) -> None:
    with pytest.raises(ValidationError, match="does not apply to a stream") as info:
        manager.driver("openai").stream("x", output=City, output_retries=1)
    assert info.value.field == "output_retries"


def test_recursive_types_are_sent_where_the_provider_takes_them(
        manager: AIManager, fake_provider_server: FakeProviderServer) -> None:
    reply = manager.driver("openai").send_message("tree", output=Node)
    assert isinstance(reply.parsed, Node) and reply.parsed.value == 0
    (body,) = chat_bodies(fake_provider_server)
    schema = sent_schema("openai", body)
    assert schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert schema["$defs"]["Node"]["required"] == ["value", "children"]


def test_openai_strict_only_where_the_schema_allows(
        manager: AIManager, fake_provider_server: FakeProviderServer) -> None:
    manager.driver("openai").send_message("x", output=dict[str, int])
    (body,) = chat_bodies(fake_provider_server)
    # An object of free keys cannot close itself: strict mode cannot take it.
    assert body["response_format"]["json_schema"]["strict"] is False


# -- conversations, batches, raw schemas, pydantic --------------------------------------------


def test_conversation_output_parses_and_keeps_the_history(manager: AIManager) -> None:
    conversation = manager.conversation("gemini").output(City).message("Paris")
    reply = conversation.send()
    assert reply.parsed == paris()
    assert conversation.history[-1] == Message.assistant(reply.content)
    follow_up = asyncio.run(conversation.message("Lyon").asend())
    assert follow_up.parsed == paris("Lyon")
    stream = conversation.message("Nice").stream()
    assert "".join(chunk.delta for chunk in stream) == stream.text
    assert stream.response is not None and stream.response.parsed == paris("Nice")
    assert conversation.last_response is stream.response
    assert [m.role.value for m in conversation.history] == ["user", "assistant"] * 3


def test_conversation_output_checks_the_type_at_once(manager: AIManager) -> None:
    with pytest.raises(ValidationError, match="Opaque"):
        manager.conversation("openai").output(Opaque)


@pytest.mark.parametrize("driver", DRIVERS)
def test_batch_items_are_parsed_each(manager: AIManager, driver: str) -> None:
    results = manager.driver(driver).send_batch(["Paris", WRONG, "Lyon"], output=City)
    assert results[0].parsed == paris() and results[2].parsed == paris("Lyon")
    assert isinstance(results[1], OutputValidationError) and results[1].text == WRONG


def test_a_json_schema_dict_gives_decoded_json(manager: AIManager) -> None:
    schema = {"type": "object", "title": "Verdict",
              "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    reply = manager.driver("ollama").send_message("judge", output=schema)
    assert reply.parsed == {"ok": False}


def test_pydantic_models_round_trip(manager: AIManager) -> None:
    pydantic = pytest.importorskip("pydantic", reason="pydantic is an optional integration")

    class Pet(pydantic.BaseModel):
        name: str
        legs: int = 4

    reply = manager.driver("xai").send_message("Rex", output=Pet)
    assert reply.parsed == Pet(name="echo: Rex", legs=0)


def lookup(query: str) -> str:
    """Look a thing up."""
    return f"found {query}"


@attrs.frozen
class Finding:
    name: str


@pytest.mark.parametrize("driver", DRIVERS)
def test_tool_loop_parses_its_final_reply(manager: AIManager, driver: str) -> None:
    # The fake calls the first tool, then answers the tool's result ("tool said: ...").
    conversation = manager.conversation(driver).output(Finding).tools(lookup).message("Rome")
    reply = conversation.run()
    assert isinstance(reply.parsed, Finding) and "found Rome" in reply.parsed.name
    assert [m.role.value for m in conversation.history] == ["user", "assistant", "tool",
                                                            "assistant"]
    assert conversation.history[1].tool_calls  # the tool call went by unparsed
    streamed = manager.conversation(driver).output(Finding).tools(lookup).message("Oslo")
    events = list(streamed.run_stream())
    assert "found Oslo" in events[-1].response.parsed.name
    awaited = manager.conversation(driver).output(Finding).tools(lookup).message("Bern")
    assert "found Bern" in asyncio.run(awaited.arun()).parsed.name
