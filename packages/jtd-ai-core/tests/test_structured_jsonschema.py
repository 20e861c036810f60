"""``output=`` a JSON schema given as a dict: the schema checked before anything is sent, each
reply checked against it with jsonschema (a mismatch is an OutputValidationError naming the
place and the problem, retried with ``output_retries``), over real HTTP against the fake
provider server, sync, async and streamed.

The fake server answers a request that carries a schema with the smallest value the schema
allows, each string being ``"echo: <user text>"``, or, when the user text is itself JSON,
with that text verbatim (see jtd_ai.testing.schema_reply): a JSON prompt chooses the reply.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ledger_helpers import db_rows
from structured_helpers import DRIVERS, MODELS, MODES, chat_bodies, manager_fixture, send  # noqa: F401

import jtd_ai.schema_validator
from jtd_ai import AIManager, OutputValidationError, Response, ValidationError
from jtd_ai.testing import FakeProviderServer

pytest.importorskip("jsonschema", reason="jsonschema (jtd-ai-core[jsonschema]) checks replies "
                                         "against a JSON schema")


FORECAST = {
    "type": "object", "title": "Forecast",
    "properties": {"city": {"type": "string", "minLength": 1},
                   "day": {"type": "string", "format": "date"},
                   "rain": {"type": "boolean"},
                   "high": {"type": "integer", "minimum": -50},
                   "sky": {"type": "string", "enum": ["clear", "cloudy"]}},
    "required": ["city", "day", "rain", "high", "sky"], "additionalProperties": False,
}
#: A reply that breaks five of FORECAST's rules, and what jsonschema says of each, by place.
WRONG = json.dumps({"city": "", "day": "tomorrow", "rain": "no", "high": -60, "sky": "clear",
                    "wind": 3})
WRONG_PROBLEM = ("Additional properties are not allowed ('wind' was unexpected) @ $; "
                 "'' should be non-empty @ $.city; 'tomorrow' is not a 'date' @ $.day; "
                 "-60 is less than the minimum of -50 @ $.high; "
                 "'no' is not of type 'boolean' @ $.rain")


def forecast(text: str) -> dict[str, Any]:
    """What the fake server's rule answers FORECAST with, for the user text ``text``."""
    return {"city": f"echo: {text}", "day": "2026-01-02", "rain": False, "high": -50,
            "sky": "clear"}


# -- replies checked against the schema -------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_a_matching_reply_is_the_decoded_json(manager: AIManager, driver: str,
                                              mode: str) -> None:
    reply = send(manager, driver, mode, "Paris", output=FORECAST)
    assert reply.parsed == forecast("Paris")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("driver", DRIVERS)
def test_a_reply_that_does_not_match_names_each_place_and_problem(
        manager: AIManager, driver: str, mode: str) -> None:
    with pytest.raises(OutputValidationError) as info:
        send(manager, driver, mode, WRONG, output=FORECAST)
    error = info.value
    assert error.problem == WRONG_PROBLEM
    assert error.message == (f"the reply does not match the JSON schema 'Forecast': "
                          f"{WRONG_PROBLEM}")
    assert error.text == WRONG and error.attempts == 1 and error.provider == driver
    assert error.partial is not None and error.partial.content == WRONG


@pytest.mark.parametrize("mode", MODES)
def test_a_mismatch_is_sent_back_and_retried(manager: AIManager, mode: str, tmp_path: Path,
                                             fake_provider_server: FakeProviderServer) -> None:
    reply = send(manager, "openai", mode, WRONG, output=FORECAST, output_retries=2)
    feedback = (f"Your reply did not match the required JSON schema: {WRONG_PROBLEM}. Reply "
                f"again with only the JSON value, matching the schema.")
    assert reply.parsed == forecast(feedback)  # the second attempt answered the feedback
    first, second = chat_bodies(fake_provider_server)
    assert [m["content"] for m in first["messages"]] == [WRONG]
    assert [m["content"] for m in second["messages"]] == [WRONG, WRONG, feedback]
    assert manager.storage.flush()
    assert [row["status"] for row in db_rows(tmp_path / "jtd-ai.db")] == ["ok", "ok"]


def test_retries_run_out_with_the_last_mismatch(manager: AIManager, tmp_path: Path) -> None:
    # The fake answers 0 (the smallest integer it knows) every time: every attempt misses.
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": -1}},
              "required": ["n"]}
    with pytest.raises(OutputValidationError) as info:
        manager.driver("ollama").send_message("n", output=schema, output_retries=1)
    assert info.value.attempts == 2
    assert info.value.problem == "0 is greater than the maximum of -1 @ $.n"
    assert manager.storage.flush()
    assert len(db_rows(tmp_path / "jtd-ai.db")) == 2


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_checks_its_final_reply(manager: AIManager, mode: str) -> None:
    chosen = manager.driver("gemini")

    def collect(prompt: str) -> Response[Any] | None:
        if mode == "sync":
            with chosen.stream(prompt, output=FORECAST) as stream:
                list(stream)
            return stream.response

        async def run() -> Response[Any] | None:
            async with chosen.astream(prompt, output=FORECAST) as astream:
                async for _ in astream:
                    pass
            return astream.response

        return asyncio.run(run())

    final = collect("Lyon")
    assert final is not None and final.parsed == forecast("Lyon")
    with pytest.raises(OutputValidationError) as info:
        collect(WRONG)
    assert info.value.problem == WRONG_PROBLEM


def test_a_root_that_is_not_an_object_is_checked_unwrapped(
        manager: AIManager, fake_provider_server: FakeProviderServer) -> None:
    schema = {"type": "array", "items": {"type": "integer"}, "maxItems": 2}
    assert manager.driver("xai").send_message("n", output=schema).parsed == [0]
    with pytest.raises(OutputValidationError) as info:
        manager.driver("xai").send_message('{"result": [1, "2", 3]}', output=schema)
    assert info.value.problem == ("[1, '2', 3] is too long @ $; "
                                  "'2' is not of type 'integer' @ $[1]")


def test_batch_items_are_checked_each(manager: AIManager) -> None:
    results = manager.driver("openai").send_batch(["Paris", WRONG], output=FORECAST)
    assert results[0].parsed == forecast("Paris")
    assert isinstance(results[1], OutputValidationError)
    assert results[1].problem == WRONG_PROBLEM


def test_many_mismatches_are_counted_past_ten(manager: AIManager) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "array",
                                                     "items": {"type": "integer"}}}}
    wrong = json.dumps({"n": [str(i) for i in range(12)]})
    with pytest.raises(OutputValidationError) as info:
        manager.driver("openai").send_message(wrong, output=schema)
    shown = "; ".join(f"'{i}' is not of type 'integer' @ $.n[{i}]" for i in range(10))
    assert info.value.problem == f"{shown}; and 2 more"


# -- the schema itself, checked before anything is sent ---------------------------------------


@pytest.mark.parametrize(("schema", "words"), [
    ({"type": "strin"}, "the output schema is not a valid JSON schema: 'strin' is not a JSON "
                        "type (array, boolean, integer, null, number, object, string) @ $.type"),
    ({"type": "object", "properties": {"a": {"type": "string", "maxLength": "3"}}},
     "'3' is not of type 'integer' @ $.properties.a.maxLength"),
    ({"type": "object", "required": "a"}, "'a' is not of type 'array' @ $.required"),
    ({"type": "string", "pattern": "(unclosed"}, "'(unclosed' is not a 'regex' @ $.pattern"),
    ({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}},
     "the output schema's $ref '#/$defs/A' leads nowhere"),
    ({"$ref": "https://schemas.example.com/forecast.json"},
     "the output schema's $ref 'https://schemas.example.com/forecast.json' leads nowhere: it "
     "must point inside the schema (\"#/$defs/Name\"); no schema is fetched"),
    ({"$schema": 7, "type": "object"}, "the output schema's $schema must be a URI, not 7"),
])
def test_a_bad_schema_is_refused_before_sending(
        manager: AIManager, fake_provider_server: FakeProviderServer, schema: dict[str, Any],
        words: str) -> None:
    openai = manager.driver("openai")
    calls = [lambda: openai.send_message("x", output=schema),
             lambda: asyncio.run(openai.asend_message("x", output=schema)),
             lambda: openai.stream("x", output=schema),
             lambda: openai.send_batch(["x"], output=schema),
             lambda: manager.conversation("openai").output(schema)]
    for call in calls:
        with pytest.raises(ValidationError) as info:
            call()
        assert words in str(info.value)
        assert info.value.field == "output"
    assert list(fake_provider_server.requests) == []


def test_a_schema_of_an_older_draft_is_checked_by_that_draft(manager: AIManager) -> None:
    # Draft 7 keeps definitions under "definitions", and its exclusiveMaximum is a number;
    # in draft 4 exclusiveMaximum is a flag that goes with maximum.
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "properties": {"score": {"$ref": "#/definitions/Score"}},
              "definitions": {"Score": {"type": "number", "exclusiveMaximum": 10}}}
    openai = manager.driver("openai")
    assert openai.send_message("x", output=schema).parsed == {"score": 0}
    with pytest.raises(OutputValidationError) as info:
        openai.send_message('{"score": 10}', output=schema)
    assert info.value.problem == "10 is greater than or equal to the maximum of 10 @ $.score"
    draft4 = {**schema, "$schema": "http://json-schema.org/draft-04/schema#"}
    with pytest.raises(ValidationError, match="'maximum' is a dependency of 'exclusiveMaximum'"):
        openai.send_message("x", output=draft4)


def test_without_jsonschema_a_raw_schema_is_refused_with_how_to_install_it(
        manager: AIManager, fake_provider_server: FakeProviderServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # what `import` finds when missing
    monkeypatch.setattr(jtd_ai.schema_validator, "_validators", {})
    with pytest.raises(ValidationError) as info:
        manager.driver("openai").send_message("x", output=FORECAST)
    assert "needs the jsonschema package" in str(info.value)
    assert "pip install 'jtd-ai-core[jsonschema]'" in str(info.value)
    assert list(fake_provider_server.requests) == []
    # A Python type does not need it.
    assert manager.driver("openai").send_message("x", output=bool).parsed is False


def test_jsonschema_is_imported_only_when_a_raw_schema_is_used() -> None:
    code = ("import sys, jtd_ai\n"
            "from jtd_ai.structured import output_spec\n"
            "output_spec(list[int])\n"
            "before = 'jsonschema' in sys.modules\n"
            "output_spec({'type': 'integer'})\n"
            "print(before, 'jsonschema' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.split() == ["False", "True"]
