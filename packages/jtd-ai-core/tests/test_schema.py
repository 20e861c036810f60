"""JSON schemas of Python types (jtd_ai.schema.type_schema) and strict conversion back.

No ``from __future__ import annotations`` here: on Python 3.11 a TypedDict's
``NotRequired`` is only seen when its annotations are not strings.
"""

import dataclasses
import datetime as dt
import enum
import uuid
from typing import (
    Annotated,
    Any,
    Generic,
    Literal,
    NewType,
    NotRequired,
    Optional,
    TypedDict,
    TypeVar,
)

import attrs
import pytest

from jtd_ai import ValidationError
from jtd_ai.schema import convert, type_name, type_schema


class Mood(enum.Enum):
    """How someone feels."""

    HAPPY = "happy"
    SAD = "sad"


@attrs.define
class Address:
    """Where someone lives.

    Only the first paragraph becomes the description."""

    city: str
    zip: str | None = None


@attrs.frozen
class Person:
    name: str = attrs.field(metadata={"description": "the full name"})
    age: int
    mood: Mood
    kind: Literal["friend", "colleague"]
    addresses: list[Address] = attrs.Factory(list)
    internal: int = attrs.field(default=0, init=False)


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0
    label: str = dataclasses.field(default="", metadata={"description": "shown next to it"})


@dataclasses.dataclass
class Tree:
    value: int
    children: "list[Tree]"


class Movie(TypedDict):
    title: str
    year: int
    rating: NotRequired[float]


T = TypeVar("T")


@attrs.define
class Box(Generic[T]):
    item: T


UserId = NewType("UserId", str)

ADDRESS = {
    "type": "object", "title": "Address", "description": "Where someone lives.",
    "properties": {"city": {"type": "string"},
                   "zip": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}},
    "required": ["city"], "additionalProperties": False,
}


@pytest.mark.parametrize(("tp", "expected"), [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (None, {"type": "null"}),
    (Any, {}),
    (dt.datetime, {"type": "string", "format": "date-time"}),
    (dt.date, {"type": "string", "format": "date"}),
    (uuid.UUID, {"type": "string", "format": "uuid"}),
    (UserId, {"type": "string"}),
    (Annotated[int, "meta"], {"type": "integer"}),
    (Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}),  # noqa: UP045 - the typing form too
    (int | str, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
    (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
    (Literal[1, "a"], {"enum": [1, "a"]}),
    (Mood, {"title": "Mood", "type": "string", "enum": ["happy", "sad"],
            "description": "How someone feels."}),
    (list[int], {"type": "array", "items": {"type": "integer"}}),
    (set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
    (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
    (tuple[int, str], {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
                       "items": False, "minItems": 2, "maxItems": 2}),
    (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
    (Address, ADDRESS),
    (Box[int], {"type": "object", "title": "Box", "properties": {"item": {"type": "integer"}},
                "required": ["item"], "additionalProperties": False}),
])
def test_schema_of_each_kind_of_type(tp: Any, expected: dict[str, Any]) -> None:
    assert type_schema(tp) == expected


def test_attrs_class_fields_required_unless_defaulted_and_nested_inline() -> None:
    schema = type_schema(Person)
    assert schema["required"] == ["name", "age", "mood", "kind"]
    assert schema["properties"]["name"] == {"type": "string", "description": "the full name"}
    assert schema["properties"]["addresses"] == {"type": "array", "items": ADDRESS}
    assert "internal" not in schema["properties"]  # init=False: not part of the JSON
    assert schema["additionalProperties"] is False
    assert "description" not in schema  # no docstring of its own


def test_dataclass_defaults_descriptions_and_no_made_up_docstring() -> None:
    assert type_schema(Point) == {
        "type": "object", "title": "Point",
        "properties": {"x": {"type": "number"}, "y": {"type": "number", "default": 0.0},
                       "label": {"type": "string", "default": "",
                                 "description": "shown next to it"}},
        "required": ["x"], "additionalProperties": False,
    }


def test_typeddict_not_required_key() -> None:
    schema = type_schema(Movie)
    assert schema["required"] == ["title", "year"]
    assert schema["properties"]["rating"] == {"type": "number"}


def test_self_referring_class_goes_to_defs() -> None:
    assert type_schema(Tree) == {
        "$ref": "#/$defs/Tree",
        "$defs": {"Tree": {
            "type": "object", "title": "Tree",
            "properties": {"value": {"type": "integer"},
                           "children": {"type": "array", "items": {"$ref": "#/$defs/Tree"}}},
            "required": ["value", "children"], "additionalProperties": False}},
    }


def test_schema_is_a_fresh_copy_each_time() -> None:
    first = type_schema(Address)
    first["properties"].clear()
    assert type_schema(Address) == ADDRESS


class NotDescribable:
    pass


@attrs.define
class HoldsBadField:
    thing: list[NotDescribable]


@pytest.mark.parametrize(("tp", "field", "words"), [
    (NotDescribable, "NotDescribable", "NotDescribable has no JSON schema"),
    (HoldsBadField, "HoldsBadField.thing[]", "NotDescribable has no JSON schema"),
    (dict[int, str], "dict[int, str]", "keys that are not str"),
    (Literal[1.5], "Literal[1.5]", "not a JSON value"),
    (Box, "Box.item", "type variable"),
    (bytes, "bytes", "bytes has no JSON schema"),
])
def test_type_without_schema_is_a_validation_error_naming_it(tp: Any, field: str,
                                                             words: str) -> None:
    with pytest.raises(ValidationError) as info:
        type_schema(tp)
    assert info.value.field == field
    assert words in str(info.value)
    assert f"cannot derive a JSON schema for {type_name(tp)}" in str(info.value)


def test_convert_builds_nested_instances() -> None:
    person = convert(Person, {"name": "Ada", "age": 36, "mood": "happy", "kind": "friend",
                              "addresses": [{"city": "London"}]})
    assert person == Person("Ada", 36, Mood.HAPPY, "friend", [Address("London")])
    assert convert(Tree, {"value": 1, "children": [{"value": 2, "children": []}]}) == Tree(
        1, [Tree(2, [])])
    assert convert(Movie, {"title": "Heat", "year": 1995}) == {"title": "Heat", "year": 1995}
    assert convert(list[Point], [{"x": 1}]) == [Point(1.0)]
    assert convert(Box[int], {"item": 3}) == Box(3)
    assert convert(tuple[int, str], [1, "a"]) == (1, "a")
    assert convert(dt.date, "2026-12-04") == dt.date(2026, 12, 4)
    assert convert(int | str, "x") == "x"
    assert convert(Address | None, None) is None
    assert convert(float, 3) == 3.0 and isinstance(convert(float, 3), float)
    assert convert(int, 3.0) == 3  # JSON has one number type; 3.0 is a whole number


@pytest.mark.parametrize(("tp", "data", "words"), [
    (int, "3", "expected an integer, got '3' @ $"),
    (int, 3.5, "expected an integer, got 3.5"),
    (int, True, "expected an integer, got a boolean"),
    (bool, 1, "expected a boolean, got 1"),
    (str, 5, "expected a string, got 5"),
    (list[int], "ab", "expected an array, got 'ab'"),
    (list[int], [1, "2"], "expected an integer, got '2' @ $[1]"),
    (Mood, "angry", 'expected one of "happy", "sad", got \'angry\''),
    (Literal["a"], "b", 'expected one of "a", got \'b\''),
    (Address, {"zip": "1"}, "required field missing @ $.city"),
    (Address, {"city": "x", "country": "y"}, "unknown field(s) country @ $"),
    (Address, ["x"], "expected an object"),
    (Movie, {"title": "x"}, "required field missing @ $.year"),
    (tuple[int, str], [1], "expected an array of 2 items, got 1"),
    (list[Address], [{"city": "a"}, {"city": 2}], "expected a string, got 2 @ $[1].city"),
    (int | None, "x", "matches none of int | None"),
])
def test_convert_mismatch_is_a_validation_error_saying_where(tp: Any, data: Any,
                                                            words: str) -> None:
    with pytest.raises(ValidationError) as info:
        convert(tp, data)
    assert f"does not match {type_name(tp)}" in str(info.value)
    assert words in str(info.value)


def test_convert_reports_every_mismatch_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        convert(Person, {"name": 1, "age": "x", "mood": "happy", "kind": "friend"})
    assert "@ $.name" in str(info.value) and "@ $.age" in str(info.value)


pydantic = pytest.importorskip("pydantic", reason="pydantic is an optional integration")


class Pet(pydantic.BaseModel):
    name: str
    legs: int = 4


class Owner(pydantic.BaseModel):
    pets: list[Pet]


def test_pydantic_models_use_pydantics_own_schema() -> None:
    assert type_schema(Pet) == Pet.model_json_schema()
    schema = type_schema(list[Owner])
    assert schema["items"] == {key: value for key, value in Owner.model_json_schema().items()
                               if key != "$defs"}
    assert schema["$defs"] == Owner.model_json_schema()["$defs"]


def test_pydantic_models_validate_with_pydantic() -> None:
    assert convert(Owner, {"pets": [{"name": "Rex"}]}) == Owner(pets=[Pet(name="Rex")])
    assert convert(list[Pet], [{"name": "Tom", "legs": 3}]) == [Pet(name="Tom", legs=3)]
    with pytest.raises(ValidationError, match=r"does not match Owner: .*@ \$\.pets\[0\]\.name"):
        convert(Owner, {"pets": [{"legs": 2}]})
    with pytest.raises(ValidationError, match=r"does not match list\[Pet\]"):
        convert(list[Pet], [{"legs": 2}])
