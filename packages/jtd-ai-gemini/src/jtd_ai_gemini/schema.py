"""Which Gemini field a JSON schema goes in: the classic OpenAPI-subset one or the JSON one.

``parameters`` / ``responseSchema`` take Gemini's OpenAPI-subset ``Schema`` and reject
anything else (``additionalProperties``, ``$ref``, ``"type": ["string", "null"]`` give a
400). ``parametersJsonSchema`` / ``responseJsonSchema`` take plain JSON Schema. A schema that
fits the subset goes in the classic field, understood by every model; any other goes in the
JSON field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["fits_openapi_subset"]

_SUBSET_KEYS = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
    "maximum",
})


def fits_openapi_subset(schema: Any) -> bool:
    """Whether ``schema`` uses only what Gemini's ``Schema`` message can hold."""
    if not isinstance(schema, Mapping):
        return False
    if not set(schema) <= _SUBSET_KEYS:
        return False
    if "type" in schema and not isinstance(schema["type"], str):
        return False
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping) or not all(
        fits_openapi_subset(value) for value in properties.values()
    ):
        return False
    if "items" in schema and not fits_openapi_subset(schema["items"]):
        return False
    any_of = schema.get("anyOf", [])
    return isinstance(any_of, list) and all(fits_openapi_subset(item) for item in any_of)
