"""The plugin's pure parts: its options, the provider and server it names, and content in
the conventions' message schemas."""

from __future__ import annotations

import json

import pytest

from jtd_ai import ConfigurationError, FinishReason, ImagePart, Message, Response, ToolCall
from jtd_ai_otel import OtelOptions
from jtd_ai_otel.content import input_messages, output_messages
from jtd_ai_otel.semconv import provider_name, server_of

# -- options -----------------------------------------------------------------------------------


def test_content_is_off_unless_asked_for() -> None:
    assert OtelOptions.parse({}, {}).record_content is False
    assert OtelOptions.parse({"record_content": True}, {}).record_content is True
    assert OtelOptions.parse({"enabled": True}, {}).record_content is False


@pytest.mark.parametrize(("value", "recorded"), [
    ("true", True), ("True", True), ("span_only", True), ("SPAN_AND_EVENT", True),
    ("false", False), ("event_only", False), ("no_content", False), ("", False),
])
def test_otel_s_own_variable_decides_when_the_table_does_not(value: str,
                                                             recorded: bool) -> None:
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value}
    assert OtelOptions.parse({}, env).record_content is recorded
    assert OtelOptions.parse({"record_content": False}, env).record_content is False


@pytest.mark.parametrize(("options", "named"), [
    ({"record_contents": True}, "record_contents"),
    ({"record_content": "yes"}, "record_content"),
    ({"record_content": 1}, "record_content"),
    ({"provider_names": ["vllm"]}, "provider_names"),
    ({"provider_names": {"local": 3}}, "provider_names"),
])
def test_bad_options_are_a_configuration_error_naming_the_key(options: dict[str, object],
                                                              named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        OtelOptions.parse(options, {})


# -- what the spans say of providers -----------------------------------------------------------

@pytest.mark.parametrize(("driver", "preset", "host", "expected"), [
    ("openai", None, "api.openai.com", "openai"),
    ("openai", None, "my-resource.openai.azure.com", "azure.ai.openai"),
    ("openai", "azure", None, "azure.ai.openai"),
    ("openai", "mistral", "api.mistral.ai", "mistral_ai"),
    ("openai", "groq", "api.groq.com", "groq"),
    ("openai", "vllm", "localhost", "vllm"),
    ("xai", None, "api.x.ai", "x_ai"),
    ("gemini", None, "generativelanguage.googleapis.com", "gcp.gemini"),
    ("ollama", None, "localhost", "ollama"),
    ("my-driver", None, None, "my-driver"),
])
def test_provider_names_are_the_conventions_well_known_values(
        driver: str, preset: str | None, host: str | None, expected: str) -> None:
    assert provider_name(driver, preset, host) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("https://api.openai.com/v1", ("api.openai.com", 443)),
    ("http://localhost:11434", ("localhost", 11434)),
    ("http://127.0.0.1/v1", ("127.0.0.1", 80)),
    ("http://[::1]:8000/v1", ("::1", 8000)),
    ("https://user:secret@proxy.example:8443/v1", ("proxy.example", 8443)),
    ("", None),
    (None, None),
    ("not a url", None),
])
def test_the_server_is_the_base_url_s_host_and_port(
        url: str | None, expected: tuple[str, int] | None) -> None:
    assert server_of(url) == expected


# -- content ---------------------------------------------------------------------------------------

def test_input_messages_cover_every_part_jtd_ai_sends() -> None:
    messages = [
        Message.system("Be brief"),
        Message.user("What is this?", images=[
            ImagePart(url="https://example.com/cat.png"),
            ImagePart(data="aGVsbG8=", media_type="image/png"),
            ImagePart(url="data:image/jpeg;base64,/9j/"),
        ]),
        Message.assistant(tool_calls=[ToolCall("call_1", "lookup", '{"q": "cat"}'),
                                      ToolCall("call_2", "broken", "{not json")]),
        Message.tool("a cat", call_id="call_1"),
    ]
    assert json.loads(input_messages(messages)) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief"}]},
        {"role": "user", "parts": [
            {"type": "text", "content": "What is this?"},
            {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
            {"type": "blob", "modality": "image", "mime_type": "image/png",
             "content": "aGVsbG8="},
            {"type": "blob", "modality": "image", "mime_type": "image/jpeg", "content": "/9j/"},
        ]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"q": "cat"}},
            {"type": "tool_call", "id": "call_2", "name": "broken", "arguments": "{not json"},
        ]},
        {"role": "tool", "parts": [
            {"type": "tool_call_response", "id": "call_1", "response": "a cat"}]},
    ]


def test_output_messages_carry_reasoning_text_refusal_and_the_finish_reason() -> None:
    response = Response("It is a cat.", "m", "p", FinishReason.LENGTH, reasoning="Looks feline",
                        refusal="no more")
    assert json.loads(output_messages(response)) == [{
        "role": "assistant",
        "parts": [{"type": "reasoning", "content": "Looks feline"},
                  {"type": "text", "content": "It is a cat."},
                  {"type": "refusal", "content": "no more"}],
        "finish_reason": "length",
    }]
    unfinished = Response("It is", "m", "p")
    assert json.loads(output_messages(unfinished))[0]["finish_reason"] == "error"
