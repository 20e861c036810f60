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

__all__ = ["fits_openapi_subset", "unsupported_keyword"]

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
    if "enum" in schema and not all(isinstance(v, str) for v in schema["enum"] or ()):
        return False  # the classic Schema's enum holds strings only
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping) or not all(
        fits_openapi_subset(value) for value in properties.values()
    ):
        return False
    if "items" in schema and not fits_openapi_subset(schema["items"]):
        return False
    any_of = schema.get("anyOf", [])
    return isinstance(any_of, list) and all(fits_openapi_subset(item) for item in any_of)


#: JSON Schema keywords Gemini's ``responseJsonSchema`` does not support (its structured
#: output guide lists what it does: types, ``anyOf``/``oneOf``, ``$ref``/``$defs``,
#: ``enum``, ``items``/``prefixItems``, ``properties``/``additionalProperties``/``required``,
#: bounds and ``format``), and that would change what is valid if Gemini ignored them.
_UNSUPPORTED_JSON = ("not", "if", "then", "else", "dependentSchemas", "dependentRequired")


def unsupported_keyword(schema: Any, path: str = "$") -> tuple[str, str] | None:
    """(keyword, where) of the first keyword of :data:`_UNSUPPORTED_JSON` in ``schema``."""
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            found = unsupported_keyword(item, f"{path}[{i}]")
            if found:
                return found
        return None
    if not isinstance(schema, Mapping):
        return None
    for keyword in _UNSUPPORTED_JSON:
        if keyword in schema:
            return keyword, path
    for key, value in schema.items():
        if key in ("enum", "const", "default", "examples", "required"):
            continue  # values, not schemas
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(
                value, Mapping):  # names (a property may be called "not"), then schemas
            for name, sub in value.items():
                found = unsupported_keyword(sub, f"{path}.{key}.{name}")
                if found:
                    return found
            continue
        found = unsupported_keyword(value, f"{path}.{key}")
        if found:
            return found
    return None
