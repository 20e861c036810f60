"""``jtd-ai chat --schema``: a reply matching a JSON schema file or a ``module:Class`` type,
printed as the parsed JSON (the fake server answers a schema with its smallest value, each
string being ``"echo: <prompt>"``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Cli, jtd_fixture, keyed_server_fixture, needs  # noqa: F401

CITY_MODULE = '''
import attrs


@attrs.frozen
class City:
    name: str
    rivers: list[str]
    capital: bool
'''


@needs("openai")
def test_schema_file_prints_the_parsed_json(jtd: Cli, tmp_path: Path) -> None:
    schema = {"type": "object", "title": "Answer",
              "properties": {"answer": {"type": "string"}, "sure": {"type": "boolean"}},
              "required": ["answer", "sure"], "additionalProperties": False}
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    result = jtd("chat", "--schema", str(path), "Is it raining?")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"answer": "echo: Is it raining?", "sure": False}
    (body,) = jtd.chat_bodies()
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "Answer", "schema": schema, "strict": True}}
    assert "openai/" in result.stderr  # the status line still goes to stderr


@needs("gemini")
def test_module_class_prints_the_parsed_json(jtd: Cli, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_schema_city.py").write_text(CITY_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = jtd("chat", "-p", "gemini", "-m", "gemini-2.5-flash", "--schema",
                 "cli_schema_city:City", "Paris")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"name": "echo: Paris", "rivers": ["echo: Paris"],
                                         "capital": False}
    with_json = jtd("chat", "-p", "gemini", "-m", "gemini-2.5-flash", "--schema",
                    "cli_schema_city:City", "--json", "Paris")
    data = json.loads(with_json.stdout)
    assert data["parsed"]["name"] == "echo: Paris"
    assert json.loads(data["content"]) == data["parsed"]


@needs("openai")
@pytest.mark.parametrize(("value", "words"), [
    ("no_such_module_here:City", "cannot import no_such_module_here"),
    ("json:NoSuchThing", "json has no NoSuchThing"),
    ("missing.json", "cannot read it"),
    ("json:JSONDecoder", "cannot derive a JSON schema for JSONDecoder"),
])
def test_bad_schema_is_a_usage_error_before_sending(jtd: Cli, value: str, words: str) -> None:
    result = jtd("chat", "--schema", value, "hi")
    assert result.exit_code == 2
    assert words in result.stderr
    assert jtd.chat_bodies() == []


@needs("openai")
def test_a_reply_that_does_not_match_is_a_provider_error(jtd: Cli, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_schema_city.py").write_text(CITY_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = jtd("chat", "--schema", "cli_schema_city:City", '{"name": 5}')
    assert result.exit_code == 3, result.stderr
    assert "does not match City" in result.stderr


ANSWER = {"type": "object", "title": "Answer",
          "properties": {"answer": {"type": "string"}, "sure": {"type": "boolean"}},
          "required": ["answer", "sure"], "additionalProperties": False}


@needs("openai")
def test_a_reply_that_does_not_match_the_schema_file_says_where(jtd: Cli,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(ANSWER), encoding="utf-8")
    result = jtd("chat", "--schema", str(path), '{"answer": "yes", "sure": "very"}')
    assert result.exit_code == 3, result.stderr
    assert ("the reply does not match the JSON schema 'Answer': 'very' is not of type "
            "'boolean' @ $.sure") in result.stderr
    assert result.stdout == ""


@needs("openai")
@pytest.mark.parametrize(("schema", "words"), [
    ({"type": "object", "properties": {"answer": {"type": "text"}}},
     "the output schema is not a valid JSON schema: 'text' is not a JSON type (array, boolean, "
     "integer, null, number, object, string) @ $.properties.answer.type"),
    ({"type": "object", "properties": {"answer": {"$ref": "#/$defs/Answer"}}},
     "the output schema's $ref '#/$defs/Answer' leads nowhere"),
])
def test_a_schema_file_that_is_not_a_valid_schema_is_refused_before_sending(
        jtd: Cli, tmp_path: Path, schema: dict[str, object], words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    result = jtd("chat", "--schema", str(path), "hi")
    assert result.exit_code == 2
    assert f"--schema {path}: {words}" in result.stderr
    assert "nothing was sent" in result.stderr
    assert jtd.chat_bodies() == []


def test_schema_needs_a_prompt(jtd: Cli) -> None:
    result = jtd("chat", "-i", "--schema", "x.json")
    assert result.exit_code == 2
    assert "--schema needs a prompt" in result.stderr
