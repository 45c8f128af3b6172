"""Routes and routing decisions: plain validated data, no I/O."""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

logger = logging.getLogger(__name__)

Aggregation = Literal["max", "mean", "sum", "min"]
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)


def check_aggregation(value: Any) -> str:
    """One of max, mean, sum, min, or a ValueError naming the bad value."""
    if value not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}; got {value!r}")
    return value


def similarity_from(score_threshold: float | None, distance_threshold: float | None, what: str) -> float | None:
    """Resolve a threshold given as similarity or as RedisVL-style cosine distance (1 - similarity)."""
    if score_threshold is not None and distance_threshold is not None:
        raise ValueError(f"{what}: give score_threshold or distance_threshold, not both")
    if distance_threshold is not None:
        d = check_threshold(distance_threshold, "distance_threshold", 0.0, 2.0)
        return 1.0 - d
    if score_threshold is not None:
        return check_threshold(score_threshold, "score_threshold", -1.0, 1.0)
    return None


def check_threshold(value: Any, name: str, low: float = -1.0, high: float = 1.0) -> float:
    """A finite number within [low, high], or a ValueError naming the bad value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}: {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be within [{low}, {high}], got {value!r}")
    return float(value)


def check_route_name(name: Any) -> str:
    """A route name: non-empty, not blank, no leading or trailing whitespace (names that look the
    same are the same), valid Unicode. Every index backend round-trips any such name exactly,
    control characters included (tests/contract/test_route_names.py)."""
    if not isinstance(name, str):
        raise ValueError(f"route name must be a string, got {type(name).__name__}: {name!r:.60}")
    if not name or not name.strip():
        raise ValueError(f"route name must be a non-empty string, got {name!r}")
    if name != name.strip():
        raise ValueError(f"route name must not start or end with whitespace, got {name!r}")
    return check_unicode(name, "route name")


def check_unicode(text: str, what: str) -> str:
    """Text that encodes to UTF-8 (no lone surrogates), or a ValueError naming it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid Unicode ({exc.reason} at position {exc.start}): {text!r:.60}") \
            from None
    return text


MAX_DEPTH = 64  # nesting of plain data (metadata, extras): far beyond any real use, far below recursion limits


def check_plain(value: Any, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """`value` if it is plain JSON data (mappings with string keys, lists, strings, numbers,
    booleans, None) nested at most `max_depth` deep; else a ValueError naming where (data nested
    thousands deep would otherwise fail later, as a RecursionError, wherever it is copied or dumped)."""
    stack = [(value, what, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            bad = next((k for k in item if not isinstance(k, str)), None)
            if bad is not None:
                raise ValueError(f"{path}: keys must be strings, got {type(bad).__name__}: {bad!r:.40}")
            children = [(f"{path}.{k}", v) for k, v in item.items()]
        elif isinstance(item, (list, tuple)):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(item)]
        elif item is None or isinstance(item, (str, bool, int, float)):
            continue
        else:
            raise ValueError(f"{path} must be plain JSON data, got {type(item).__name__}: {item!r:.40}")
        if children and depth >= max_depth:
            raise ValueError(f"{what} is nested deeper than {max_depth} levels")
        stack.extend((child, where, depth + 1) for where, child in children)
    return value


def check_unique_names(routes: list[Route]) -> list[Route]:
    """The routes, or a ValueError naming the first repeated route name."""
    seen: set[str] = set()
    for r in routes:
        if r.name in seen:
            raise ValueError(f"duplicate route name {r.name!r}")
        seen.add(r.name)
    return routes


class Route(BaseModel):
    """A named destination and the example utterances that define it."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    name: str
    utterances: list[str]
    description: str | None = None
    score_threshold: float | None = Field(default=None, description="similarity a query needs (None: layer's)")
    metadata: dict[str, Any] = Field(default_factory=dict)
    function_schemas: list[dict[str, Any]] | None = None
    aggregation: Aggregation | None = Field(default=None, description="this route's own aggregation (max/mean/sum/min)")

    @model_validator(mode="before")
    @classmethod
    def _distance_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "distance_threshold" in data:
            data = dict(data)
            dist = data.pop("distance_threshold")
            data["score_threshold"] = similarity_from(data.get("score_threshold"), dist, f"route {data.get('name')!r}")
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_route_name(v)

    @field_validator("utterances", mode="before")
    @classmethod
    def _utterances(cls, v: Any) -> list[str]:
        if isinstance(v, str) or not isinstance(v, (list, tuple)):
            raise ValueError(f"utterances must be a list of strings, got {type(v).__name__}")
        for i, u in enumerate(v):
            if not isinstance(u, str):
                raise ValueError(f"utterance {i} must be a string, got {type(u).__name__}: {u!r:.60}")
            if not u.strip():
                raise ValueError(f"utterance {i} is empty or blank: {u!r}")
            check_unicode(u, f"utterance {i}")
        out = list(dict.fromkeys(v))
        if not out:
            raise ValueError("a route needs at least one utterance, got an empty list")
        return out

    @field_validator("score_threshold", mode="before")
    @classmethod
    def _threshold(cls, v: Any) -> float | None:
        return None if v is None else check_threshold(v, "score_threshold")

    @field_validator("function_schemas", mode="before")
    @classmethod
    def _schemas(cls, v: Any) -> list[dict[str, Any]] | None:
        """OpenAI tool dicts or Python callables, stored as canonical OpenAI tool JSON."""
        if v is None:
            return None
        from semantic_router.dynamic.schemas import (
            normalize_schemas,  # function-schema types; no I/O
        )

        if callable(v) or isinstance(v, dict):
            v = [v]
        if isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                if isinstance(item, dict):
                    check_plain(item, f"function_schemas[{i}]")  # deep nesting: a clear error, not a RecursionError
        return normalize_schemas(v)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_plain(v, "route metadata")

    @property
    def is_dynamic(self) -> bool:
        """True when the route carries function schemas (its arguments are filled by an LLM)."""
        return bool(self.function_schemas)

    # -- aurelio's names -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """aurelio's dict of a route (`llm` is always None here); `aggregation` only when set."""
        out = {"name": self.name, "utterances": list(self.utterances), "description": self.description,
               "function_schemas": self.function_schemas, "llm": None, "score_threshold": self.score_threshold,
               "metadata": dict(self.metadata)}
        if self.aggregation is not None:
            out["aggregation"] = self.aggregation
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Route:
        """A route from `to_dict()` output or aurelio's; a per-route `llm` is not supported (give the
        router one) and must be None."""
        data = dict(data)
        if data.pop("llm", None) is not None:
            raise ValueError(f"route {data.get('name')!r}: a per-route llm is not supported; give the router one")
        return cls.model_validate(data)

    def __call__(self, query: str | None = None) -> RouteChoice:
        """aurelio's `route(query)`: this route as a choice. A dynamic route needs an LLM to fill its
        arguments, which lives on the router here: route through `RouteLayer(llm=...)`."""
        if self.function_schemas:
            raise ValueError(f"route {self.name!r} is dynamic: an LLM is required to fill its function arguments; "
                             "route through a RouteLayer given llm=...")
        return RouteChoice(name=self.name)


def is_valid(route_config: str) -> bool:
    """aurelio's check of an LLM-written route config: JSON with `name` and `utterances` (a route or a
    list of them); problems are logged, not raised."""
    try:
        data = json.loads(route_config)
    except json.JSONDecodeError as exc:
        logger.error("route config is not valid JSON: %s", exc)
        return False
    for item in data if isinstance(data, list) else [data]:
        missing = [k for k in ("name", "utterances") if not isinstance(item, dict) or k not in item]
        if missing:
            logger.warning("Missing keys in route config: %s", ", ".join(missing))
            return False
    return True


class RouteChoice(BaseModel):
    """The decision for one query: a route name, or None when no route passes its threshold."""

    name: str | None = None
    similarity_score: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    function_call: list[dict[str, Any]] | None = None
    scores: dict[str, float] | None = Field(default=None, description="every scored route's aggregate (explain=True)")
    confidence: float | None = None

    def __bool__(self) -> bool:
        return self.name is not None

    @classmethod
    def built(cls, name: str | None, similarity_score: float | None, metadata: dict[str, Any],
              scores: dict[str, float] | None = None, confidence: float | None = None) -> RouteChoice:
        """A choice from values the router already validated: the hot path of routing skips pydantic's
        per-field work (what `model_construct` would set, at a third of its cost)."""
        choice = object.__new__(cls)
        object.__setattr__(choice, "__dict__", {"name": name, "similarity_score": similarity_score,
                                                 "metadata": metadata, "function_call": None, "scores": scores,
                                                 "confidence": confidence})
        object.__setattr__(choice, "__pydantic_fields_set__", set(_CHOICE_FIELDS))
        object.__setattr__(choice, "__pydantic_extra__", None)
        object.__setattr__(choice, "__pydantic_private__", None)
        return choice


_CHOICE_FIELDS = frozenset(RouteChoice.model_fields)
