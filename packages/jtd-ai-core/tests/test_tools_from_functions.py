"""``Tool.from_function`` / ``@jtd_ai.tool``: the schema from a function's signature, type
hints and docstring; arguments converted back to the parameters' types; results as text;
typed errors naming the function and parameter before anything is sent; tools as dicts in
every form, wherever tools are accepted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import attrs
import pytest
from cli_helpers import Cli, jtd_fixture, keyed_server_fixture, needs  # noqa: F401

import jtd_ai
from jtd_ai import AIManager, Tool, ToolCall, ValidationError
from jtd_ai.tools import _bind, _plan, as_tools, result_text


class Units(enum.Enum):
    METRIC = "metric"
    IMPERIAL = "imperial"


@dataclasses.dataclass
class Place:
    city: str
    country: str = "FR"


@attrs.define
class Window:
    days: int
    hourly: bool = False


def forecast(place: Place, window: Window, units: Units = Units.METRIC,
             detail: Literal["short", "long"] = "short", note: str | None = None) -> str:
    """Forecast the weather somewhere.

    Uses the national weather service.

    Args:
        place: Where to forecast.
        window: How far ahead, and
            whether hour by hour.
        units: metric or imperial.
    """
    return f"{place.city}/{window.days}/{units.value}/{detail}/{note}"


def test_the_schema_comes_from_the_hints_and_the_google_docstring() -> None:
    tool = Tool.from_function(forecast)
    assert tool.name == "forecast"
    assert tool.description == "Forecast the weather somewhere.\n\nUses the national weather " \
                               "service."
    assert tool.function is forecast
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "place": {"type": "object", "title": "Place",
                      "properties": {"city": {"type": "string"},
                                     "country": {"type": "string", "default": "FR"}},
                      "required": ["city"], "additionalProperties": False,
                      "description": "Where to forecast."},
            "window": {"type": "object", "title": "Window",
                       "properties": {"days": {"type": "integer"},
                                      "hourly": {"type": "boolean", "default": False}},
                       "required": ["days"], "additionalProperties": False,
                       "description": "How far ahead, and whether hour by hour."},
            "units": {"title": "Units", "type": "string", "enum": ["metric", "imperial"],
                      "description": "metric or imperial.", "default": "metric"},
            "detail": {"type": "string", "enum": ["short", "long"], "default": "short"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["place", "window"],
        "additionalProperties": False,
    }


def sphinx(city: str, days: int) -> str:
    """Forecast, Sphinx style.

    :param city: The city.
    :param days: How many days.
    """
    return city


def numpy(city: str, days: int) -> str:
    """Forecast, NumPy style.

    Parameters
    ----------
    city : str
        The city.
    days : int
        How many days.
    """
    return city


@pytest.mark.parametrize("function", [sphinx, numpy])
def test_sphinx_and_numpy_docstrings_describe_parameters_too(function: Any) -> None:
    tool = Tool.from_function(function)
    assert tool.description.startswith("Forecast, ")
    properties = tool.parameters["properties"]
    assert properties["city"] == {"type": "string", "description": "The city."}
    assert properties["days"] == {"type": "integer", "description": "How many days."}


class _Described:
    description = "from an object"


def annotated(city: Annotated[str, "The city, in English."],
              days: Annotated[int, _Described()] = 1) -> str:
    """Annotated descriptions.

    Args:
        city: the docstring's words lose to Annotated.
    """
    return city


def test_annotated_descriptions_are_used() -> None:
    properties = Tool.from_function(annotated).parameters["properties"]
    assert properties["city"] == {"type": "string", "description": "The city, in English."}
    assert properties["days"] == {"type": "integer", "description": "from an object",
                                  "default": 1}


def test_no_docstring_and_no_parameters_make_a_plain_tool() -> None:
    def now() -> str:
        return "noon"

    tool = Tool.from_function(now)
    assert tool.description == ""
    assert tool.parameters == {"type": "object", "properties": {}, "required": [],
                               "additionalProperties": False}


def test_name_and_description_can_be_given() -> None:
    tool = Tool.from_function(sphinx, name="weather", description="Weather.")
    assert (tool.name, tool.description) == ("weather", "Weather.")


def test_the_decorator_keeps_the_function_callable() -> None:
    @jtd_ai.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @jtd_ai.tool(name="times", description="Multiply.")
    def multiply(a: int, b: int) -> int:
        return a * b

    assert isinstance(add, Tool) and add.description == "Add two numbers."
    assert add(2, 3) == 5 and multiply(a=2, b=3) == 6
    assert (multiply.name, multiply.description) == ("times", "Multiply.")
    with pytest.raises(ValidationError, match="no function to call"):
        Tool("plain")()


def untyped(city, days: int) -> str:  # type: ignore[no-untyped-def]
    return str(city)


def star_args(*cities: str) -> str:
    return ""


def star_kwargs(city: str, **extra: str) -> str:
    return ""


def unsupported(data: bytes) -> str:
    return ""


def unresolved(city: NotDefinedAnywhere) -> str:  # type: ignore[name-defined]  # noqa: F821
    return ""


@pytest.mark.parametrize(("function", "words"), [
    (untyped, ["untyped", "'city'", "no type hint"]),
    (star_args, ["star_args", "'cities'", "*cities"]),
    (star_kwargs, ["star_kwargs", "'extra'", "**extra"]),
    (unsupported, ["unsupported", "'data'", "bytes"]),
    (unresolved, ["unresolved", "NotDefinedAnywhere"]),
])
def test_functions_that_cannot_be_tools_are_validation_errors(function: Any,
                                                              words: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        Tool.from_function(function)
    for word in words:
        assert word in str(info.value)
    assert "test_tools_from_functions" in str(info.value)  # the function's module, named


def test_a_lambda_needs_a_name() -> None:
    with pytest.raises(ValidationError, match="'<lambda>' cannot be a tool name"):
        Tool.from_function(lambda city: city)
    with pytest.raises(ValidationError, match="cannot be a tool name"):
        Tool.from_function(sphinx, name="has space")


def test_two_tools_with_one_name_are_a_clash_naming_both() -> None:
    def lookup(query: str) -> str:
        return query

    other = {"name": "lookup", "parameters": {"type": "object"}}
    with pytest.raises(ValidationError) as info:
        as_tools([lookup, other])
    assert "two tools are named 'lookup'" in str(info.value)
    assert "test_two_tools_with_one_name_are_a_clash_naming_both.<locals>.lookup" in \
        str(info.value) and "a tool dict" in str(info.value)
    ai = AIManager(providers={"echo": {}}, default="echo", config_file=False, env={})
    with pytest.raises(ValidationError, match="two tools are named 'lookup'"):
        ai.conversation().tools(lookup, other)


# -- arguments in, results out -----------------------------------------------------------------


def test_arguments_are_converted_to_the_parameter_types() -> None:
    args, kwargs = _bind(forecast, {"place": {"city": "Lyon"}, "window": {"days": 2},
                                    "units": "imperial"})
    assert args == ()
    assert kwargs == {"place": Place("Lyon"), "window": Window(2), "units": Units.IMPERIAL}
    assert forecast(**kwargs) == "Lyon/2/imperial/short/None"


def test_positional_only_parameters_are_passed_by_position() -> None:
    def area(width: int, height: int = 2, /, *, unit: str = "m") -> str:
        return f"{width * height}{unit}"

    assert _bind(area, {"width": 3, "unit": "cm"}) == ((3, 2), {"unit": "cm"})
    assert _bind(area, {"width": 3, "height": 4}) == ((3, 4), {})


@pytest.mark.parametrize(("arguments", "problem"), [
    ('{"place": {"city": "Lyon"}}', "missing required argument 'window'"),
    ('{"place": {"city": 7}, "window": {"days": 1}}', "argument 'place'"),
    ('{"place": {"city": "x"}, "window": {"days": 1}, "colour": "red"}',
     "unknown argument(s) 'colour'"),
    ('{"place": ', "not valid JSON"),
    ('[1, 2]', "not a JSON object"),
])
def test_bad_arguments_become_a_problem_for_the_model(arguments: str, problem: str) -> None:
    planned = _plan(ToolCall("c1", "forecast", arguments),
                    {"forecast": Tool.from_function(forecast)})
    assert planned.problem is not None and problem in planned.problem
    assert planned.function is None


def test_an_unknown_tool_is_a_problem_naming_the_tools() -> None:
    planned = _plan(ToolCall("c1", "forcast", "{}"), {"forecast": Tool.from_function(forecast)})
    assert planned.problem == "there is no tool named 'forcast'; the tools are: forecast"


def test_results_become_text() -> None:
    assert result_text("as is") == "as is"
    assert result_text(None) == "null"
    assert result_text(3) == "3"
    assert json.loads(result_text(Place("Nice"))) == {"city": "Nice", "country": "FR"}
    assert json.loads(result_text([Window(1)])) == [{"days": 1, "hourly": False}]
    assert json.loads(result_text({"units": Units.METRIC})) == {"units": "metric"}


def test_a_pydantic_result_is_its_json() -> None:
    pydantic = pytest.importorskip("pydantic", reason="pydantic is an optional integration")

    class Reading(pydantic.BaseModel):
        celsius: float

    assert json.loads(result_text(Reading(celsius=18.5))) == {"celsius": 18.5}


# -- tools as dicts, everywhere ----------------------------------------------------------------

PARAMETERS = {"type": "object", "properties": {"query": {"type": "string"}}}
FORMS = {
    "openai": {"type": "function", "function": {"name": "lookup", "description": "Find.",
                                                "parameters": PARAMETERS}},
    "openai_strict": {"type": "function", "function": {"name": "lookup", "description": "Find.",
                                                       "parameters": PARAMETERS,
                                                       "strict": True}},
    "responses_api": {"type": "function", "name": "lookup", "description": "Find.",
                      "parameters": PARAMETERS, "strict": True},
    "plain": {"name": "lookup", "description": "Find.", "parameters": PARAMETERS},
}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_dict_form_becomes_the_same_tool(form: str) -> None:
    assert Tool.coerce(FORMS[form]) == Tool("lookup", "Find.", PARAMETERS)


@pytest.fixture
def echo() -> Iterator[AIManager]:
    ai = AIManager(providers={"echo": {}}, default="echo", config_file=False, env={})
    yield ai
    ai.close()


@pytest.mark.parametrize("form", list(FORMS))
def test_dict_forms_are_accepted_wherever_tools_are(echo: AIManager, form: str) -> None:
    def lookup(query: str) -> str:
        """Find."""
        return query

    expected = (Tool("lookup", "Find.", PARAMETERS),)
    conversation = echo.conversation().tools(FORMS[form]).message("hi")
    assert conversation.request().tools == expected
    assert echo.conversation().tools([FORMS[form]]).message("hi").request().tools == expected
    assert echo.conversation().options(tools=[FORMS[form]]).message("hi").request().tools \
        == expected
    assert echo.driver().build_request("hi", tools=[FORMS[form]]).tools == expected
    built = echo.driver().build_request("hi", tools=[lookup]).tools
    assert built[0].name == "lookup" and built[0].function is lookup


# -- and through the command line -----------------------------------------------------------------

WIRE_TOOL = {"type": "function", "function": {"name": "lookup", "description": "Find.",
                                              "parameters": PARAMETERS}}


@needs("openai")
@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("how", ["stream", "--no-stream", "--json"])
def test_cli_chat_takes_tools_in_every_dict_form(jtd: Cli, form: str, how: str) -> None:
    flags = [] if how == "stream" else [how]
    result = jtd("chat", "-o", "tools", json.dumps([FORMS[form]]), *flags, "find this")
    assert result.exit_code == 0, result.output
    (body,) = jtd.chat_bodies()
    assert body["tools"] == [WIRE_TOOL]  # the OpenAI driver's wire form, strict dropped


@needs("openai")
def test_cli_batch_items_take_tools_in_their_options(jtd: Cli, tmp_path: Path) -> None:
    items = [{"id": form, "prompt": f"item {form}", "options": {"tools": [FORMS[form]]}}
             for form in FORMS]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    result = jtd("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "-q")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(o["id"] for o in out if o["ok"]) == sorted(FORMS)
    bodies = jtd.chat_bodies()
    assert len(bodies) == len(FORMS) and all(b["tools"] == [WIRE_TOOL] for b in bodies)


def test_sets_and_other_values_json_lacks_still_make_text() -> None:
    assert sorted(json.loads(result_text({"tags": {"b", "a"}}))["tags"]) == ["a", "b"]
    assert json.loads(result_text({"when": dt.date(2026, 12, 4)})) == {
        "when": "2026-12-04"}


def test_what_cannot_be_a_tool_is_refused_clearly() -> None:
    with pytest.raises(ValidationError, match="function must be callable, not str"):
        Tool("lookup", function="lookup")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="a function or a tool dict"):
        Tool.coerce(Place)  # a class is no tool function
    with pytest.raises(ValidationError, match="a function or a tool dict"):
        as_tools([42])
