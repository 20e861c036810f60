"""OpenAI's strict structured outputs: ``strict: true`` only for a schema strict mode takes
(jtd_ai_openai.strict), and finding a definition that refers to itself."""

from __future__ import annotations

from typing import Any

import pytest

from jtd_ai import ChatRequest, Message, ResponseFormat
from jtd_ai_openai.strict import self_reference, strict_problem

CLOSED = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
          "additionalProperties": False}


def sent_format(protocol: Any, schema: dict[str, Any]) -> dict[str, Any]:
    request = ChatRequest.build([Message.user("hi")], "gpt-4o-mini",
                                response_format=ResponseFormat.json_schema(schema, name="x"))
    body = protocol().chat_request(request, stream=False).json
    return body["response_format"]["json_schema"]  # type: ignore[no-any-return]


def test_a_closed_object_is_sent_strict(protocol: Any) -> None:
    assert sent_format(protocol, CLOSED) == {"name": "x", "schema": CLOSED, "strict": True}


def test_strict_false_stays_false(protocol: Any) -> None:
    request = ChatRequest.build([Message.user("hi")], "gpt-4o-mini",
                                response_format=ResponseFormat.json_schema(CLOSED, strict=False))
    body = protocol().chat_request(request, stream=False).json
    assert body["response_format"]["json_schema"]["strict"] is False


@pytest.mark.parametrize(("schema", "problem"), [
    ({"type": "array", "items": {"type": "string"}}, "the root is not an object"),
    ({"anyOf": [CLOSED, CLOSED]}, "the root is not an object"),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
     "$ does not set additionalProperties to false"),
    ({**CLOSED, "required": []}, "$ does not list every property as required"),
    ({"type": "object", "additionalProperties": {"type": "integer"}},
     "$ does not set additionalProperties to false"),
    ({**CLOSED, "properties": {"a": {"type": "array", "uniqueItems": True}}},
     "$.properties.a uses 'uniqueItems'"),
    ({**CLOSED, "properties": {"a": {"type": "string", "default": "x"}}},
     "$.properties.a uses 'default'"),
    ({**CLOSED, "properties": {"a": {"type": "array", "items": {
        "type": "object", "properties": {"b": {"type": "string"}}}}}},
     "$.properties.a.items does not set additionalProperties to false"),
    ({**CLOSED, "$defs": {"N": {"type": "object", "properties": {}}}},
     "$.$defs.N does not set additionalProperties to false"),
])
def test_what_strict_mode_cannot_take_is_sent_not_strict(protocol: Any, schema: dict[str, Any],
                                                         problem: str) -> None:
    assert strict_problem(schema) == problem
    assert sent_format(protocol, schema)["strict"] is False


def test_property_names_are_not_keywords() -> None:
    schema = {"type": "object", "properties": {"default": {"type": "string"},
                                               "allOf": {"type": "integer"}},
              "required": ["default", "allOf"], "additionalProperties": False}
    assert strict_problem(schema) is None


@pytest.mark.parametrize(("schema", "loop"), [
    (CLOSED, None),
    ({"$ref": "#/$defs/A", "$defs": {"A": {"type": "object", "properties": {
        "b": {"$ref": "#/$defs/B"}}}, "B": {"type": "string"}}}, None),
    ({"$defs": {"Tree": {"type": "object", "properties": {"kids": {
        "type": "array", "items": {"$ref": "#/$defs/Tree"}}}}}}, "Tree"),
    ({"$defs": {"A": {"anyOf": [{"$ref": "#/$defs/B"}]},
                "B": {"type": "array", "items": {"$ref": "#/$defs/A"}}}}, "A"),
    ({"type": "object", "properties": {"next": {"$ref": "#"}}}, "#"),
])
def test_self_reference_is_found(schema: dict[str, Any], loop: str | None) -> None:
    assert self_reference(schema) == loop

