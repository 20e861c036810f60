"""Tool calls and cache hits in the command's output: ``jtd-ai chat`` (streamed, whole,
``--json``) and ``jtd-ai batch`` lines show the calls a reply asks for (name, arguments, id),
and a reply from the reply cache says ``cached`` where the cost would be. The fake server
answers a request offering tools with a call of the first one, arguments
``{"query": <prompt>}``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_helpers import Cli, jtd_fixture, keyed_server_fixture, lines, needs  # noqa: F401

pytestmark = needs("openai")

TOOLS = json.dumps([{"type": "function", "function": {
    "name": "lookup", "description": "Look a word up.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]}}}])
CALL = re.compile(r'^tool call: lookup \{"query": "weather in Paris"\} \[(?P<id>[^\]]+)\]$')


def test_chat_prints_the_tool_calls_streamed_and_whole(jtd: Cli) -> None:
    for extra in ((), ("--no-stream",)):
        result = jtd("chat", "-o", "tools", TOOLS, *extra, "weather in Paris")
        assert result.exit_code == 0, result.stderr
        (line,) = result.stdout.splitlines()  # no text, one call
        match = CALL.match(line)
        assert match is not None, result.stdout
        assert match["id"]
        assert "openai/" in result.stderr  # the status line still follows on stderr
    assert all(body["tools"][0]["function"]["name"] == "lookup" for body in jtd.chat_bodies())


def test_chat_json_carries_the_tool_calls(jtd: Cli) -> None:
    result = jtd("chat", "-o", "tools", TOOLS, "--json", "weather in Paris")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    (call,) = data["tool_calls"]
    assert call["name"] == "lookup" and call["id"]
    assert json.loads(call["arguments"]) == {"query": "weather in Paris"}
    assert data["finish_reason"] == "tool_calls" and data["cached"] is False
    plain = json.loads(jtd("chat", "--json", "hello").stdout)
    assert plain["tool_calls"] == [] and plain["content"] == "echo: hello"


def test_batch_lines_carry_the_tool_calls(jtd: Cli, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "t", "prompt": "weather in Paris",
                                  "options": {"tools": json.loads(TOOLS)}}) + "\n"
                      + json.dumps({"id": "p", "prompt": "hi"}) + "\n", encoding="utf-8")
    result = jtd("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "-q")
    assert result.exit_code == 0, result.stderr
    rows = {row["id"]: row for row in lines(tmp_path / "out.jsonl")}
    (call,) = rows["t"]["tool_calls"]
    assert (call["name"], json.loads(call["arguments"])) == ("lookup",
                                                             {"query": "weather in Paris"})
    assert rows["p"]["tool_calls"] == []


def caching(jtd: Cli) -> Cli:
    with jtd.config.open("a", encoding="utf-8") as config:
        config.write('\n[plugins.cache]\nttl = "1h"\n')
    return jtd


def test_a_cache_hit_says_cached_instead_of_a_cost(jtd: Cli, tmp_path: Path) -> None:
    caching(jtd)
    first = jtd("chat", "--no-stream", "Name three rivers")
    assert first.exit_code == 0, first.stderr
    assert "$" in first.stderr and "cached" not in first.stderr
    for extra in (("--no-stream",), ()):  # a stream is replayed from the cache too
        again = jtd("chat", *extra, "Name three rivers")
        assert again.exit_code == 0, again.stderr
        assert again.stdout == first.stdout
        assert re.search(r"\[openai/[^\]]*: \d+ in, \d+ out, cached", again.stderr), again.stderr
        assert "$" not in again.stderr
    data = json.loads(jtd("chat", "--json", "Name three rivers").stdout)
    assert data["cached"] is True and data["cost"] == "0"
    assert len(jtd.chat_bodies()) == 1  # only the first reached the server

    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "prompt": "Name three rivers"}\n{"id": 2, "prompt": "new"}\n',
                      encoding="utf-8")
    assert jtd("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "-q").exit_code == 0
    rows = {row["id"]: row for row in lines(tmp_path / "out.jsonl")}
    assert (rows[1]["cached"], rows[2]["cached"]) == (True, False)
