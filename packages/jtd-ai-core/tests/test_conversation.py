"""The fluent builder: history across turns, options, streaming, sync/async parity."""

from __future__ import annotations

import httpx
import pytest
from core_helpers import echo_reply

from jtd_ai import AIManager, Message, Role, Tool, ToolCall, ValidationError
from jtd_ai.testing import ScriptedTransport


def test_history_is_kept_across_turns(manager_with) -> None:
    transport = ScriptedTransport(httpx.Response(200, json=echo_reply("first answer")),
                                  httpx.Response(200, json=echo_reply("second answer")))
    conversation = manager_with(transport).conversation().system("Be brief.").message("Hello!")
    assert conversation.send().content == "first answer"
    conversation.message("And again?").send()
    second = transport.bodies[1]["messages"]
    assert second == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "And again?"},
    ]
    assert [m.role for m in conversation.history] == [Role.USER, Role.ASSISTANT, Role.USER,
                                                      Role.ASSISTANT]


def test_a_failed_send_keeps_the_question_for_a_retry(manager_with) -> None:
    transport = ScriptedTransport(httpx.Response(400, json={"error": "nope"}),
                                  httpx.Response(200, json=echo_reply("now ok")))
    conversation = manager_with(transport).conversation().message("Q")
    with pytest.raises(Exception, match="nope"):
        conversation.send()
    assert [m.text for m in conversation.history] == ["Q"]
    assert conversation.send().content == "now ok"


def test_stream_joins_the_history_when_it_ends(manager_with) -> None:
    conversation = manager_with().conversation().message("streamed words")
    stream = conversation.stream()
    assert len(conversation.history) == 1
    text = "".join(chunk.delta for chunk in stream)
    assert text == "echo: streamed words"
    assert conversation.history[-1] == Message.assistant(text)
    assert conversation.last_response is stream.response


async def test_async_forms_match_the_sync_ones(manager_with) -> None:
    manager = manager_with()
    sync = manager.conversation().message("same").send()
    asynchronous = await manager.conversation().message("same").asend()
    conversation = manager.conversation().message("same")
    stream = conversation.astream()
    streamed = "".join([c.delta async for c in stream])
    assert sync.content == asynchronous.content == streamed
    assert stream.response is not None and stream.response.usage == sync.usage
    assert conversation.history[-1].text == streamed


def test_options_and_model_reach_the_request(manager_with) -> None:
    transport = ScriptedTransport(httpx.Response(200, json=echo_reply("x", model="echo-large")))
    conversation = (manager_with(transport).conversation().model("echo-large")
                    .temperature(0.2).max_tokens(5).extra(mode="fast").message("hi"))
    request = conversation.request()
    assert (request.model, request.temperature, request.max_tokens) == ("echo-large", 0.2, 5)
    conversation.send()
    body = transport.bodies[0]
    assert body["model"] == "echo-large"
    assert body["max_tokens"] == 5
    assert body["mode"] == "fast"


def test_nothing_to_send_is_a_validation_error(manager_with) -> None:
    conversation = manager_with().conversation()
    with pytest.raises(ValidationError, match="nothing to send"):
        conversation.send()
    conversation.message("hi").send()
    with pytest.raises(ValidationError, match="nothing to send"):
        conversation.send()  # the last turn is the assistant's


def test_tool_round_trip_history() -> None:
    conversation = AIManager(config_file=False, env={}).conversation("echo")
    conversation.tools(Tool("lookup")).tool_choice("lookup")
    call = ToolCall("call_1", "lookup", '{"q": "x"}')
    conversation.message("find x").message(Message.assistant(tool_calls=[call]))
    conversation.tool_result("call_1", {"answer": 42}, name="lookup")
    request = conversation.request()
    assert request.messages[-1].role is Role.TOOL
    assert request.messages[-1].tool_call_id == "call_1"
    assert request.messages[-1].text == '{"answer": 42}'
    assert request.tool_choice == "lookup"


def test_tool_choice_must_name_a_given_tool() -> None:
    conversation = AIManager(config_file=False, env={}).conversation("echo")
    conversation.tools(Tool("lookup"))
    with pytest.raises(ValidationError) as info:
        conversation.tool_choice("search")
    assert info.value.field == "tool_choice"


def test_default_facade_builds_conversations() -> None:
    from jtd_ai import AI

    assert AI.conversation("echo").message("hi").request().model == "echo-1"
