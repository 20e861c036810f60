"""``jtd-ai chat -i`` without a terminal (click's runner: plain lines, prompts on stderr):
multi-line entries, slash commands that never reach the model, saved conversations. The
terminal itself (line editing, history, Ctrl-C) is tested in test_cli_repl.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Cli, jtd_fixture, keyed_server_fixture, needs  # noqa: F401

from jtd_ai.cli.repl import read_entry


def sent(jtd: Cli) -> list[list[tuple[str, str]]]:
    """(role, text) of every message of every chat request the server received."""
    def text(message: dict[str, Any]) -> str:
        content = message["content"]
        return content if isinstance(content, str) else "".join(
            part.get("text", "") for part in content)
    return [[(m["role"], text(m)) for m in body["messages"]] for body in jtd.chat_bodies()]


# -- multi-line entries ----------------------------------------------------------------------


def entry(*lines: str) -> tuple[str, list[str]]:
    """What read_entry makes of these lines, and the prompts it showed."""
    left = list(lines)
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        if not left:
            raise EOFError
        return left.pop(0)

    return read_entry(read), prompts


def test_a_line_ending_in_a_backslash_continues() -> None:
    assert entry("first \\", "second\\", "third") == ("first \nsecond\nthird",
                                                       ["you> ", "...> ", "...> "])
    assert entry("just one") == ("just one", ["you> "])


def test_triple_quotes_make_a_block() -> None:
    assert entry('"""', "def f():", "", "    return 1\\", '"""') == (
        "def f():\n\n    return 1\\", ["you> "] + ["...> "] * 4)
    assert entry('"""Dear model,', "hello", 'bye"""') == ("Dear model,\nhello\nbye",
                                                           ["you> ", "...> ", "...> "])
    assert entry('"""on one line"""')[0] == "on one line"


def test_an_unfinished_block_at_the_end_of_input_is_dropped() -> None:
    with pytest.raises(EOFError):
        entry('"""', "never closed")
    with pytest.raises(EOFError):
        entry("continued \\")


# -- commands, through click's runner (no terminal: plain lines, prompts on stderr) -------------


@needs("openai")
def test_slash_commands_are_never_sent(jtd: Cli) -> None:
    result = jtd("chat", "-i", "-q", input="/help\n/model gpt-4o\n/system Be terse\nhello\n"
                                           "/system\n/model\n/bogus\n//slash text\n/exit\n"
                                           "never sent\n")
    assert result.exit_code == 0, result.stderr
    assert sent(jtd) == [
        [("system", "Be terse"), ("user", "hello")],
        [("system", "Be terse"), ("user", "hello"), ("assistant", "echo: hello"),
         ("user", "/slash text")]]
    assert [b["model"] for b in jtd.chat_bodies()] == ["gpt-4o", "gpt-4o"]
    assert "/system [TEXT]" in result.stderr  # the help
    assert "system prompt: Be terse" in result.stderr
    assert "model: gpt-4o" in result.stderr
    assert "unknown command /bogus" in result.stderr
    assert result.stdout.splitlines() == ["echo: hello", "echo: /slash text"]


@needs("openai")
def test_multi_line_entries_are_one_message(jtd: Cli) -> None:
    result = jtd("chat", "-i", "-q", input='first \\\nsecond\n"""\nblock\n\n  indented\n"""\n')
    assert result.exit_code == 0, result.stderr
    assert [turns[-1] for turns in sent(jtd)] == [("user", "first \nsecond"),
                                                  ("user", "block\n\n  indented")]


@needs("openai")
def test_reset_and_removing_the_system_prompt(jtd: Cli) -> None:
    result = jtd("chat", "-i", "-q", "-s", "Start", input="a\n/reset\nb\n/system -\nc\n")
    assert result.exit_code == 0, result.stderr
    assert sent(jtd) == [
        [("system", "Start"), ("user", "a")],
        [("system", "Start"), ("user", "b")],
        [("user", "b"), ("assistant", "echo: b"), ("user", "c")]]


@needs("openai")
def test_one_conversation_in_the_log_until_reset(jtd: Cli) -> None:
    """``/system -`` builds the conversation again, and ``/model`` changes it: the turns stay
    one logged conversation (its id is kept); ``/reset`` starts a new one."""
    with jtd.config.open("a", encoding="utf-8") as config:
        config.write("\n[plugins.log]\n")
    result = jtd("chat", "-i", "-q", "-s", "Start",
                 input="a\n/system -\nb\n/model gpt-4o\nc\n/reset\nd\n")
    assert result.exit_code == 0, result.stderr
    listed = jtd("logs", "--json")
    assert listed.exit_code == 0, listed.stderr
    conversations = json.loads(listed.stdout)["conversations"]
    assert [(c["title"], c["turns"]) for c in conversations] == [("d", 1), ("a", 3)]
    shown = json.loads(jtd("logs", "show", conversations[1]["id"], "--json").stdout)
    assert [(t["prompt"], t["system"]) for t in shown["turns"]] == [
        ("a", "Start"), ("b", None), ("c", None)]


@needs("openai")
def test_a_bad_model_name_is_refused_and_the_session_goes_on(jtd: Cli) -> None:
    result = jtd("chat", "-i", "-q", input=f"/model {'m' * 600}\nhi\n")
    assert result.exit_code == 0
    assert "error: the model name is 600 characters long" in result.stderr
    assert jtd.chat_bodies()[0]["model"].startswith("gpt-4o-mini")  # the default stayed


@needs("openai")
def test_save_then_continue_with_load(jtd: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "talk.json"
    first = jtd("chat", "-i", "-q", "-m", "gpt-4o", "-s", "Be brief", "-o", "temperature",
                "0.5", input=f"q1\n/save {saved}\n")
    assert first.exit_code == 0, first.stderr
    assert f"--load {saved}" in first.stderr
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data == {"format": "jtd-ai-chat", "version": 1, "provider": "openai",
                    "model": "gpt-4o", "system": "Be brief", "options": {"temperature": 0.5},
                    "messages": [{"role": "user", "content": "q1"},
                                 {"role": "assistant", "content": "echo: q1"}]}
    # Continued later: the same provider, model, system prompt and options, then /save
    # without a name writes back to the file it came from.
    second = jtd("chat", "-i", "-q", "--load", str(saved), input="q2\n/save\n")
    assert second.exit_code == 0, second.stderr
    assert "2 message(s) loaded" in second.stderr
    body = jtd.chat_bodies()[-1]
    assert (body["model"], body["temperature"]) == ("gpt-4o", 0.5)
    assert sent(jtd)[-1] == [("system", "Be brief"), ("user", "q1"),
                             ("assistant", "echo: q1"), ("user", "q2")]
    assert len(json.loads(saved.read_text(encoding="utf-8"))["messages"]) == 4
    # A one-shot prompt continues it too; options given now win over the saved ones.
    third = jtd("chat", "-q", "--load", str(saved), "-m", "gpt-4o-mini", "q3")
    assert third.exit_code == 0, third.stderr
    assert jtd.chat_bodies()[-1]["model"] == "gpt-4o-mini"
    assert len(sent(jtd)[-1]) == 6


@needs("openai")
def test_load_refuses_what_is_not_a_saved_chat(jtd: Cli, tmp_path: Path) -> None:
    missing = jtd("chat", "-i", "--load", str(tmp_path / "nope.json"))
    assert missing.exit_code == 2
    assert "cannot load" in missing.stderr
    other = tmp_path / "other.json"
    for text, reason in [("{not json", "cannot load"), ('{"messages": []}', "not a saved"),
                         ('{"format": "jtd-ai-chat", "version": 1, "messages": '
                          '[{"role": "robot", "content": "x"}]}', "role must be")]:
        other.write_text(text, encoding="utf-8")
        result = jtd("chat", "-i", "--load", str(other), input="hi\n")
        assert result.exit_code == 2, result.output
        assert reason in result.stderr
    assert jtd.chat_bodies() == []


@needs("openai")
def test_save_reports_a_file_it_cannot_write(jtd: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = jtd("chat", "-i", "-q", input=f"/save\n/save {blocker}/inside.json\nhi\n")
    assert result.exit_code == 0
    assert "usage: /save FILE" in result.stderr
    assert "cannot save" in result.stderr
    assert len(jtd.chat_bodies()) == 1  # the session went on
