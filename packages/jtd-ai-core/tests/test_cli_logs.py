"""``jtd-ai logs`` (list, show, search, --json) and ``jtd-ai chat -c`` / ``--cid``: the real
command, in-process through click's runner, against the fake provider server, with the
conversation log turned on in the config file."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_helpers import Cli, jtd_fixture, keyed_server_fixture, needs  # noqa: F401

pytestmark = needs("openai")


@pytest.fixture
def logging_jtd(jtd: Cli) -> Cli:
    """The command, with ``[plugins.log]`` in its config file."""
    with jtd.config.open("a", encoding="utf-8") as config:
        config.write("\n[plugins.log]\n")
    return jtd


def logs_json(jtd: Cli, *args: str) -> Any:
    result = jtd("logs", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def text_of(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def test_logs_before_anything_is_logged(logging_jtd: Cli) -> None:
    result = logging_jtd("logs")
    assert result.exit_code == 0
    assert "no conversation is logged yet" in result.stderr and result.stdout == ""
    assert logs_json(logging_jtd)["conversations"] == []
    assert logs_json(logging_jtd, "search", "x")["turns"] == []
    shown = logging_jtd("logs", "show")
    assert shown.exit_code == 2 and "no conversation is logged yet" in shown.stderr


def test_chat_turns_are_listed_shown_and_found(logging_jtd: Cli) -> None:
    jtd = logging_jtd
    assert jtd("chat", "-q", "-s", "Be brief.", "Name three rivers").exit_code == 0
    assert jtd("chat", "-q", "--no-stream", "Name two mountains").exit_code == 0
    listed = logs_json(jtd)["conversations"]
    assert [c["title"] for c in listed] == ["Name two mountains", "Name three rivers"]
    assert all(c["turns"] == 1 and c["provider"] == "openai" for c in listed)
    assert all(c["cost"] is not None for c in listed)
    table = jtd("logs", "list", "-n", "1")
    assert table.exit_code == 0
    assert "Name two mountains" in table.stdout and "Name three rivers" not in table.stdout
    assert listed[0]["id"][:12] in table.stdout

    rivers = listed[1]["id"]
    shown = jtd("logs", "show", rivers[:8])
    assert shown.exit_code == 0, shown.stderr
    assert f"# Conversation {rivers}" in shown.stdout
    assert "Be brief." in shown.stdout and "Name three rivers" in shown.stdout
    assert "echo: Name three rivers" in shown.stdout
    data = logs_json(jtd, "show", rivers)
    [turn] = data["turns"]
    assert (turn["prompt"], turn["reply"], turn["operation"], turn["system"]) == (
        "Name three rivers", "echo: Name three rivers", "stream", "Be brief.")
    latest = logs_json(jtd, "show")
    assert latest["id"] == listed[0]["id"]

    found = logs_json(jtd, "search", "MOUNTAIN")["turns"]
    assert [t["prompt"] for t in found] == ["Name two mountains"]
    table = jtd("logs", "search", "rivers")
    assert table.exit_code == 0 and "Name three rivers" in table.stdout
    none = jtd("logs", "search", "volcano")
    assert none.exit_code == 0 and "no logged turn mentions 'volcano'" in none.stderr


def test_chat_c_continues_the_latest_conversation(logging_jtd: Cli) -> None:
    jtd = logging_jtd
    assert jtd("chat", "-q", "-s", "Be brief.", "-o", "temperature", "0.25",
               "First question").exit_code == 0
    assert jtd("chat", "-q", "Unrelated").exit_code == 0
    first_id = logs_json(jtd)["conversations"][1]["id"]
    jtd.server.requests.clear()
    # --cid picks the older one; its system prompt and options carry on.
    result = jtd("chat", "-q", "--cid", first_id[:10], "Second question")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "echo: Second question\n"
    (body,) = jtd.chat_bodies()
    assert [(m["role"], text_of(m)) for m in body["messages"]] == [
        ("system", "Be brief."), ("user", "First question"),
        ("assistant", "echo: First question"), ("user", "Second question")]
    assert body["temperature"] == 0.25
    # -c continues the latest: now that one.
    jtd.server.requests.clear()
    assert jtd("chat", "-q", "-c", "Third question").exit_code == 0
    (body,) = jtd.chat_bodies()
    assert [text_of(m) for m in body["messages"]][-3:] == [
        "Second question", "echo: Second question", "Third question"]
    data = logs_json(jtd, "show", first_id)
    assert [t["prompt"] for t in data["turns"]] == [
        "First question", "Second question", "Third question"]
    assert data["turns"] and len(logs_json(jtd)["conversations"]) == 2


def test_chat_c_with_given_options_uses_them(logging_jtd: Cli) -> None:
    jtd = logging_jtd
    assert jtd("chat", "-q", "-s", "Old system", "Hello").exit_code == 0
    jtd.server.requests.clear()
    assert jtd("chat", "-q", "-c", "-s", "New system", "--json", "Again").exit_code == 0
    (body,) = jtd.chat_bodies()
    assert body["messages"][0]["content"] in ("New system",
                                              [{"type": "text", "text": "New system"}])


def test_continuing_needs_a_logged_conversation(logging_jtd: Cli) -> None:
    result = logging_jtd("chat", "-c", "hello")
    assert result.exit_code == 2 and "no conversation is logged yet" in result.stderr
    assert logging_jtd("chat", "-q", "hello").exit_code == 0
    unknown = logging_jtd("chat", "--cid", "ffffffff", "hello")
    assert unknown.exit_code == 2 and "no logged conversation has the id" in unknown.stderr
    both = logging_jtd("chat", "-c", "--load", "x.json", "hello")
    assert both.exit_code == 2 and "--load and -c/--cid" in both.stderr
    bad = logging_jtd("logs", "show", "not-an-id!")
    assert bad.exit_code == 2 and "is not a conversation id" in bad.stderr


def test_without_the_log_plugin_nothing_is_logged(jtd: Cli) -> None:
    assert jtd("chat", "-q", "Not logged").exit_code == 0
    assert logs_json(jtd)["conversations"] == []


def test_chat_c_i_continues_interactively_and_its_turns_join(logging_jtd: Cli) -> None:
    jtd = logging_jtd
    assert jtd("chat", "-q", "Opening line").exit_code == 0
    jtd.server.requests.clear()
    result = jtd("chat", "-i", "-q", "-c", input="Next line\n/exit\n")
    assert result.exit_code == 0, result.stderr
    (body,) = jtd.chat_bodies()
    assert [text_of(m) for m in body["messages"]] == [
        "Opening line", "echo: Opening line", "Next line"]
    [conversation] = logs_json(jtd)["conversations"]
    assert conversation["turns"] == 2


def test_continuing_with_the_log_off_says_the_turn_is_not_kept(logging_jtd: Cli) -> None:
    jtd = logging_jtd
    assert jtd("chat", "-q", "Logged once").exit_code == 0
    text = jtd.config.read_text(encoding="utf-8").replace("[plugins.log]",
                                                          "[plugins.log]\nenabled = false")
    jtd.config.write_text(text, encoding="utf-8")
    result = jtd("chat", "-q", "-c", "Not logged")
    assert result.exit_code == 0 and result.stdout == "echo: Not logged\n"
    assert "the conversation log is off" in result.stderr
    [conversation] = logs_json(jtd)["conversations"]
    assert conversation["turns"] == 1
