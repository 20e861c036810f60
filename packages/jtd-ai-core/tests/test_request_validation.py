"""Options are validated before any request, with errors naming the field and the range."""

from __future__ import annotations

import pytest

from jtd_ai import ChatRequest, ImagePart, Message, ResponseFormat, Tool, ValidationError
from jtd_ai.cache import request_digest
from jtd_ai.testing import ScriptedTransport
from jtd_ai.transcript import canonical

USER = (Message.user("hi"),)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("temperature", 2.5, "temperature must be from 0 to 2"),
        ("temperature", -0.1, "temperature must be from 0 to 2"),
        ("temperature", "hot", "temperature must be a number from 0 to 2"),
        ("top_p", 1.5, "top_p must be from 0 to 1"),
        ("max_tokens", 0, "max_tokens must be a whole number of at least 1"),
        ("max_tokens", 1.5, "max_tokens must be a whole number of at least 1"),
        ("seed", "x", "seed must be a whole number"),
        ("timeout", 0, "timeout must be a number of seconds above 0"),
        ("stop", ["ok", ""], "stop must hold non-empty strings"),
        ("tool_choice", "search", "tool_choice must be 'auto', 'none', 'required' or the name"),
    ],
)
def test_bad_option_names_field_and_range(field: str, value: object, expected: str) -> None:
    with pytest.raises(ValidationError) as info:
        ChatRequest.build(USER, "m", **{field: value})
    assert info.value.field == field
    assert expected in str(info.value)


def test_good_options_are_kept() -> None:
    tool = Tool("search", "find things", {"type": "object", "properties": {}})
    request = ChatRequest.build(USER, "m", temperature=0, top_p=1, max_tokens=5, stop="END",
                                seed=7, tools=[tool], tool_choice="search", timeout=3)
    assert request.stop == ("END",)
    assert request.tools == (tool,)
    assert request.tool_choice == "search"


@pytest.mark.parametrize(("field", "whole", "same"), [
    ("temperature", 1, 1.0), ("temperature", 0, 0.0), ("top_p", 1, 1.0), ("timeout", 30, 30.0)])
def test_a_whole_number_is_the_same_request_as_its_float(field: str, whole: int,
                                                         same: float) -> None:
    """``temperature=1`` and ``temperature=1.0`` are one request: one canonical form, one
    reply cache key."""
    one = ChatRequest.build(USER, "m", **{field: whole})
    other = ChatRequest.build(USER, "m", **{field: same})
    assert type(getattr(one, field)) is float
    assert canonical(one) == canonical(other)
    assert request_digest("p", "d", one) == request_digest("p", "d", other)


def test_a_huge_whole_number_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="temperature must be from 0 to 2, got an "
                                              "integer of about 400 digits"):
        ChatRequest.build(USER, "m", temperature=10**400)


def test_unknown_option_is_named_and_known_ones_listed() -> None:
    with pytest.raises(ValidationError) as info:
        ChatRequest.build(USER, "m", temprature=1)
    assert info.value.field == "temprature"
    assert "temperature" in str(info.value) and "extra=" in str(info.value)


def test_messages_must_be_present_and_not_only_system() -> None:
    with pytest.raises(ValidationError, match="at least one message"):
        ChatRequest.build([], "m")
    with pytest.raises(ValidationError, match="besides system"):
        ChatRequest.build([Message.system("be nice")], "m")


def test_a_request_without_options_is_what_the_constructor_builds() -> None:
    # build() copies a per-model template for this case instead of running every default's
    # converter: the result must be the constructor's, field for field, with its own extra.
    for messages in (USER, [Message.system("s"), Message.user("q")], (Message.user("x"),)):
        for model in ("m", "gpt-4o-mini", "m"):
            built = ChatRequest.build(messages, model)
            made = ChatRequest(messages=messages, model=model)
            assert built == made and repr(built) == repr(made)
            assert type(built.messages) is tuple and built.messages == tuple(messages)
    first, second = ChatRequest.build(USER, "m"), ChatRequest.build(USER, "m")
    assert first.extra == {} and first.extra is not second.extra
    for model in ("", "a\nb", "x" * 600):  # the model is checked on every path
        with pytest.raises(ValidationError) as info:
            ChatRequest.build(USER, model)
        assert info.value.field == "model"
    with pytest.raises(ValidationError, match="must be a Message"):
        ChatRequest.build(["hi"], "m")  # type: ignore[list-item]


def test_tool_result_needs_the_call_it_answers() -> None:
    orphan = Message("tool", Message.user("x").parts)
    with pytest.raises(ValidationError, match="tool_call_id"):
        ChatRequest.build([Message.user("q"), orphan], "m")


def test_response_format_shapes() -> None:
    assert ChatRequest.build(USER, "m", response_format="json").response_format == (
        ResponseFormat("json_object"))
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    fmt = ChatRequest.build(USER, "m", response_format=schema).response_format
    assert fmt is not None and fmt.type == "json_schema" and fmt.schema == schema
    with pytest.raises(ValidationError, match="needs a schema"):
        ResponseFormat("json_schema")


def test_image_part_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError):
        ImagePart()
    with pytest.raises(ValidationError, match="media_type"):
        ImagePart(data="aGk=")
    image = ImagePart.from_bytes(b"hi", "image/png")
    assert image.as_data_url() == "data:image/png;base64,aGk="


def test_tool_call_arguments_parse_lazily_with_clear_error() -> None:
    from jtd_ai import MalformedResponseError, ToolCall

    assert ToolCall("c1", "f", '{"a": 1}').parsed_arguments() == {"a": 1}
    with pytest.raises(MalformedResponseError, match="not valid JSON"):
        ToolCall("c1", "f", '{"a": ').parsed_arguments()


def test_conversation_rejects_bad_option_before_any_request(manager_with) -> None:
    transport = ScriptedTransport()  # any request would fail the test: nothing is scripted
    conversation = manager_with(transport).conversation().message("hi")
    with pytest.raises(ValidationError) as info:
        conversation.temperature(3)
    assert info.value.field == "temperature"
    with pytest.raises(ValidationError):
        conversation.max_tokens(-1)
    assert transport.requests == []


def test_missing_model_is_a_validation_error_before_io(manager_with) -> None:
    from jtd_ai import AIManager

    manager = AIManager(config_file=False, env={})
    manager.extend("nomodel", lambda config: __import__("jtd_ai.echo").echo.EchoProtocol(config),
                   default_base_url="http://x.invalid")
    with pytest.raises(ValidationError) as info:
        manager.driver("nomodel").send_message("hi")
    assert info.value.field == "model"
