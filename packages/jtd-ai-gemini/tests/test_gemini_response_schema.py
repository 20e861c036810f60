"""Where a response schema goes in Gemini's generationConfig: ``responseSchema`` (the
OpenAPI subset) when it fits, else ``responseJsonSchema``; and what is refused before
sending."""

from __future__ import annotations

from typing import Any

import pytest

from jtd_ai import ChatRequest, Message, ResponseFormat, ValidationError
from jtd_ai_gemini.build import chat_body


def config(schema: dict[str, Any]) -> dict[str, Any]:
    request = ChatRequest.build([Message.user("hi")], "gemini-2.5-flash",
                                response_format=ResponseFormat.json_schema(schema))
    return chat_body(request)["generationConfig"]  # type: ignore[no-any-return]


def test_a_schema_of_the_subset_goes_in_response_schema() -> None:
    schema = {"type": "object", "properties": {"mood": {"type": "string",
                                                        "enum": ["calm", "busy"]}}}
    assert config(schema) == {"responseMimeType": "application/json",
                              "responseSchema": schema}


@pytest.mark.parametrize("schema", [
    # The subset's enum holds strings only: an integer enum is JSON Schema.
    {"type": "object", "properties": {"level": {"type": "integer", "enum": [1, 2]}}},
    {"type": "object", "properties": {}, "additionalProperties": False},
    {"type": "array", "prefixItems": [{"type": "string"}]},
    {"$ref": "#/$defs/A", "$defs": {"A": {"type": "string"}}},
])
def test_any_other_schema_goes_in_response_json_schema(schema: dict[str, Any]) -> None:
    assert config(schema) == {"responseMimeType": "application/json",
                              "responseJsonSchema": schema}


@pytest.mark.parametrize(("schema", "keyword", "where"), [
    ({"type": "object", "not": {"required": ["a"]}}, "not", "$"),
    ({"type": "object", "additionalProperties": False, "properties": {
        "a": {"type": "string", "if": {"const": "x"}, "then": {"minLength": 2}}}},
     "if", "$.properties.a"),
    ({"anyOf": [{"type": "object", "dependentRequired": {"a": ["b"]}}]},
     "dependentRequired", "$.anyOf[0]"),
])
def test_keywords_gemini_lacks_are_refused_naming_them(schema: dict[str, Any], keyword: str,
                                                       where: str) -> None:
    with pytest.raises(ValidationError) as info:
        config(schema)
    assert info.value.field == "response_format.schema"
    assert f"Gemini cannot take the response schema's {keyword!r} (at {where})" in str(
        info.value)


def test_a_property_named_like_a_keyword_is_fine() -> None:
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"not": {"type": "string"}, "if": {"type": "boolean"}}}
    assert config(schema)["responseJsonSchema"] == schema
