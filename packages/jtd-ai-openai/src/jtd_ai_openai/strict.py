"""What a JSON schema must be for OpenAI's strict structured outputs, and self-reference.

Strict mode (``"strict": true``) makes the model's reply match the schema, but takes only
schemas where every object lists all its properties as required and closes itself with
``additionalProperties: false``, the root is an object, and only the keywords strict mode
supports appear. :func:`strict_problem` says why a schema falls short (then it is sent with
``strict: false``); :func:`self_reference` finds a definition that refers to itself, which
some OpenAI-compatible services cannot take.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["self_reference", "strict_problem"]

#: Keywords strict mode rejects (OpenAI's structured outputs guide, "Supported schemas").
_UNSUPPORTED = frozenset({
    "allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas",
    "patternProperties", "unevaluatedProperties", "propertyNames", "minProperties",
    "maxProperties", "unevaluatedItems", "contains", "minContains", "maxContains",
    "uniqueItems", "prefixItems", "default", "minLength", "maxLength",
})
#: Keywords whose value is one subschema, a list of them, or a map of them.
_ONE = ("items", "additionalProperties", "not", "contains", "if", "then", "else")
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")


def _subschemas(schema: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(path, subschema) of each schema directly inside ``schema``."""
    for key in _ONE:
        if isinstance(schema.get(key), Mapping):
            yield key, schema[key]
    for key in _LIST:
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield f"{key}[{i}]", sub
    for key in _MAP:
        if isinstance(schema.get(key), Mapping):
            for name, sub in schema[key].items():
                yield f"{key}.{name}", sub


def strict_problem(schema: Any, path: str = "$") -> str | None:
    """Why strict mode cannot take ``schema`` (naming where), or None when it can."""
    if not isinstance(schema, Mapping):
        return f"{path} is not a schema object"
    if path == "$" and (schema.get("type") != "object" or "anyOf" in schema):
        return "the root is not an object"
    found = sorted(_UNSUPPORTED & set(schema))
    if found:
        return f"{path} uses {found[0]!r}"
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, Mapping):
        if schema.get("additionalProperties") is not False:
            return f"{path} does not set additionalProperties to false"
        if isinstance(properties, Mapping) and set(schema.get("required") or ()) != set(
                properties):
            return f"{path} does not list every property as required"
    for where, sub in _subschemas(schema):
        problem = strict_problem(sub, f"{path}.{where}")
        if problem is not None:
            return problem
    return None


def self_reference(schema: Any) -> str | None:
    """The name of a ``$defs`` (or ``definitions``) entry that refers to itself, directly or
    through others, or None."""
    if not isinstance(schema, Mapping):
        return None
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), Mapping):
            defs.update({f"#/{key}/{name}": sub for name, sub in schema[key].items()})

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, Mapping):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for _, sub in _subschemas(node):
                yield from refs(sub)

    edges = {name: {ref for ref in refs(sub) if ref in defs} for name, sub in defs.items()}
    for start in edges:
        seen: set[str] = set()
        todo = list(edges[start])
        while todo:
            current = todo.pop()
            if current == start:
                return start.rsplit("/", 1)[-1]
            if current not in seen:
                seen.add(current)
                todo.extend(edges.get(current, ()))
    if any(ref == "#" for ref in refs(schema)):
        return "#"
    return None
