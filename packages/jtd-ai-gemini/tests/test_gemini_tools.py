"""Function calling with Gemini: declarations, tool_choice, calls in replies, and results
sent back (with their thought signatures and names) on the next turn."""

from __future__ import annotations

import json

import pytest

from jtd_ai import FinishReason, Message, Tool, ToolCall, ValidationError

WEATHER = Tool("weather", "Get the weather for a city",
               {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]})


def test_declarations_and_tool_choice_modes(gemini, wire) -> None:
    no_input = Tool("now", "The current time")
    json_schema = Tool("lookup", "", {"type": "object", "additionalProperties": False,
                                      "properties": {"q": {"type": ["string", "null"]}}})
    driver, server = gemini(*(wire.ok(wire.reply({"text": "ok"})) for _ in range(5)))
    tools = [WEATHER, no_input, json_schema]
    for choice in (None, "auto", "none", "required", "weather"):
        driver.send_message("x", tools=tools, tool_choice=choice)
    assert server.bodies[0]["tools"] == [{"functionDeclarations": [
        {"name": "weather", "description": "Get the weather for a city",
         "parameters": dict(WEATHER.parameters)},
        {"name": "now", "description": "The current time"},
        {"name": "lookup", "parametersJsonSchema": dict(json_schema.parameters)},
    ]}]
    assert "toolConfig" not in server.bodies[0]
    assert [b["toolConfig"]["functionCallingConfig"] for b in server.bodies[1:]] == [
        {"mode": "AUTO"}, {"mode": "NONE"}, {"mode": "ANY"},
        {"mode": "ANY", "allowedFunctionNames": ["weather"]},
    ]


def test_function_calls_in_a_reply(gemini, wire) -> None:
    body = wire.reply(
        {"text": "Let me check."},
        {"functionCall": {"name": "weather", "args": {"city": "Florence"}},
         "thoughtSignature": "U0lHMQ=="},
        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
        finishMessage="Model generated function call(s).",
        usage=wire.usage(54, 15, thoughts=48),
    )
    driver, _ = gemini(wire.ok(body))
    reply = driver.send_message("weather in Florence and Paris?", tools=[WEATHER])
    assert reply.finish_reason is FinishReason.TOOL_CALLS
    assert reply.content == "Let me check."
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("weather", {"city": "Florence"}), ("weather", {"city": "Paris"})]
    ids = [c.id for c in reply.tool_calls]
    assert len(set(ids)) == 2
    assert "#" not in ids[0] and "#" not in ids[1]  # the signature is not in the id...
    assert reply.tool_calls[0].metadata == {"thought_signature": "U0lHMQ=="}  # ...but here
    assert reply.tool_calls[1].metadata == {}


def test_a_signature_in_an_id_of_an_earlier_version_still_goes_back(gemini, wire) -> None:
    driver, server = gemini(wire.ok(wire.reply({"text": "ok"})))
    old = ToolCall("gemini-call-0-1a2b3c4d5e#U0lHMQ==", "weather", '{"city": "Rome"}')
    driver.send_message([Message.user("x"), Message.assistant(tool_calls=[old]),
                         Message.tool("20 C", call_id=old.id)], tools=[WEATHER])
    (model_turn,) = [c for c in server.bodies[0]["contents"] if c["role"] == "model"]
    assert model_turn["parts"] == [{"functionCall": {"name": "weather",
                                                     "args": {"city": "Rome"}},
                                    "thoughtSignature": "U0lHMQ=="}]


def test_ids_are_stable_for_the_same_calls(gemini, wire) -> None:
    body = wire.reply({"functionCall": {"name": "weather", "args": {"city": "Rome"}}})
    driver, _ = gemini(wire.ok(body), wire.ok(body))
    first = driver.send_message("x", tools=[WEATHER]).tool_calls[0].id
    second = driver.send_message("x", tools=[WEATHER]).tool_calls[0].id
    assert first == second


def test_results_go_back_with_names_signatures_and_only_real_ids(gemini, wire) -> None:
    call_reply = wire.reply(
        {"functionCall": {"name": "weather", "args": {"city": "Florence"}},
         "thoughtSignature": "U0lHMQ=="},
        {"functionCall": {"name": "weather", "args": {"city": "Oslo"}, "id": "fc-7"}},
    )
    driver, server = gemini(wire.ok(call_reply), wire.ok(wire.reply({"text": "40 C and 2 C"})))
    history = [Message.user("weather?")]
    reply = driver.send_message(history, tools=[WEATHER])
    first, second = reply.tool_calls
    history += [reply.to_message(),
                Message.tool("40 C", call_id=first.id),
                Message.tool({"temp": 2, "unit": "C"}, call_id=second.id)]
    final = driver.send_message(history, tools=[WEATHER])
    assert final.content == "40 C and 2 C"
    assert server.bodies[1]["contents"] == [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Florence"}},
             "thoughtSignature": "U0lHMQ=="},
            {"functionCall": {"name": "weather", "args": {"city": "Oslo"}, "id": "fc-7"}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "weather", "response": {"result": "40 C"}}},
            {"functionResponse": {"name": "weather", "id": "fc-7",
                                  "response": {"temp": 2, "unit": "C"}}},
        ]},
    ]


def test_result_without_a_known_call_or_name_is_refused_before_sending(gemini) -> None:
    driver, server = gemini()
    with pytest.raises(ValidationError, match="pass name="):
        driver.send_message([Message.user("x"), Message.tool("42", call_id="elsewhere")])
    assert server.requests == []


def test_result_with_an_explicit_name_needs_no_earlier_call(gemini, wire) -> None:
    driver, server = gemini(wire.ok(wire.reply({"text": "ok"})))
    driver.send_message([Message.user("x"),
                         Message.tool("42", call_id="call_1", name="answer")])
    assert server.bodies[0]["contents"][1] == {"role": "user", "parts": [
        {"functionResponse": {"name": "answer", "id": "call_1", "response": {"result": "42"}}}]}


def test_assistant_call_with_non_object_arguments_is_refused(gemini) -> None:
    driver, _ = gemini()
    bad = Message.assistant(tool_calls=[ToolCall("c1", "weather", "[1, 2]")])
    with pytest.raises(ValidationError, match="JSON object"):
        driver.send_message([Message.user("x"), bad, Message.user("y")])


def test_conversation_tool_round_trip(gemini_ai, wire) -> None:
    call_reply = wire.reply({"functionCall": {"name": "weather", "args": {"city": "Rome"}},
                             "thoughtSignature": "QUJD"})
    manager, server = gemini_ai(wire.ok(call_reply), wire.ok(wire.reply({"text": "Sunny."})))
    chat = manager.conversation("gemini").tools(WEATHER).message("Weather in Rome?")
    call = chat.send().tool_calls[0]
    assert chat.tool_result(call.id, "sunny").send().content == "Sunny."
    model_turn, result_turn = server.bodies[1]["contents"][1:]
    assert model_turn["parts"][0]["thoughtSignature"] == "QUJD"
    assert result_turn["parts"][0]["functionResponse"]["name"] == "weather"
