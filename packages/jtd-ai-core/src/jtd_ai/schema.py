"""JSON schemas of Python types, and decoded JSON turned back into those types.

Structured output and tools share this: :func:`type_schema` describes a type (attrs
classes, dataclasses, TypedDicts, enums, ``Literal``, ``Optional``/unions, lists, dicts,
primitives, nested, and pydantic models through pydantic's own schema when pydantic is
installed); :func:`convert` builds the type's value from decoded JSON, strictly (``"3"`` is
not an ``int``, unknown keys are refused). Both raise :class:`~jtd_ai.errors.ValidationError`
naming the type or field at fault. cattrs and pydantic are imported on first use.
"""

from __future__ import annotations

import collections.abc
import contextlib
import copy
import dataclasses
import datetime as dt
import enum
import functools
import json
import sys
import types
import typing
import uuid
from typing import TYPE_CHECKING, Any, TypeVar, overload

from jtd_ai.errors import AIError, ValidationError

if TYPE_CHECKING:
    import cattrs

__all__ = ["convert", "plain", "type_name", "type_schema"]

T = TypeVar("T")

_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    None: {"type": "null"},
    dt.datetime: {"type": "string", "format": "date-time"},
    dt.date: {"type": "string", "format": "date"},
    dt.time: {"type": "string", "format": "time"},
    uuid.UUID: {"type": "string", "format": "uuid"},
}
_SEQUENCES = (list, collections.abc.Sequence, collections.abc.MutableSequence,
              collections.abc.Iterable, collections.abc.Collection)
_SETS = (set, frozenset, collections.abc.Set, collections.abc.MutableSet)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_SUPPORTED = ("str, int, float, bool, None, datetime/date/time, UUID, an Enum, Literal, "
              "list/tuple/set, dict[str, ...], Optional/Union, an attrs class, a dataclass, "
              "a TypedDict or a pydantic model")
_schema_cache: dict[Any, dict[str, Any]] = {}
_MAX_CACHED = 1024
#: (name, annotation, has_default, default, description) of one field of a class.
_Field = tuple[str, Any, bool, Any, "str | None"]


def type_name(tp: Any) -> str:
    """A short readable name for ``tp`` (``Person``, ``list[Person]``, ``int | None``)."""
    if tp is None or tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(arg) for arg in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(arg) for arg in args)}]"
    if origin is not None and args:
        return f"{type_name(origin)}[{', '.join(type_name(arg) for arg in args)}]"
    if isinstance(tp, type):
        return tp.__qualname__
    if tp is Ellipsis:
        return "..."
    text = repr(tp)
    for prefix in ("typing.", "typing_extensions.", "collections.abc."):
        text = text.replace(prefix, "")
    return text


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON schema (draft 2020-12 keywords) of values of ``tp``.

    Classes become objects listing their fields (fields with defaults are not required;
    unknown keys are refused with ``additionalProperties: false``); a class that refers to
    itself is described once under ``$defs`` and referred to with ``$ref``. Raises
    ValidationError naming the type, and the field within it, that has no JSON schema.
    """
    try:
        cached = _schema_cache.get(tp)
    except TypeError:  # an unhashable annotation (Annotated with a list in it)
        cached = None
    if cached is None:
        cached = _SchemaBuilder(tp).build()
        if len(_schema_cache) >= _MAX_CACHED:  # classes made on the fly must not pile up
            _schema_cache.clear()
        with contextlib.suppress(TypeError):
            _schema_cache[tp] = cached
    return copy.deepcopy(cached)


class _SchemaBuilder:
    """One walk over a type, collecting ``$defs`` for self-referring classes."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.defs: dict[str, dict[str, Any]] = {}
        self.def_names: dict[Any, str] = {}
        self.in_progress: list[Any] = []
        self.recursive: set[Any] = set()

    def build(self) -> dict[str, Any]:
        schema = self.walk(self.root, type_name(self.root), {})
        if self.defs:
            schema = {**schema, "$defs": self.defs}
        return schema

    def fail(self, tp: Any, where: str, why: str = "") -> ValidationError:
        what = type_name(self.root)
        place = "" if where == what else f" (at {where})"
        reason = why or (f"{type_name(tp)} has no JSON schema; use {_SUPPORTED}")
        return ValidationError(f"cannot derive a JSON schema for {what}{place}: {reason}",
                               field=where)

    def walk(self, tp: Any, where: str, typevars: dict[Any, Any]) -> dict[str, Any]:
        if isinstance(tp, TypeVar):
            if tp in typevars:
                return self.walk(typevars[tp], where, typevars)
            raise self.fail(tp, where, f"the type variable {tp} is not bound; give the "
                                       f"generic class its type arguments")
        if isinstance(tp, str | typing.ForwardRef):
            raise self.fail(tp, where, f"the annotation {tp!r} could not be resolved; "
                                       f"define the names it uses at module level")
        if tp is Any or tp is object:
            return {}
        if tp in _PRIMITIVES and not isinstance(tp, bool):
            return dict(_PRIMITIVES[tp])
        supertype = getattr(tp, "__supertype__", None)  # typing.NewType
        if supertype is not None:
            return self.walk(supertype, where, typevars)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            return self.walk(args[0], where, typevars)
        if origin is typing.Literal:
            return self.literal(tp, args, where)
        if origin is typing.Union or origin is types.UnionType:
            return {"anyOf": [self.walk(arg, where, typevars) for arg in args]}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self.enumeration(tp, where)
        if (origin or tp) in _SEQUENCES:
            item = self.walk(args[0], f"{where}[]", typevars) if args else {}
            return {"type": "array", "items": item}
        if (origin or tp) in _SETS:
            item = self.walk(args[0], f"{where}[]", typevars) if args else {}
            return {"type": "array", "items": item, "uniqueItems": True}
        if origin is tuple or tp is tuple:
            return self.fixed_tuple(tp, args, where, typevars)
        if (origin or tp) in _MAPPINGS:
            if args and args[0] is not str and not _is_str_like(args[0]):
                raise self.fail(tp, where, f"{type_name(tp)} has keys that are not str; JSON "
                                           f"object keys are always strings")
            value = self.walk(args[1], f"{where}{{}}", typevars) if args else {}
            return {"type": "object", "additionalProperties": value}
        cls = origin if origin is not None else tp
        if isinstance(cls, type):
            if args:
                params = getattr(cls, "__parameters__", ())
                typevars = {**typevars, **dict(zip(params, args, strict=False))}
            if _is_pydantic_model(cls):
                return self.pydantic(cls if not args else tp, where)
            if _is_typeddict(cls) or _is_attrs(cls) or dataclasses.is_dataclass(cls):
                return self.record(tp, cls, where, typevars)
        raise self.fail(tp, where)

    def literal(self, tp: Any, values: tuple[Any, ...], where: str) -> dict[str, Any]:
        plain = [v.value if isinstance(v, enum.Enum) else v for v in values]
        for value in plain:
            if not (value is None or isinstance(value, str | int | bool)):
                raise self.fail(tp, where, f"{type_name(tp)} holds {value!r}, which is not "
                                           f"a JSON value")
        return _enum_schema(plain)

    def enumeration(self, cls: type[enum.Enum], where: str) -> dict[str, Any]:
        values = [member.value for member in cls]
        for value in values:
            if not (value is None or isinstance(value, str | int | float | bool)):
                raise self.fail(cls, where, f"the enum {cls.__qualname__} has the value "
                                            f"{value!r}, which is not a JSON value")
        schema = {"title": cls.__name__, **_enum_schema(values)}
        return _with_description(schema, cls)

    def fixed_tuple(self, tp: Any, args: tuple[Any, ...], where: str,
              typevars: dict[Any, Any]) -> dict[str, Any]:
        if not args:
            return {"type": "array"}
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": self.walk(args[0], f"{where}[]", typevars)}
        if args == ((),):  # tuple[()]
            return {"type": "array", "maxItems": 0}
        items = [self.walk(arg, f"{where}[{i}]", typevars) for i, arg in enumerate(args)]
        return {"type": "array", "prefixItems": items, "items": False,
                "minItems": len(items), "maxItems": len(items)}

    def pydantic(self, tp: Any, where: str) -> dict[str, Any]:
        from pydantic import TypeAdapter

        try:
            schema = TypeAdapter(tp).json_schema(ref_template="#/$defs/{model}")
        except Exception as exc:  # pydantic's own error: a field it cannot describe
            raise self.fail(tp, where, f"pydantic could not describe {type_name(tp)}: "
                                       f"{exc}") from None
        for name, definition in schema.pop("$defs", {}).items():
            if name in self.defs and self.defs[name] != definition:
                raise self.fail(tp, where, f"two different types are both named {name!r}; "
                                           f"rename one")
            self.defs[name] = definition
        return dict(schema)

    def record(self, tp: Any, cls: type, where: str,
               typevars: dict[Any, Any]) -> dict[str, Any]:
        import attrs

        key = tp
        if key in self.in_progress:
            self.recursive.add(key)
            return {"$ref": f"#/$defs/{self.def_name(key, cls)}"}
        self.in_progress.append(key)
        try:
            properties: dict[str, Any] = {}
            required: list[str] = []
            for name, annotation, has_default, default, description in self.fields(
                    cls, where):
                schema = self.walk(annotation, f"{where}.{name}", typevars)
                if description:
                    schema = {**schema, "description": description}
                if has_default:
                    if default is not attrs.NOTHING:
                        schema = with_default(schema, default)
                else:
                    required.append(name)
                properties[name] = schema
        finally:
            self.in_progress.pop()
        schema = {"type": "object", "title": cls.__name__, "properties": properties,
                  "required": required, "additionalProperties": False}
        schema = _with_description(schema, cls)
        if key in self.recursive:
            self.defs[self.def_name(key, cls)] = schema
            return {"$ref": f"#/$defs/{self.def_name(key, cls)}"}
        return schema

    def def_name(self, key: Any, cls: type) -> str:
        name = self.def_names.get(key)
        if name is None:
            name = cls.__name__
            taken = set(self.def_names.values()) | set(self.defs)
            n = 2
            while name in taken:
                name, n = f"{cls.__name__}{n}", n + 1
            self.def_names[key] = name
        return name


    def fields(self, cls: type, where: str) -> list[_Field]:
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception as exc:  # a forward reference that does not resolve
            raise self.fail(cls, where, f"the annotations of {cls.__qualname__} could not "
                                        f"be resolved ({exc})") from None
        return _fields(cls, hints)


def _fields(cls: type, hints: dict[str, Any]) -> list[_Field]:
    """(name, annotation, has_default, default, description) of each field JSON carries."""
    import attrs

    out: list[_Field] = []
    if _is_typeddict(cls):
        required_keys = getattr(cls, "__required_keys__", frozenset(hints))
        for name, annotation in hints.items():
            annotation = _strip_required(annotation)
            out.append((name, annotation, name not in required_keys, attrs.NOTHING, None))
        return out
    if _is_attrs(cls):
        for a in attrs.fields(cls):
            if not a.init:
                continue
            default = a.default
            has_default = default is not attrs.NOTHING
            value = attrs.NOTHING if isinstance(default, attrs.Factory) else default  # type: ignore[arg-type]
            out.append((a.name, hints.get(a.name, a.type if a.type is not None else Any),
                        has_default, value, _description(a.metadata)))
        return out
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        has_default = (f.default is not dataclasses.MISSING
                       or f.default_factory is not dataclasses.MISSING)
        value = f.default if f.default is not dataclasses.MISSING else attrs.NOTHING
        out.append((f.name, hints.get(f.name, Any), has_default, value,
                    _description(f.metadata)))
    return out


def _description(metadata: collections.abc.Mapping[Any, Any]) -> str | None:
    value = metadata.get("description")
    return value if isinstance(value, str) else None


def _with_description(schema: dict[str, Any], cls: type) -> dict[str, Any]:
    """``schema`` with the class docstring's first paragraph as its description (not the
    docstring attrs or dataclasses make up, which only repeats the signature)."""
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return schema
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return schema
    if isinstance(cls, type) and issubclass(cls, enum.Enum) and doc == "An enumeration.":
        return schema
    import inspect

    first = inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ").strip()
    return {**schema, "description": first} if first else schema


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {_json_type(v) for v in values}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1:
        schema = {"type": kinds.pop(), **schema}
    return schema


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def with_default(schema: dict[str, Any], value: Any) -> dict[str, Any]:
    """``schema`` showing ``value`` as its ``default`` when that is plain JSON (an enum
    member as its value); else ``schema`` as it is. Fields here, tool parameters too."""
    plain_value = value.value if isinstance(value, enum.Enum) else value
    if plain_value is None or isinstance(plain_value, str | int | float | bool):
        return {**schema, "default": plain_value}
    return schema


def _is_str_like(tp: Any) -> bool:
    if isinstance(tp, type) and issubclass(tp, str):
        return True
    if typing.get_origin(tp) is typing.Literal:
        return all(isinstance(v, str) for v in typing.get_args(tp))
    return getattr(tp, "__supertype__", None) is str


def _strip_required(tp: Any) -> Any:
    """``X`` for ``Required[X]``/``NotRequired[X]``/``ReadOnly[X]`` (the TypedDict markers)."""
    while getattr(typing.get_origin(tp), "_name", None) in ("Required", "NotRequired",
                                                            "ReadOnly"):
        tp = typing.get_args(tp)[0]
    return tp


def _is_attrs(cls: type) -> bool:
    return hasattr(cls, "__attrs_attrs__")


def _is_typeddict(cls: Any) -> bool:
    if typing.is_typeddict(cls):
        return True
    extensions = sys.modules.get("typing_extensions")
    return bool(extensions is not None and extensions.is_typeddict(cls))


def _is_pydantic_model(cls: Any) -> bool:
    """True for a pydantic model class; never imports pydantic (a model means it is loaded)."""
    if "pydantic" not in sys.modules or not isinstance(cls, type):
        return False
    from pydantic import BaseModel

    return issubclass(cls, BaseModel)


# --- converting decoded JSON into the type -------------------------------------------------


@overload
def convert(tp: type[T], data: Any) -> T: ...
@overload
def convert(tp: Any, data: Any) -> Any: ...
def convert(tp: Any, data: Any) -> Any:
    """``data`` (decoded JSON) as a value of ``tp``, checked strictly: every required field
    present, no unknown keys, no silent coercion (``"3"`` is no ``int``, ``1`` no ``bool``).
    Raises ValidationError saying what did not match, and where (``$.items[2].name``)."""
    if _is_pydantic_model(tp):
        return _pydantic_validate(tp, data)
    try:
        return _converter().structure(data, tp)
    except AIError:
        raise
    except Exception as exc:
        raise ValidationError(f"the value does not match {type_name(tp)}: "
                              f"{_describe(exc)}", field="$") from None


def plain(value: Any) -> Any:
    """``value`` (of a type :func:`convert` builds) as JSON data again: what ``convert``
    reads back into an equal value (dates as ISO 8601 strings, enums as their values)."""
    if _is_pydantic_model(type(value)):
        return value.model_dump(mode="json")
    return _converter().unstructure(value)


def _pydantic_validate(tp: Any, data: Any) -> Any:
    from pydantic import ValidationError as PydanticError

    try:
        return tp.model_validate(data)
    except PydanticError as exc:
        problems = "; ".join(
            f"{e['msg']} @ $" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                                        for p in e["loc"])
            for e in exc.errors())
        raise ValidationError(f"the value does not match {type_name(tp)}: {problems}",
                              field="$") from None


def _describe(exc: Exception) -> str:
    import cattrs

    try:
        problems = cattrs.transform_error(exc, path="$", format_exception=_problem)
    except Exception:  # pragma: no cover - transform_error is best effort
        problems = [str(exc)]
    return "; ".join(problems) or str(exc)


def _problem(exc: BaseException, tp: Any) -> str:
    """One mismatch in words: ours say what was expected and what came."""
    from cattrs.errors import ForbiddenExtraKeysError

    if isinstance(exc, _Mismatch):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown field(s) {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, AttributeError) and any(
            str(exc).endswith(f"has no attribute '{name}'") for name in ("items", "keys")):
        return "expected an object"  # cattrs read a list or a string as a dict
    expected = f" for {type_name(tp)}" if tp is not None else ""
    return f"invalid value{expected}: {exc}" if str(exc) else f"invalid value{expected}"


class _Mismatch(ValueError):
    """A value of the wrong JSON type or outside the allowed ones; the message says which."""


def _strict(kind: type, *also: type) -> Any:
    accepted = (kind, *also)

    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:  # bool is an int to Python
            raise _Mismatch(f"expected {_JSON_NAMES[kind]}, got a boolean")
        if not isinstance(value, accepted):
            raise _Mismatch(f"expected {_JSON_NAMES[kind]}, got {_shown(value)}")
        if kind is int and isinstance(value, float):
            if not value.is_integer():
                raise _Mismatch(f"expected an integer, got {value!r}")
            return int(value)
        return float(value) if isinstance(value, int | float) and kind is float else value

    return structure


_JSON_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _from_iso(kind: Any) -> Any:
    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, str):
            raise _Mismatch(f"expected an ISO 8601 string, got {_shown(value)}")
        return kind.fromisoformat(value)

    return structure


def _structure_uuid(value: Any, _: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise _Mismatch(f"expected a UUID string, got {_shown(value)}")
    return uuid.UUID(value)


@functools.cache
def _converter() -> cattrs.Converter:
    """A strict converter: no unknown keys, no coercion between JSON types; a union takes
    the first of its members the value converts to."""
    import cattrs

    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(str, _strict(str))
    conv.register_structure_hook(int, _strict(int, float))
    conv.register_structure_hook(float, _strict(float, int))
    conv.register_structure_hook(bool, _strict(bool))
    conv.register_structure_hook(dt.datetime, _from_iso(dt.datetime))
    conv.register_structure_hook(dt.date, _from_iso(dt.date))
    conv.register_structure_hook(dt.time, _from_iso(dt.time))
    conv.register_structure_hook(uuid.UUID, _structure_uuid)
    for kind in (dt.datetime, dt.date, dt.time):
        conv.register_unstructure_hook(kind, lambda value: value.isoformat())
    conv.register_unstructure_hook(uuid.UUID, str)
    conv.register_unstructure_hook_func(_is_pydantic_model,
                                        lambda value: value.model_dump(mode="json"))
    conv.register_unstructure_hook_func(
        _is_set, lambda value: [conv.unstructure(item) for item in value])
    conv.register_structure_hook_func(_is_union_of_several, _union_hook(conv))
    conv.register_structure_hook_func(_is_literal, _structure_literal)
    conv.register_structure_hook_func(_is_enum, _structure_enum)
    conv.register_structure_hook_func(_is_pydantic_model, _pydantic_validate_hook)
    conv.register_structure_hook_func(_is_plain_sequence, _sequence_hook(conv))
    return conv


def _is_set(tp: Any) -> bool:
    origin: Any = typing.get_origin(tp) or tp
    return origin in _SETS


def _is_union_of_several(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    return origin is typing.Union or origin is types.UnionType


def _union_hook(conv: cattrs.Converter) -> Any:
    def structure(value: Any, tp: Any) -> Any:
        members = typing.get_args(tp)
        if value is None and type(None) in members:
            return None
        problems = []
        for member in members:
            if member is type(None):
                continue
            try:
                return conv.structure(value, member)
            except Exception as exc:
                problems.append(f"as {type_name(member)}: {_describe(exc)}")
        raise _Mismatch(f"matches none of {type_name(tp)} ({'; '.join(problems)})")

    return structure


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Literal


def _structure_literal(value: Any, tp: Any) -> Any:
    for allowed in typing.get_args(tp):
        plain = allowed.value if isinstance(allowed, enum.Enum) else allowed
        if value == plain and type(value) is type(plain):
            return allowed
    raise _Mismatch(f"expected one of {_choices(typing.get_args(tp))}, got {_shown(value)}")


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def _structure_enum(value: Any, tp: Any) -> Any:
    for member in tp:
        if value == member.value and type(value) is type(member.value):
            return member
    raise _Mismatch(f"expected one of {_choices(tp)}, got {_shown(value)}")


def _choices(values: Any) -> str:
    plain = [v.value if isinstance(v, enum.Enum) else v for v in values]
    return ", ".join(json.dumps(v) for v in plain[:20]) + (", ..." if len(plain) > 20 else "")


def _is_plain_sequence(tp: Any) -> bool:
    """list[X] and friends: refuse a JSON string or object where an array belongs (cattrs
    would turn ``"ab"`` into ``["a", "b"]``)."""
    origin = typing.get_origin(tp) or tp
    return origin in _SEQUENCES or origin in _SETS or origin is tuple


def _sequence_hook(conv: cattrs.Converter) -> Any:
    def structure(value: Any, tp: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _Mismatch(f"expected an array, got {_shown(value)}")
        return _structure_sequence(conv, value, tp)

    return structure


def _structure_sequence(conv: cattrs.Converter, value: list[Any] | tuple[Any, ...],
                        tp: Any) -> Any:
    from cattrs.errors import IterableValidationError, IterableValidationNote

    origin = typing.get_origin(tp) or tp
    args = typing.get_args(tp)
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        item_types = [] if args == ((),) else list(args)
        if len(value) != len(item_types):
            raise _Mismatch(f"expected an array of {len(item_types)} items, got "
                             f"{len(value)}")
    else:
        item_types = [args[0] if args else Any] * len(value)
    items, problems = [], []
    for index, (item, item_type) in enumerate(zip(value, item_types, strict=True)):
        try:
            items.append(item if item_type is Any else conv.structure(item, item_type))
        except Exception as exc:
            exc.__notes__ = [*getattr(exc, "__notes__", []), IterableValidationNote(
                f"Structuring {type_name(tp)} @ index {index}", index, item_type)]
            problems.append(exc)
    if problems:
        raise IterableValidationError(f"while structuring {type_name(tp)}", problems, tp)
    if origin is tuple:
        return tuple(items)
    if origin in _SETS:
        return frozenset(items) if origin is frozenset else set(items)
    return items


def _pydantic_validate_hook(value: Any, tp: Any) -> Any:
    try:
        return _pydantic_validate(tp, value)
    except ValidationError as exc:
        raise _Mismatch(exc.message.removeprefix("the value does not match ")) from None
