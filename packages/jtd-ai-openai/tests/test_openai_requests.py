"""What we send: request JSON, headers, query parameters, and input refused before sending."""

from __future__ import annotations

import json

import httpx
import pytest

from jtd_ai import (
    ChatRequest,
    ConfigurationError,
    ImagePart,
    Message,
    ResponseFormat,
    Tool,
    ToolCall,
    ValidationError,
)
from jtd_ai.testing import ScriptedTransport
from jtd_ai_openai.testing import completion

WEATHER = Tool("weather", "Get the weather", {"type": "object",
                                               "properties": {"city": {"type": "string"}}})


def body(protocol, *messages: Message, stream: bool = False, model: str = "gpt-4o-mini",
         **options):
    request = ChatRequest.build(messages or (Message.user("hi"),), model, **options)
    return protocol().chat_request(request, stream=stream).json


def test_every_role_and_part(protocol) -> None:
    call = ToolCall("call_1", "weather", '{"city":"Rome"}')
    messages = (
        Message.system("Be brief."),
        Message.user("What is this?", images=[ImagePart(url="https://x.test/a.png"),
                                              ImagePart.from_bytes(b"\x89PNG", "image/png")]),
        Message.assistant(tool_calls=[call]),
        Message.tool("20 C", call_id="call_1", name="weather"),
        Message.assistant("It is 20 C.", tool_calls=[call]),
        Message.user("Thanks"),
    )
    assert body(protocol, *messages)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
        ]},
        {"role": "assistant", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "content": "20 C", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "It is 20 C.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "user", "content": "Thanks"},
    ]


def test_system_role_can_be_developer(protocol) -> None:
    request = ChatRequest.build([Message.system("rules"), Message.user("hi")], "o3")
    sent = protocol(system_role="developer").chat_request(request, stream=False).json
    assert sent["messages"][0] == {"role": "developer", "content": "rules"}


def test_images_outside_user_messages_are_refused(protocol) -> None:
    bad = Message("assistant", (ImagePart(url="https://x.test/a.png"),))
    with pytest.raises(ValidationError, match=r"messages\[1\].*only user messages"):
        body(protocol, Message.user("hi"), bad)


def test_options_tools_and_formats(protocol) -> None:
    sent = body(protocol, temperature=0.2, top_p=0.9, max_tokens=50, stop=["END", "STOP"],
                seed=7, tools=[WEATHER], tool_choice="weather",
                response_format=ResponseFormat.json_schema({"type": "object"}, name="answer"))
    assert sent == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2, "top_p": 0.9, "max_tokens": 50, "stop": ["END", "STOP"], "seed": 7,
        "tools": [{"type": "function", "function": {
            "name": "weather", "description": "Get the weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        # An open object (no additionalProperties: false) is beyond strict mode: not strict.
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "schema": {"type": "object"}, "strict": False}},
    }


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_keywords(protocol, choice: str) -> None:
    assert body(protocol, tools=[WEATHER], tool_choice=choice)["tool_choice"] == choice


def test_json_object_format(protocol) -> None:
    assert body(protocol, response_format="json")["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(("model", "field"), [
    ("gpt-4o-mini", "max_tokens"), ("gpt-4.1", "max_tokens"), ("my-local-llama", "max_tokens"),
    ("o1", "max_completion_tokens"), ("o3-mini", "max_completion_tokens"),
    ("o4-mini-2025-04-16", "max_completion_tokens"), ("gpt-5", "max_completion_tokens"),
    ("gpt-5.4-mini", "max_completion_tokens"), ("openai/gpt-5-nano", "max_completion_tokens"),
])
def test_max_tokens_field_follows_the_model_family(protocol, model: str, field: str) -> None:
    sent = body(protocol, model=model, max_tokens=99)
    assert sent[field] == 99
    assert ({"max_tokens", "max_completion_tokens"} & set(sent)) == {field}


def test_max_tokens_field_option_and_extra_override(protocol) -> None:
    request = ChatRequest.build([Message.user("hi")], "gpt-4o-mini", max_tokens=10)
    forced = protocol(max_tokens_field="max_completion_tokens").chat_request(request,
                                                                           stream=False).json
    assert forced["max_completion_tokens"] == 10 and "max_tokens" not in forced
    sent = body(protocol, model="gpt-5", max_tokens=10, extra={"max_tokens": 20})
    assert sent["max_tokens"] == 20 and "max_completion_tokens" not in sent


def test_extra_fields_pass_through_and_win(protocol) -> None:
    sent = body(protocol, temperature=0.5, extra={"user": "u-42", "temperature": 1.0,
                                                  "reasoning_effort": "low", "n": 1})
    assert sent["user"] == "u-42"
    assert sent["temperature"] == 1.0
    assert sent["reasoning_effort"] == "low"
    assert sent["n"] == 1


@pytest.mark.parametrize("n", [2, 0, True])
def test_n_other_than_one_is_refused(protocol, n: object) -> None:
    with pytest.raises(ValidationError, match="one reply") as info:
        body(protocol, extra={"n": n})
    assert info.value.field == "extra.n"


@pytest.mark.parametrize("key", ["stream", "model", "messages"])
def test_extra_cannot_replace_what_we_control(protocol, key: str) -> None:
    with pytest.raises(ValidationError, match=key):
        body(protocol, extra={key: True})


def test_stream_asks_for_usage_and_merges_stream_options(protocol) -> None:
    assert body(protocol, stream=True)["stream"] is True
    assert body(protocol, stream=True)["stream_options"] == {"include_usage": True}
    merged = body(protocol, stream=True, extra={"stream_options": {"include_obfuscation": False}})
    assert merged["stream_options"] == {"include_usage": True, "include_obfuscation": False}
    assert "stream" not in body(protocol) and "stream_options" not in body(protocol)


def test_headers_path_and_query_on_the_wire(openai_driver, key: str) -> None:
    transport = ScriptedTransport(httpx.Response(200, json=completion("ok")))
    driver = openai_driver(transport, organization="org-1", project="proj_2",
                           base_url="https://proxy.example/openai/v1", api_version="2025-04-01")
    driver.send_message("hi")
    sent = transport.requests[0]
    assert sent.url.path == "/openai/v1/chat/completions"
    assert sent.url.params["api-version"] == "2025-04-01"
    assert sent.headers["authorization"] == f"Bearer {key}"
    assert sent.headers["openai-organization"] == "org-1"
    assert sent.headers["openai-project"] == "proj_2"
    assert json.loads(sent.content)["model"] == "gpt-4o-mini"  # the driver's default model


def test_auth_header_option_sends_the_key_raw(openai_driver, key: str) -> None:
    transport = ScriptedTransport(httpx.Response(200, json=completion("ok")))
    openai_driver(transport, auth_header="api-key").send_message("hi")
    assert transport.requests[0].headers["api-key"] == key
    assert "authorization" not in transport.requests[0].headers


@pytest.mark.parametrize(("option", "value"), [
    ("max_tokens_field", "tokens"), ("system_role", "boss"), ("organization", 5),
    ("project", ""),
])
def test_bad_options_are_configuration_errors(protocol, option: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=f"providers.openai.{option}"):
        protocol(**{option: value})
