"""Function schemas: built from callables, normalised from OpenAI tool JSON, and argument validation."""

from __future__ import annotations

import copy
import enum
import functools
from typing import Literal, Optional

import pytest

from semantic_router.errors import ArgumentError, SemanticRouterError
from semantic_router.dynamic.schemas import get_schemas, normalize_schemas, parse_docstring, validate_arguments


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


def get_weather(location: str, days: int = 1, unit: Unit = Unit.CELSIUS, hourly: bool = False,
                tags: list[str] | None = None, mode: Literal["fast", "exact"] = "fast",
                limits: Optional[dict[str, float]] = None, *args: int, **kwargs: str) -> str:
    """Get the weather forecast
    for a place.

    Anything after the first paragraph is not part of the description.

    :param location: the city, e.g.
        "Paris"
    :param int days: how many days ahead
    :param hourly: hour by hour
    :returns: the forecast
    """
    return location


def book_table(restaurant: str, people: int, time: str | None, notes=""):
    """Book a table.

    Args:
        restaurant (str): Name of the
            restaurant.
        people: How many guests.

    Returns:
        A confirmation id.
    """


def params(schema: dict) -> dict:
    return schema["function"]["parameters"]


def test_function_schema_types_defaults_and_descriptions():
    (schema,) = get_schemas(get_weather)
    assert schema["type"] == "function"
    fn = schema["function"]
    assert fn["name"] == "get_weather"
    assert fn["description"] == "Get the weather forecast for a place."
    p = fn["parameters"]
    assert p["type"] == "object" and p["required"] == ["location"]
    props = p["properties"]
    assert set(props) == {"location", "days", "unit", "hourly", "tags", "mode", "limits"}  # no *args/**kwargs
    assert props["location"] == {"type": "string", "description": 'the city, e.g. "Paris"'}
    assert props["days"] == {"type": "integer", "description": "how many days ahead", "default": 1}
    assert props["unit"] == {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"}
    assert props["hourly"] == {"type": "boolean", "description": "hour by hour", "default": False}
    assert props["tags"] == {"type": ["array", "null"], "items": {"type": "string"}, "default": None}
    assert props["mode"] == {"type": "string", "enum": ["fast", "exact"], "default": "fast"}
    assert props["limits"] == {"type": ["object", "null"], "additionalProperties": {"type": "number"},
                               "default": None}


def test_google_docstring_and_optional_without_default_stays_required():
    p = params(get_schemas(book_table)[0])
    assert p["required"] == ["restaurant", "people", "time"]
    assert p["properties"]["restaurant"]["description"] == "Name of the restaurant."
    assert p["properties"]["people"] == {"type": "integer", "description": "How many guests."}
    assert p["properties"]["time"] == {"type": ["string", "null"]}
    assert p["properties"]["notes"] == {"type": "string", "default": ""}  # unannotated: the default's type
    assert get_schemas(book_table)[0]["function"]["description"] == "Book a table."


def test_literal_of_numbers_nested_lists_and_unions():
    def f(level: Literal[1, 2, 3], grid: list[list[float]], key: int | str, anything=None, any_list: list = ()):
        """F."""

    props = params(get_schemas(f)[0])["properties"]
    assert props["level"] == {"type": "integer", "enum": [1, 2, 3]}
    assert props["grid"] == {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
    assert props["key"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["anything"] == {"default": None}
    assert props["any_list"]["type"] == "array"


class Calendar:
    """A calendar."""

    def add_event(self, title: str, day: int = 1) -> None:
        """Add an event.

        :param title: what happens
        """

    @classmethod
    def open_day(cls, day: int) -> None:
        """Open a day."""

    @staticmethod
    def close_day(day: int) -> None:
        """Close a day."""

    def __call__(self, when: str) -> None:
        """Look at the calendar."""


def test_methods_static_class_bound_unbound_and_callable_objects():
    bound, cls_method, static = get_schemas(Calendar().add_event, Calendar.open_day, Calendar.close_day)
    assert bound["function"]["name"] == "add_event"
    assert params(bound)["required"] == ["title"] and "self" not in params(bound)["properties"]
    assert params(bound)["properties"]["title"]["description"] == "what happens"
    assert params(cls_method)["required"] == ["day"] and params(static)["required"] == ["day"]
    assert params(get_schemas(Calendar.add_event)[0]) == params(bound)  # unbound: self is dropped
    (obj,) = get_schemas(Calendar())
    assert obj["function"]["name"] == "Calendar" and params(obj)["required"] == ["when"]
    (partial,) = get_schemas(functools.partial(get_weather, days=3))
    assert partial["function"]["name"] == "get_weather"
    assert params(partial)["properties"]["days"]["default"] == 3


def test_unsupported_annotation_and_lambda_are_clear_errors():
    def f(x: complex) -> None: ...

    with pytest.raises(ValueError, match=r"f: parameter 'x'.*complex"):
        get_schemas(f)
    with pytest.raises(ValueError, match="function name must match"):
        get_schemas(lambda x: x)


def test_parse_docstring_edge_cases():
    assert parse_docstring("") == ("", {})
    assert parse_docstring("Only a summary.") == ("Only a summary.", {})
    summary, docs = parse_docstring("Do it.\n\n:param a: first\n:param b: second\n  more\n:return: x")
    assert summary == "Do it." and docs == {"a": "first", "b": "second more"}


TOOL = {"type": "function", "function": {
    "name": "get_time", "description": "Current time in a timezone.",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}}}


def test_openai_json_is_accepted_and_canonicalised():
    original = copy.deepcopy(TOOL)
    out = normalize_schemas([TOOL])
    assert out == [TOOL] and out[0] is not TOOL
    out[0]["function"]["parameters"]["properties"]["timezone"]["type"] = "integer"
    assert TOOL == original  # a deep copy, the caller's dict is untouched
    bare = {"name": "ping"}  # legacy "functions" form, no parameters
    assert normalize_schemas([bare]) == [{"type": "function", "function": {
        "name": "ping", "description": "", "parameters": {"type": "object", "properties": {}, "required": []}}}]
    mixed = get_schemas(get_weather, TOOL)
    assert [s["function"]["name"] for s in mixed] == ["get_weather", "get_time"]
    assert normalize_schemas(get_schemas(get_weather)) == get_schemas(get_weather)  # idempotent


@pytest.mark.parametrize("bad, message", [
    ({"type": "tool", "function": {"name": "x"}}, "expected {'type': 'function'"),
    ({"description": "no name"}, "expected {'type': 'function'"),
    ({"type": "function", "function": {"name": "has space"}}, "function name must match"),
    ({"type": "function", "function": "get_time"}, "'function' must be a dict"),
    ({"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}, "type 'object'"),
    ({"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": 1}}}},
     "argument 'a' must be a schema dict"),
    ({"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"type": "text"}}}}}, "argument 'a'"),
    ({"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {}, "required": ["a"]}}}, r"required arguments \['a'\]"),
    ({"type": "function", "function": {"name": "f", "signature": "(a: str)"}}, r"unknown keys \['signature'\]"),
    ({"type": "function", "function": {"name": "f", "description": 3}}, "description must be a string"),
])
def test_malformed_json_is_rejected_naming_the_problem(bad, message):
    with pytest.raises(ValueError, match=message):
        normalize_schemas([bad])


def test_list_level_mistakes():
    with pytest.raises(ValueError, match="wrap it in a list"):
        normalize_schemas(TOOL)
    with pytest.raises(ValueError, match="duplicate function name 'get_time'"):
        normalize_schemas([TOOL, TOOL])
    with pytest.raises(ValueError, match="schema 1: expected a callable or an OpenAI tool dict, got int"):
        normalize_schemas([TOOL, 3])


WEATHER = get_schemas(get_weather)[0]


@pytest.mark.parametrize("arguments", [
    {"location": "Paris"},
    {"location": "Paris", "days": 3, "unit": "fahrenheit", "hourly": True, "tags": ["a", "b"], "mode": "exact",
     "limits": {"rain": 0.5, "wind": 3}},
    {"location": "Paris", "tags": None, "limits": None},
])
def test_valid_arguments_pass_unchanged(arguments):
    assert validate_arguments(WEATHER, arguments) == arguments


@pytest.mark.parametrize("arguments, message", [
    ({}, "missing required argument 'location'"),
    ({"location": "Paris", "days": "3"}, "argument 'days': expected integer, got string '3'"),  # no coercion
    ({"location": "Paris", "days": 2.5}, "argument 'days': expected integer, got number 2.5"),
    ({"location": "Paris", "days": True}, "argument 'days': expected integer, got boolean"),
    ({"location": 42}, "argument 'location': expected string, got integer 42"),
    ({"location": "Paris", "hourly": "yes"}, "argument 'hourly': expected boolean"),
    ({"location": "Paris", "unit": "kelvin"}, "argument 'unit': 'kelvin' is not one of"),
    ({"location": "Paris", "tags": ["a", 1]}, r"argument 'tags\[1\]': expected string"),
    ({"location": "Paris", "limits": {"rain": "lots"}}, "argument 'limits.rain': expected number"),
    ({"location": "Paris", "country": "FR"}, "unknown argument 'country' .allowed: location, days"),
])
def test_invalid_arguments_raise_argument_error(arguments, message):
    with pytest.raises(ArgumentError, match=message) as info:
        validate_arguments(WEATHER, arguments)
    assert isinstance(info.value, SemanticRouterError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith("get_weather: ")


def test_several_problems_are_reported_together_and_non_objects_refused():
    with pytest.raises(ArgumentError, match="missing required argument 'location'; unknown argument 'x'"):
        validate_arguments(WEATHER, {"x": 1})
    with pytest.raises(ArgumentError, match="arguments must be a JSON object, got array"):
        validate_arguments(WEATHER, ["Paris"])
    assert validate_arguments(TOOL["function"], {"timezone": "UTC"}) == {"timezone": "UTC"}  # bare function form
    with pytest.raises(ValueError, match="function name must match"):
        validate_arguments({"name": "bad name"}, {})
