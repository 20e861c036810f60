"""The response format derived for ``output=T`` (jtd_ai.structured.output_spec) and how a
reply's text becomes the value, without any provider: shapes written out by hand."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import attrs
import pytest

from jtd_ai import FinishReason, OutputValidationError, Response, ToolCall, ValidationError
from jtd_ai.structured import output_spec
from jtd_ai.testing.schema_reply import schema_reply


@attrs.frozen
class Item:
    name: str
    quantity: int = 1


@dataclasses.dataclass
class Tree:
    label: str
    children: list[Tree]


ITEM = {"type": "object", "title": "Item",
        "properties": {"name": {"type": "string"}, "quantity": {"type": "integer"}},
        "required": ["name", "quantity"], "additionalProperties": False}


def reply(content: str, **fields: Any) -> Response[Any]:
    return Response(content, "m", "p", request_id="req-7", **fields)


def test_an_object_type_goes_as_it_is_shaped_for_replies() -> None:
    spec = output_spec(Item)
    # quantity has a default: the model is asked for it all the same, no "default" sent.
    assert spec.response_format.schema == ITEM
    assert (spec.response_format.type, spec.response_format.name) == ("json_schema", "Item")
    assert spec.response_format.strict is True and spec.wrapped is False


def test_other_roots_travel_wrapped_and_come_back_unwrapped() -> None:
    spec = output_spec(list[Item])
    assert spec.response_format.schema == {
        "type": "object", "properties": {"result": {"type": "array", "items": ITEM}},
        "required": ["result"], "additionalProperties": False}
    assert spec.response_format.name == "list_Item"
    assert spec.wrapped is True
    parsed = spec.parse(reply('{"result": [{"name": "a", "quantity": 2}]}')).parsed
    assert parsed == [Item("a", 2)]
    assert output_spec(int).parse(reply('{"result": 5}')).parsed == 5


def test_a_self_referring_root_is_its_definition() -> None:
    schema = output_spec(Tree).response_format.schema
    assert schema is not None
    assert schema["type"] == "object" and "$ref" not in schema
    assert schema["properties"]["children"] == {"type": "array",
                                                "items": {"$ref": "#/$defs/Tree"}}
    assert set(schema["$defs"]) == {"Tree"}


def test_the_spec_is_derived_once_per_type() -> None:
    assert output_spec(Item) is output_spec(Item)
    assert output_spec(list[Item]) is output_spec(list[Item])


def test_a_schema_dict_is_sent_as_given_and_gives_decoded_json() -> None:
    schema = {"type": "object", "title": "My answer!", "properties": {"a": {"type": "number"}}}
    spec = output_spec(schema)
    assert spec.response_format.schema == schema
    assert spec.response_format.name == "My_answer"
    assert spec.parse(reply('{"a": 1.5, "b": 2}')).parsed == {"a": 1.5, "b": 2}
    array = output_spec({"type": "array", "items": {"type": "string"}})
    assert array.wrapped and array.parse(reply('{"result": ["x"]}')).parsed == ["x"]


def test_a_fenced_reply_is_read() -> None:
    text = '```json\n{"name": "a", "quantity": 3}\n```'
    assert output_spec(Item).parse(reply(text)).parsed == Item("a", 3)


@pytest.mark.parametrize(("response", "words"), [
    (reply(""), "the reply is not JSON (line 1, column 1): it is empty"),
    (reply("Sure! Here it is"), "the reply is not JSON (line 1, column 1)"),
    (reply('{"name": "a"'), "the reply is not JSON (line 1, column 13)"),
    (reply('{"name": 5}'), "expected a string, got 5 @ $.name"),
    (reply('{"name": "a", "colour": "red"}'), "unknown field(s) colour @ $"),
    (reply('{"name": "a', finish_reason=FinishReason.LENGTH),
     "(the reply was cut at max_tokens)"),
    (reply("", refusal="I cannot help with that."),
     "the model refused: I cannot help with that."),
    (reply("", tool_calls=[ToolCall("c1", "search", "{}")]), "the reply is tool calls"),
])
def test_a_reply_that_does_not_match_is_a_typed_error(response: Response[Any],
                                                      words: str) -> None:
    with pytest.raises(OutputValidationError) as info:
        output_spec(Item).parse(response)
    error = info.value
    assert words in str(error)
    assert error.text == response.content and error.partial is response
    assert error.provider == "p" and error.request_id == "req-7"
    assert str(error).startswith("the reply does not match Item: ")


def test_the_error_survives_pickling() -> None:
    with pytest.raises(OutputValidationError) as info:
        output_spec(Item).parse(reply("nope"))
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.text, copy.problem, copy.attempts) == ("nope", info.value.problem, 1)


@pytest.mark.parametrize("output", [None, "Item", 3])
def test_output_must_be_a_type(output: Any) -> None:
    with pytest.raises(ValidationError) as info:
        output_spec(output)
    assert info.value.field == "output"


# -- the fake server's rule for requests with a schema ----------------------------------------


def test_fake_server_answers_json_user_text_verbatim() -> None:
    assert schema_reply(ITEM, '{"name": 1}', "echo: x") == '{"name": 1}'


def test_fake_server_answers_the_smallest_value_of_the_schema() -> None:
    schema = {"type": "object", "properties": {
        "s": {"type": "string"}, "n": {"type": "number", "minimum": 2},
        "i": {"type": "INTEGER"}, "b": {"type": "boolean"}, "e": {"enum": ["x", "y"]},
        "d": {"type": "string", "format": "date"}, "o": {"type": ["null", "string"]},
        "u": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "a": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "t": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]},
        "r": {"$ref": "#/$defs/R"}}, "$defs": {"R": {"const": 7}}}
    assert schema_reply(schema, "hello", "echo: hello") == (
        '{"s": "echo: hello", "n": 2, "i": 0, "b": false, "e": "x", "d": "2026-01-02", '
        '"o": "echo: hello", "u": 0, "a": ["echo: hello", "echo: hello"], "t": [0, false], '
        '"r": 7}')
