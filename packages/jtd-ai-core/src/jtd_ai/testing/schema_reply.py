"""What the fake provider server answers when a request asks for JSON matching a schema.

The rule, predictable from the request alone: when the last user message is itself JSON,
that text is the reply, verbatim (so a test chooses the reply, a wrong one included); else
the reply is the smallest value the schema allows, every string being the reply text the
server would have sent without a schema (``"echo: <user text>"``): the first ``enum`` or
``const`` value, ``0``, ``false``, arrays of one item (or ``minItems``), every property of an
object, the first branch of an ``anyOf``, ``$ref`` followed into ``$defs``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["schema_reply"]

#: Past this depth a self-referring schema takes its ``null`` branch (or an empty value).
_MAX_DEPTH = 12
_FORMATS = {"date-time": "2026-01-02T03:04:05+00:00", "date": "2026-01-02",
            "time": "03:04:05", "uuid": "00000000-0000-4000-8000-000000000000"}


def schema_reply(schema: Mapping[str, Any], user_text: str, text: str) -> str:
    """The reply text for a request whose response must match ``schema``."""
    try:
        json.loads(user_text)
    except (ValueError, RecursionError):
        return json.dumps(_instance(schema, schema, text, 0), ensure_ascii=False)
    return user_text


def _instance(schema: Any, root: Mapping[str, Any], text: str, depth: int) -> Any:
    if not isinstance(schema, Mapping):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return _instance(target, root, text, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            if depth >= _MAX_DEPTH:
                for branch in branches:
                    if isinstance(branch, Mapping) and _kind(branch) == "null":
                        return None
            return _instance(branches[0], root, text, depth + 1)
    kind = _kind(schema)
    if kind == "object":
        properties = schema.get("properties") or {}
        if depth >= _MAX_DEPTH:
            required = set(schema.get("required") or ())
            properties = {k: v for k, v in properties.items() if k in required}
        return {name: _instance(sub, root, text, depth + 1)
                for name, sub in properties.items()}
    if kind == "array":
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return [_instance(item, root, text, depth + 1) for item in prefix]
        count = max(schema.get("minItems", 0), 1) if depth < _MAX_DEPTH else 0
        count = min(count, schema.get("maxItems", count))
        return [_instance(schema.get("items"), root, text, depth + 1) for _ in range(count)]
    if kind == "string":
        return _FORMATS.get(schema.get("format", ""), text)
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        return int(low) if kind == "integer" else low
    if kind == "boolean":
        return False
    return None


def _kind(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first that is not null
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind.lower()  # Gemini's classic schema writes "OBJECT", "STRING"
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None
