"""Tools with Ollama: declarations, calls with object arguments, results sent back."""

from __future__ import annotations

import json

import pytest

from jtd_ai import FinishReason, Message, Tool, ValidationError

WEATHER = Tool("get_weather", "Get the weather in a given city",
               {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]})


def call(city: str, **fields) -> dict:
    return {"function": {"name": "get_weather", "arguments": {"city": city}}, **fields}


def test_tools_are_declared_openai_style(ollama, wire) -> None:
    driver, server = ollama(wire.ok(wire.final("ok")))
    driver.send_message("x", tools=[WEATHER, Tool("now")], tool_choice="auto")
    assert server.bodies[0]["tools"] == [
        {"type": "function", "function": {"name": "get_weather",
                                          "description": "Get the weather in a given city",
                                          "parameters": dict(WEATHER.parameters)}},
        {"type": "function", "function": {"name": "now",
                                          "parameters": {"type": "object", "properties": {}}}},
    ]


def test_tool_choice_none_sends_no_tools_and_forcing_is_refused(ollama, wire) -> None:
    driver, server = ollama(wire.ok(wire.final("ok")))
    driver.send_message("x", tools=[WEATHER], tool_choice="none")
    assert "tools" not in server.bodies[0]
    for choice in ("required", "get_weather"):
        with pytest.raises(ValidationError, match="cannot force"):
            driver.send_message("x", tools=[WEATHER], tool_choice=choice)
    assert len(server.requests) == 1


def test_tool_calls_in_a_reply_old_and_new_servers(ollama, wire) -> None:
    old = wire.final(tool_calls=[call("Tokyo")])
    new = wire.final(tool_calls=[call("Tokyo", id="call_ab12cd34")])
    driver, _ = ollama(wire.ok(old), wire.ok(new), wire.ok(old))
    first = driver.send_message("weather in tokyo?", tools=[WEATHER])
    assert first.finish_reason is FinishReason.TOOL_CALLS
    (tool_call,) = first.tool_calls
    assert (tool_call.name, json.loads(tool_call.arguments)) == ("get_weather", {"city": "Tokyo"})
    assert driver.send_message("x", tools=[WEATHER]).tool_calls[0].id == "call_ab12cd34"
    assert driver.send_message("x", tools=[WEATHER]).tool_calls[0].id == tool_call.id  # stable


def test_results_go_back_with_tool_name_and_only_real_ids(ollama, wire) -> None:
    reply_calls = wire.final(tool_calls=[call("Toronto"), call("Oslo", id="call_real0001")])
    driver, server = ollama(wire.ok(reply_calls), wire.ok(wire.final("11 and 2 degrees")))
    history = [Message.user("weather?")]
    reply = driver.send_message(history, tools=[WEATHER])
    synthetic, real = reply.tool_calls
    history += [reply.to_message(), Message.tool("11 degrees celsius", call_id=synthetic.id),
                Message.tool("2 degrees celsius", call_id=real.id)]
    assert driver.send_message(history, tools=[WEATHER]).content == "11 and 2 degrees"
    assert server.bodies[1]["messages"][1:] == [
        {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "get_weather", "arguments": {"city": "Toronto"}}},
            {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}},
             "id": "call_real0001"}]},
        {"role": "tool", "content": "11 degrees celsius", "tool_name": "get_weather"},
        {"role": "tool", "content": "2 degrees celsius", "tool_name": "get_weather",
         "tool_call_id": "call_real0001"},
    ]


def test_string_arguments_from_a_server_are_kept(ollama, wire) -> None:
    odd = wire.final(tool_calls=[{"function": {"name": "get_weather",
                                               "arguments": "{\"city\": \"Lima\"}"}}])
    driver, _ = ollama(wire.ok(odd))
    assert driver.send_message("x").tool_calls[0].parsed_arguments() == {"city": "Lima"}


def test_conversation_tool_round_trip(ollama_ai, wire) -> None:
    manager, server = ollama_ai(wire.ok(wire.final(tool_calls=[call("Rome")])),
                                wire.ok(wire.final("Sunny in Rome.")))
    chat = manager.conversation("ollama").tools(WEATHER).message("Weather in Rome?")
    tool_call = chat.send().tool_calls[0]
    assert chat.tool_result(tool_call.id, {"sky": "clear"}).send().content == "Sunny in Rome."
    assert server.bodies[1]["messages"][-1] == {
        "role": "tool", "content": "{\"sky\": \"clear\"}", "tool_name": "get_weather"}
