"""Function schemas in OpenAI tools format, for dynamic routes (routes whose arguments an LLM fills in).

`get_schemas(fn, ...)` builds them from Python callables (signature + docstring);
`normalize_schemas([...])` checks hand-written tool JSON (or callables) and returns the canonical
form; `validate_arguments(schema, args)` checks what an LLM returned, strictly (no coercion).
"""

from __future__ import annotations

import collections.abc as cabc
import enum
import functools
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Union, get_args, get_origin

from semantic_router.errors import ArgumentError

Schema = dict[str, Any]
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what the OpenAI API accepts as a function name
JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")
_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null",
                            dict: "object", list: "array", tuple: "array", set: "array", frozenset: "array"}
_ARRAYS = (list, tuple, set, frozenset, cabc.Sequence, cabc.MutableSequence, cabc.Set, cabc.Iterable)
_OBJECTS = (dict, cabc.Mapping, cabc.MutableMapping)
_FUNCTION_KEYS = {"name", "description", "parameters", "strict"}
_ARGS_SECTION = re.compile(r"^(args|arguments|parameters|params|keyword args|keyword arguments)\s*:\s*$", re.I)
_REST_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?\*{0,2}(\w+)\s*:\s*(.*)$")
_GOOGLE_PARAM = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


# -- building from callables --------------------------------------------------------------------
def get_schemas(*fns: Callable[..., Any] | Mapping[str, Any]) -> list[Schema]:
    """OpenAI tool schemas of the given callables (tool dicts are accepted too and normalised)."""
    return normalize_schemas(fns)


def function_schema(fn: Callable[..., Any]) -> Schema:
    """One callable as `{"type": "function", "function": {"name", "description", "parameters"}}`."""
    target = fn.func if isinstance(fn, functools.partial) else fn
    name = getattr(target, "__name__", None) or type(target).__name__
    if not inspect.isroutine(target) and not inspect.isclass(target) and callable(target):
        target = type(target).__call__  # a callable object: its __call__ holds the annotations
    summary, param_docs = parse_docstring(inspect.getdoc(fn) or "")
    hints = _hints(target)
    properties: dict[str, Schema] = {}
    required: list[str] = []
    params = list(inspect.signature(fn).parameters.values())
    if params and params[0].name in ("self", "cls") and params[0].annotation is inspect.Parameter.empty:
        params = params[1:]  # an unbound method taken from its class
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = hints.get(p.name, p.annotation)
        if isinstance(annotation, str):
            raise ValueError(f"{name}: cannot resolve the annotation {annotation!r} of parameter {p.name!r}")
        if annotation is inspect.Parameter.empty and type(p.default) in _SCALARS and p.default is not None:
            annotation = type(p.default)  # unannotated: the default's type, when it is a JSON one
        try:
            prop = type_schema(annotation)
        except ValueError as exc:
            raise ValueError(f"{name}: parameter {p.name!r}: {exc}") from None
        if p.name in param_docs:
            prop["description"] = param_docs[p.name]
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
        elif _jsonable(default := p.default.value if isinstance(p.default, enum.Enum) else p.default):
            prop["default"] = default
        properties[p.name] = prop
    return {"type": "function", "function": {"name": name, "description": summary, "parameters": {
        "type": "object", "properties": properties, "required": required}}}


def _hints(target: Any) -> dict[str, Any]:
    """Resolved annotations; {} when a forward reference cannot be resolved (raw ones are checked later)."""
    try:
        return typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
    except Exception:
        return {}


def type_schema(tp: Any) -> Schema:
    """JSON schema of a type annotation (str, int, float, bool, list[X], dict, Optional, Literal, Enum)."""
    if tp is inspect.Parameter.empty or tp is Any or tp is object:
        return {}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    if inspect.isclass(tp) and issubclass(tp, enum.Enum):
        return _enum_schema([member.value for member in tp])
    origin, args = get_origin(tp), get_args(tp)
    if origin is typing.Annotated:
        return type_schema(args[0])
    if origin is Literal:
        return _enum_schema(list(args))
    if origin is Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        inner = type_schema(members[0]) if len(members) == 1 else {"anyOf": [type_schema(a) for a in members]}
        return _nullable(inner) if len(members) < len(args) else inner
    if origin in _ARRAYS:
        out: Schema = {"type": "array"}
        items = [a for a in args if a is not Ellipsis]
        if items and all(a == items[0] for a in items):
            out["items"] = type_schema(items[0])
        return out
    if origin in _OBJECTS:
        out = {"type": "object"}
        if len(args) == 2 and (value := type_schema(args[1])):
            out["additionalProperties"] = value
        return out
    raise ValueError(f"type {tp!r} has no JSON-schema equivalent here (use str, int, float, bool, list, dict, "
                     "Optional, Literal or an Enum)")


def _enum_schema(values: list[Any]) -> Schema:
    if not values or not all(_jsonable(v) and not isinstance(v, (list, dict)) for v in values):
        raise ValueError(f"enum/Literal values must be JSON scalars, got {values!r}")
    kinds = {_SCALARS[type(v)] for v in values}
    return {"type": kinds.pop(), "enum": values} if len(kinds) == 1 else {"enum": values}


def _nullable(inner: Schema) -> Schema:
    if not inner:
        return inner
    if isinstance(inner.get("type"), str) and "anyOf" not in inner:
        out = {**inner, "type": [inner["type"], "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [*inner.get("anyOf", [inner]), {"type": "null"}]}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Summary (first paragraph) and per-parameter descriptions (`:param x:` or a Google `Args:` section)."""
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith(":") or _ARGS_SECTION.match(line.strip()):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    current: str | None = None
    indent = 0
    in_args = False
    for line in lines:
        text, depth = line.strip(), len(line) - len(line.lstrip())
        if not text:
            current = None if not in_args else current
            continue
        if current is not None and depth > indent:
            params[current] = f"{params[current]} {text}".strip()
            continue
        current = None
        if depth == 0 and not text.startswith(":"):
            in_args = bool(_ARGS_SECTION.match(text))
            if in_args or not text.endswith(":"):
                continue
        match = _REST_PARAM.match(text) or (_GOOGLE_PARAM.match(text) if in_args else None)
        if match:
            current, indent = match.group(1), depth
            params[current] = match.group(2).strip()
    return " ".join(summary), params


# -- normalising tool JSON ----------------------------------------------------------------------
def normalize_schemas(schemas: Iterable[Callable[..., Any] | Mapping[str, Any]]) -> list[Schema]:
    """Canonical OpenAI tool dicts from callables and/or tool JSON; ValueError naming what is wrong."""
    if isinstance(schemas, (Mapping, str, bytes)) or callable(schemas):
        raise ValueError(f"expected a list of function schemas, got a single {type(schemas).__name__}; "
                         "wrap it in a list")
    if not isinstance(schemas, Iterable):
        raise ValueError(f"expected a list of function schemas, got {type(schemas).__name__}: {schemas!r:.60}")
    out: list[Schema] = []
    for i, item in enumerate(schemas):
        schema = normalize_schema(item, f"schema {i}") if isinstance(item, Mapping) else None
        if schema is None:
            if not callable(item):
                raise ValueError(f"schema {i}: expected a callable or an OpenAI tool dict, got {type(item).__name__}")
            schema = normalize_schema(function_schema(item), f"schema {i}")
        name = schema["function"]["name"]
        if any(s["function"]["name"] == name for s in out):
            raise ValueError(f"schema {i}: duplicate function name {name!r}")
        out.append(schema)
    return out


def normalize_schema(item: Mapping[str, Any], where: str = "schema") -> Schema:
    """One tool dict (or a bare `{"name", "parameters"}` function dict) in canonical tool form."""
    if not isinstance(item, Mapping):
        raise ValueError(f"{where}: expected a dict, got {type(item).__name__}")
    if "function" not in item and "name" not in item:
        raise ValueError(f"{where}: expected {{'type': 'function', 'function': {{'name': ..., 'parameters': ...}}}}, "
                         f"got keys {sorted(item)}")
    if "function" in item:
        if item.get("type", "function") != "function" or set(item) - {"type", "function"}:
            raise ValueError(f"{where}: expected {{'type': 'function', 'function': {{...}}}}, got keys "
                             f"{sorted(item)} with type {item.get('type')!r}")
        fn = item["function"]
    else:  # a flat function; aurelio's flat schemas may carry "type": "function" too
        fn = {k: v for k, v in item.items() if not (k == "type" and v == "function")}
    if not isinstance(fn, Mapping):
        raise ValueError(f"{where}: 'function' must be a dict, got {type(fn).__name__}")
    name = fn.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"{where}: function name must match {NAME.pattern} (letters, digits, _ or -), got {name!r}")
    where = f"{where} ({name})"
    if extra := set(fn) - _FUNCTION_KEYS:
        raise ValueError(f"{where}: unknown keys {sorted(extra)}; a function has {sorted(_FUNCTION_KEYS)}")
    description = fn.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"{where}: description must be a string, got {type(description).__name__}")
    out: Schema = {"name": name, "description": description,
                   "parameters": _check_parameters(fn.get("parameters"), where)}
    if "strict" in fn:
        if not isinstance(fn["strict"], bool):
            raise ValueError(f"{where}: strict must be true or false, got {fn['strict']!r}")
        out["strict"] = fn["strict"]
    try:
        return json.loads(json.dumps({"type": "function", "function": out}, allow_nan=False))  # deep, JSON-only copy
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: schema is not JSON-serialisable: {exc}") from None


def _check_parameters(params: Any, where: str) -> Schema:
    if params is None:
        return {"type": "object", "properties": {}, "required": []}
    if not isinstance(params, Mapping) or params.get("type") != "object":
        raise ValueError(f"{where}: parameters must be a JSON schema with type 'object', got {params!r:.80}")
    properties = params.get("properties", {})
    if not isinstance(properties, Mapping) or not all(isinstance(k, str) for k in properties):
        raise ValueError(f"{where}: parameters.properties must map argument names to schemas")
    for key, prop in properties.items():
        kinds = prop.get("type", []) if isinstance(prop, Mapping) else None
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, list) or any(k not in JSON_TYPES for k in kinds):
            raise ValueError(f"{where}: argument {key!r} must be a schema dict whose type is one of "
                             f"{', '.join(JSON_TYPES)}; got {prop!r:.80}")
    required = params.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError(f"{where}: parameters.required must be a list of argument names, got {required!r}")
    if missing := [r for r in required if r not in properties]:
        raise ValueError(f"{where}: required arguments {missing} are not in parameters.properties")
    return {**params, "type": "object", "properties": dict(properties), "required": list(required)}


# -- validating arguments -----------------------------------------------------------------------
def validate_arguments(schema: Mapping[str, Any], arguments: Any) -> dict[str, Any]:
    """`arguments` checked against one tool schema: required present, none unknown, JSON types exact."""
    fn = normalize_schema(schema)["function"]
    if not isinstance(arguments, Mapping):
        raise ArgumentError(f"{fn['name']}: arguments must be a JSON object, got {_kind(arguments)}")
    if problems := _problems(arguments, fn["parameters"], ""):
        raise ArgumentError(f"{fn['name']}: " + "; ".join(problems))
    return dict(arguments)


def _problems(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    """What is wrong with `value` under `schema` (empty list: valid); `path` names it in messages."""
    what = f"argument {path!r}" if path else "arguments"
    for key in ("anyOf", "oneOf"):
        if key in schema and all(_problems(value, s, path) for s in schema[key]):
            return [f"{what}: {_kind(value)} {value!r:.40} matches none of the allowed schemas"]
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds and not any(_is(value, k) for k in kinds):
        return [f"{what}: expected {' or '.join(kinds)}, got {_kind(value)} {value!r:.40}"]
    if "enum" in schema and not any(_is_same(value, e) for e in schema["enum"]):
        return [f"{what}: {value!r:.40} is not one of {schema['enum']!r}"]
    if isinstance(value, Mapping):
        return _object_problems(value, schema, path)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [p for i, v in enumerate(value) for p in _problems(v, schema["items"], f"{path}[{i}]")]
    return []


def _object_problems(value: Mapping[str, Any], schema: Mapping[str, Any], path: str) -> list[str]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    # unknown keys are refused unless the schema allows them (a bare nested `dict` argument does)
    extra_schema = schema.get("additionalProperties", bool(path) and not properties)
    prefix = f"{path}." if path else ""
    problems = [f"missing required argument {prefix + r!r}" for r in schema.get("required", []) if r not in value]
    for key, item in value.items():
        if key in properties:
            problems += _problems(item, properties[key], prefix + key)
        elif isinstance(extra_schema, Mapping):
            problems += _problems(item, extra_schema, prefix + key)
        elif extra_schema is not True:
            allowed = ", ".join(properties) or "none"
            problems.append(f"unknown argument {prefix + key!r} (allowed: {allowed})")
    return problems


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    checks: dict[str, Any] = {"string": str, "boolean": bool, "array": (list, tuple), "object": Mapping,
                              "null": type(None)}
    return isinstance(value, checks.get(kind, ()))


def _is_same(value: Any, allowed: Any) -> bool:
    return value == allowed and isinstance(value, bool) == isinstance(allowed, bool)


def _kind(value: Any) -> str:
    for kind in JSON_TYPES:
        if _is(value, kind):
            return kind
    return type(value).__name__
