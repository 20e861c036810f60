"""``jtd-ai chat``: one-shot (streamed, stdin, --json, options), interactive, exit codes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from cli_helpers import Cli, jtd_fixture, keyed_server_fixture, needs  # noqa: F401

from jtd_ai import AIManager, TokenUsage


def text_of(message: dict[str, Any]) -> str:
    """The text of an OpenAI wire message (a string, or a list of text parts)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def test_echo_driver_needs_no_server_and_no_config(jtd: Cli) -> None:
    result = jtd("chat", "-p", "echo", "Hello, jtd-ai")
    assert result.exit_code == 0, result.output
    assert result.stdout == "echo: Hello, jtd-ai\n"  # the echo driver's documented reply
    assert "echo/echo-1" in result.stderr  # the token/cost line goes to stderr


@needs("openai")
def test_one_shot_streams_from_the_provider(jtd: Cli) -> None:
    result = jtd("chat", "Name three rivers")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "echo: Name three rivers\n"
    (body,) = jtd.chat_bodies()
    assert body["stream"] is True
    assert text_of(body["messages"][-1]) == "Name three rivers"


@needs("openai")
def test_piped_stdin_joins_the_prompt(jtd: Cli) -> None:
    result = jtd("chat", "--no-stream", "Summarise:", input="line one\nline two\n")
    assert result.exit_code == 0, result.stderr
    (body,) = jtd.chat_bodies()
    sent = text_of(body["messages"][-1])
    assert sent.startswith("Summarise:") and "line one\nline two" in sent
    assert result.stdout.strip() == f"echo: {sent}".strip()


@needs("openai")
def test_stdin_alone_is_the_prompt(jtd: Cli) -> None:
    result = jtd("chat", "--no-stream", "-q", input="only from stdin")
    assert result.exit_code == 0, result.stderr
    assert text_of(jtd.chat_bodies()[0]["messages"][-1]).strip() == "only from stdin"
    assert result.stderr == ""  # -q: no token/cost line


@needs("openai")
def test_json_output_carries_usage_and_exact_cost(jtd: Cli) -> None:
    result = jtd("chat", "--json", "-m", "gpt-4o", "-s", "Be brief", "Hello there")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["content"] == "echo: Hello there"
    assert data["model"].startswith("gpt-4o")  # as OpenAI answers: maybe a dated snapshot
    assert data["provider"] == "openai"
    body = jtd.chat_bodies()[0]
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    usage = data["usage"]
    with AIManager(config_file=False, env={}, store={"enabled": False},
                   providers={"openai": {"api_key": "k"}}) as ai:
        expected = ai.driver("openai").calculate_cost(
            TokenUsage(input_tokens=usage["input_tokens"],
                       output_tokens=usage["output_tokens"]), "gpt-4o")
    assert Decimal(data["cost"]) == expected


@needs("openai")
def test_options_reach_the_request(jtd: Cli) -> None:
    result = jtd("chat", "-q", "-o", "temperature", "0.25", "-o", "seed", "7",
                 "-o", "stop", '["END"]', "hi")
    assert result.exit_code == 0, result.stderr
    body = jtd.chat_bodies()[0]
    assert body["temperature"] == 0.25
    assert body["seed"] == 7
    assert body["stop"] in (["END"], "END")


@needs("openai")
def test_bad_option_is_a_usage_error_and_sends_nothing(jtd: Cli) -> None:
    out_of_range = jtd("chat", "-o", "temperature", "5", "hi")
    unknown = jtd("chat", "-o", "bogus", "1", "hi")
    assert out_of_range.exit_code == 2
    assert "temperature" in out_of_range.stderr
    assert unknown.exit_code == 2
    assert "bogus" in unknown.stderr
    assert jtd.chat_bodies() == []


@needs("openai")
def test_interactive_mode_keeps_the_conversation(jtd: Cli) -> None:
    result = jtd("chat", "-i", "-q", input="first question\nsecond question\nexit\n")
    assert result.exit_code == 0, result.stderr
    first, second = jtd.chat_bodies()
    assert [text_of(m) for m in first["messages"]] == ["first question"]
    assert [(m["role"], text_of(m)) for m in second["messages"]] == [
        ("user", "first question"), ("assistant", "echo: first question"),
        ("user", "second question")]
    assert result.stdout.splitlines() == ["echo: first question", "echo: second question"]


@needs("openai")
def test_interactive_error_keeps_the_session_going(jtd: Cli) -> None:
    result = jtd("chat", "-i", "-q", "-m", "missing-model", input="a\nb\n")
    assert result.exit_code == 0
    assert result.stderr.count("error:") == 2
    assert len(jtd.chat_bodies()) == 2


@needs("openai")
def test_provider_error_exits_3(jtd: Cli) -> None:
    result = jtd("chat", "-m", "missing-model", "hi")
    assert result.exit_code == 3
    assert "missing-model" in result.stderr
    assert result.stdout == ""


def test_usage_errors_exit_2(jtd: Cli) -> None:
    assert jtd("chat", "-p", "no-such-provider", "hi").exit_code == 2
    nothing = jtd("chat", input="")
    assert nothing.exit_code == 2
    assert "nothing to send" in nothing.stderr
    assert jtd("chat", "--bogus-flag").exit_code == 2
