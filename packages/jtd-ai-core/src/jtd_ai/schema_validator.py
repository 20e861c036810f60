"""Replies checked against a JSON schema given as a dict (``output={...}``, ``jtd-ai chat
--schema FILE``), with the jsonschema package.

jsonschema is optional (``pip install 'jtd-ai-core[jsonschema]'``; the ``cli`` extra has it)
and imported only when such a schema is used: importing it costs more than ``import
jtd_ai`` itself. The schema is checked once, before anything is sent: against its draft's
meta-schema, and every ``$ref`` must resolve inside it (no schema is ever fetched).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from jtd_ai.errors import ValidationError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaMismatch
    from jsonschema.protocols import Validator
    from referencing import Resource

__all__ = ["INSTALL_HINT", "SchemaValidator", "schema_validator"]

INSTALL_HINT = "pip install 'jtd-ai-core[jsonschema]'"
#: The most mismatches one reply's problem lists (what the model is told when it retries).
MAX_PROBLEMS = 10
#: A value longer than this (as Python writes it) is named by its kind in a problem.
_MAX_SHOWN = 80
_JSON_TYPES = "array, boolean, integer, null, number, object, string"
_validators: dict[str, SchemaValidator] = {}
_MAX_CACHED = 256


@attrs.frozen(eq=False)
class SchemaValidator:
    """A JSON schema that passed its checks, ready to check replies against it."""

    _validator: Validator = attrs.field(repr=False)

    def problems(self, data: Any) -> list[str]:
        """What in ``data`` does not match, each as ``<problem> @ <where>`` (``$.tags[2]``);
        empty when it matches."""
        from jsonschema.exceptions import best_match

        found: list[str] = []
        try:
            errors = sorted(self._validator.iter_errors(data), key=_place)
        except RecursionError:
            return ["the reply is nested too deeply to check"]
        for error in errors[:MAX_PROBLEMS]:
            best = best_match([error])  # inside an anyOf/oneOf: the branch that came closest
            found.append(f"{_message(best)} @ {best.json_path}")
        if len(errors) > MAX_PROBLEMS:
            found.append(f"and {len(errors) - MAX_PROBLEMS} more")
        return found


def schema_validator(schema: Mapping[str, Any]) -> SchemaValidator:
    """The validator for ``schema`` (built once per schema, then cached). ValidationError
    (``field="output"``) when jsonschema is not installed, or the schema is not a valid JSON
    schema or has a ``$ref`` that leads nowhere, saying what and where."""
    key = json.dumps(schema, sort_keys=True)
    cached = _validators.get(key)
    if cached is None:
        if len(_validators) >= _MAX_CACHED:
            _validators.clear()
        cached = _validators[key] = _build(json.loads(key))  # its own copy of the schema
    return cached


def _build(schema: dict[str, Any]) -> SchemaValidator:
    try:
        import jsonschema
        import referencing
    except ImportError:
        raise ValidationError(
            f"output= a JSON schema needs the jsonschema package, which checks each reply "
            f"against it: {INSTALL_HINT} (or give a Python type: output=MyClass)",
            field="output") from None
    dialect = schema.get("$schema")
    if dialect is not None and not isinstance(dialect, str):
        raise ValidationError(f"the output schema's $schema must be a URI, not {dialect!r}",
                              field="output")
    # A $schema naming a draft picks it; without one (or an unknown one), draft 2020-12.
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    meta = cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)  # "pattern" is a regex...
    bad = jsonschema.exceptions.best_match(meta.iter_errors(schema))
    if bad is not None:
        raise ValidationError(f"the output schema is not a valid JSON schema: "
                              f"{_schema_problem(bad)} @ {bad.json_path}", field="output")
    _check_refs(referencing.Resource.from_contents(
        schema, default_specification=referencing.jsonschema.DRAFT202012))
    # An empty registry: a $ref is never fetched from the network (jsonschema's default
    # registry would, with a warning).
    return SchemaValidator(cls(schema, registry=referencing.Registry(),
                               format_checker=cls.FORMAT_CHECKER))


def _check_refs(root: Resource[Any]) -> None:
    """ValidationError for the first ``$ref`` (or ``$dynamicRef``) in the schema that does
    not lead to a place inside it."""
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    pending = [(root, Registry().resolver_with_root(root))]
    while pending:
        resource, resolver = pending.pop()
        resolver = resolver.in_subresource(resource)  # under a nested $id, refs are its
        contents = resource.contents
        for keyword in ("$ref", "$dynamicRef"):
            ref = contents.get(keyword) if isinstance(contents, Mapping) else None
            if not isinstance(ref, str):
                continue
            try:
                resolver.lookup(ref)
            except Unresolvable:
                raise ValidationError(
                    f"the output schema's {keyword} {ref!r} leads nowhere: it must point "
                    f"inside the schema (\"#/$defs/Name\"); no schema is fetched",
                    field="output") from None
        pending.extend((sub, resolver) for sub in resource.subresources())


def _place(error: SchemaMismatch) -> list[tuple[bool, Any]]:
    """Sorts problems by where they are (``$[2]`` before ``$[10]``, ``$`` before ``$.a``)."""
    return [(isinstance(step, str), step) for step in error.absolute_path]


def _schema_problem(error: SchemaMismatch) -> str:
    if error.path and error.path[-1] == "type" and isinstance(error.instance, str | list):
        return f"{error.instance!r} is not a JSON type ({_JSON_TYPES})"
    return _message(error)


def _message(error: SchemaMismatch) -> str:
    """jsonschema's message, with a long value in it named by its kind instead."""
    shown = repr(error.instance)
    if len(shown) <= _MAX_SHOWN or shown not in error.message:
        return error.message
    return error.message.replace(shown, _kind(error.instance))


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return f"an object ({_count(len(value), 'key')})"
    if isinstance(value, list):
        return f"an array ({_count(len(value), 'item')})"
    if isinstance(value, str):
        return f"{value[:40]!r}... ({len(value)} characters)"
    return type(value).__name__


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
