"""``jtd-ai batch`` with schemas: an item's ``schema`` (or ``--schema`` for every item) is
sent as the response format and the reply parsed into the line's ``"parsed"``; a reply that
does not match is that item's OutputValidationError line, and a schema that cannot be used
is that item's ValidationError line, never sent. The fake server answers a schema with its
smallest value (strings ``"echo: <prompt>"``), or with the prompt itself when it is JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Cli, jtd_fixture, keyed_server_fixture, lines, needs  # noqa: F401

from jtd_ai.batch import BatchProgress
from jtd_ai.cli.batch import _as_shown

pytestmark = needs("openai")

CITY = {"type": "object", "title": "City",
        "properties": {"name": {"type": "string"}, "big": {"type": "boolean"}},
        "required": ["name", "big"], "additionalProperties": False}

CITY_MODULE = '''
import attrs


@attrs.frozen
class Town:
    name: str
    rivers: list[str]
'''


def write(path: Path, *rows: Any) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def formats(jtd: Cli) -> dict[str, Any]:
    """The response format of each chat request the server received, by its last prompt."""
    found = {}
    for body in jtd.chat_bodies():
        content = body["messages"][-1]["content"]
        text = content if isinstance(content, str) else content[0]["text"]
        found[text] = body.get("response_format")
    return found


def test_item_schemas_are_sent_and_their_replies_parsed(jtd: Cli, tmp_path: Path) -> None:
    source = write(
        tmp_path / "in.jsonl",
        {"id": "city", "prompt": "Paris", "schema": CITY},
        {"id": "plain", "prompt": "Hello"},
        {"id": "word", "prompt": "Rome", "schema": {"type": "string"}},
        {"id": "wrong", "prompt": "5", "schema": {"type": "string"}},
        {"id": "not-a-schema", "prompt": "x", "schema": "a string"},
        {"id": "both", "prompt": "y", "schema": CITY,
         "options": {"response_format": {"type": "json_object"}}},
    )
    out = tmp_path / "out.jsonl"
    result = jtd("batch", str(source), "-o", str(out), "-q", "--json")
    assert result.exit_code == 1, result.stderr  # some items failed
    rows = {row["id"]: row for row in lines(out)}
    assert rows["city"]["ok"] is True
    assert rows["city"]["parsed"] == {"name": "echo: Paris", "big": False}
    assert json.loads(rows["city"]["content"]) == rows["city"]["parsed"]
    assert rows["plain"] == {**rows["plain"], "ok": True, "content": "echo: Hello"}
    assert "parsed" not in rows["plain"]
    assert rows["word"]["parsed"] == "echo: Rome"  # a string travels wrapped, comes back bare
    wrong = rows["wrong"]
    assert wrong["ok"] is False and "line" not in wrong  # it was sent: known by its id
    assert wrong["error"]["type"] == "OutputValidationError"
    assert wrong["error"]["partial"] == "5"
    for ident, line, words in (("not-a-schema", 5, "'schema' must be a JSON schema"),
                               ("both", 6, "leave response_format out")):
        assert rows[ident]["ok"] is False and rows[ident]["line"] == line
        assert rows[ident]["error"]["type"] == "ValidationError"
        assert words in rows[ident]["error"]["message"]
    sent = formats(jtd)
    assert set(sent) == {"Paris", "Hello", "Rome", "5"}  # the bad items were never sent
    assert sent["Paris"] == {"type": "json_schema", "json_schema": {
        "name": "City", "schema": CITY, "strict": True}}
    assert sent["Hello"] is None
    assert sent["Rome"]["json_schema"]["schema"]["properties"] == {"result": {"type": "string"}}
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary["failed"], summary["sent"]) == (3, 3, 6)

    # A re-run finds every item done (failed ones included) and sends nothing.
    jtd.server.requests.clear()
    again = jtd("batch", str(source), "-o", str(out), "-q", "--json")
    assert again.exit_code == 0, again.stderr
    assert jtd.chat_bodies() == []
    assert json.loads(again.stdout)["skipped"] == 6
    # --retry-failed sends the reply that did not match again, and reports the bad lines again.
    retried = jtd("batch", str(source), "-o", str(out), "-q", "--retry-failed")
    assert retried.exit_code == 1
    assert set(formats(jtd)) == {"5"}
    assert len(lines(out)) == 9


def test_a_batch_wide_schema_applies_to_items_without_their_own(
        jtd: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_batch_town.py").write_text(CITY_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    source = write(tmp_path / "in.jsonl",
                   {"id": 1, "prompt": "Lyon"},
                   {"id": 2, "prompt": "Paris", "schema": CITY},
                   {"id": 3, "prompt": '{"name": 5}'})
    out = tmp_path / "out.jsonl"
    result = jtd("batch", str(source), "-o", str(out), "-q", "--schema", "cli_batch_town:Town")
    assert result.exit_code == 1, result.stderr
    rows = {row["id"]: row for row in lines(out)}
    assert rows[1]["parsed"] == {"name": "echo: Lyon", "rivers": ["echo: Lyon"]}
    assert rows[2]["parsed"] == {"name": "echo: Paris", "big": False}  # its own schema wins
    assert rows[3]["error"]["type"] == "OutputValidationError"
    assert "does not match Town" in rows[3]["error"]["message"]
    names = {text: fmt["json_schema"]["name"] for text, fmt in formats(jtd).items()}
    assert names == {"Lyon": "Town", "Paris": "City", '{"name": 5}': "Town"}


@pytest.mark.parametrize(("args", "words"), [
    (("--schema", "missing.json"), "cannot read it"),
    (("--schema", "json:JSONDecoder"), "cannot derive a JSON schema for JSONDecoder"),
    (("--schema", "SCHEMA", "--option", "response_format", '{"type": "json_object"}'),
     "leave --option response_format out"),
])
def test_a_bad_batch_schema_stops_before_sending(jtd: Cli, tmp_path: Path,
                                                 args: tuple[str, ...], words: str) -> None:
    schema = tmp_path / "city.json"
    schema.write_text(json.dumps(CITY), encoding="utf-8")
    source = write(tmp_path / "in.jsonl", {"id": 1, "prompt": "Lyon"})
    result = jtd("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "-q",
                 *(str(schema) if a == "SCHEMA" else a for a in args))
    assert result.exit_code == 2
    assert words in result.stderr
    assert jtd.chat_bodies() == []
    assert not (tmp_path / "out.jsonl").exists()


def test_the_display_counts_a_reply_that_did_not_match_as_failed() -> None:
    progress = BatchProgress(total=None, done=5, failed=1)
    shown = _as_shown(progress, 2)
    assert (shown.done, shown.failed, shown.started) == (3, 3, progress.started)
    assert _as_shown(progress, 0) is progress
