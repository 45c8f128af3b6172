"""Router configuration <-> dict / JSON / YAML, and component specs by name.

A config holds routes, thresholds, routing settings and the encoder/index *specs* (type, name
and options, never secrets). Everything read from outside is validated strictly: a bad value
raises `ConfigError` naming its dotted field path (``routes.0.score_threshold``), a YAML alias
(the "billion laughs" bomb) is refused, and every file is written atomically.
(The saved-router pickle format lives in `semantic_router._saved`.)
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
)

from semantic_router._files import atomic_write
from semantic_router.decision.extra import check_extra
from semantic_router.errors import ConfigError, ConfigFileNotFoundError, describe_errors
from semantic_router.route import Aggregation, Route, check_unique_names

FORMAT = "semantic-router"
VERSION = 1

ENCODERS = {
    "huggingface": "semantic_router.encoders.huggingface:HuggingFaceEncoder",
    "adapted": "semantic_router.encoders.adapted:AdaptedEncoder",
    "openai": "semantic_router.encoders.openai:OpenAIEncoder",
    "cohere": "semantic_router.encoders.cohere:CohereEncoder",
    "fastembed": "semantic_router.encoders.fastembed:FastEmbedEncoder",
    "bm25": "semantic_router.encoders.bm25:BM25Encoder",
}
LLMS = {"openai": "semantic_router.llms.openai:OpenAILLM"}
INDEXES = {
    "local": "semantic_router.index.local:LocalIndex",
    "redis": "semantic_router.index.redis:RedisIndex",
    "qdrant": "semantic_router.index.qdrant:QdrantIndex",
    "pinecone": "semantic_router.index.pinecone:PineconeIndex",
}


class HistorySettings(BaseModel):
    """How earlier user turns of a conversation weigh in its query vector."""

    model_config = ConfigDict(extra="forbid", strict=True)

    weight: float = Field(default=0.5, ge=0.0, le=1.0)
    turns: int = Field(default=3, ge=0)


class RouterConfig(BaseModel):
    """Everything needed to rebuild a router except the vectors."""

    model_config = ConfigDict(extra="forbid", strict=True)

    format: str = FORMAT
    version: int = Field(default=VERSION, ge=1)
    encoder: dict[str, Any] = Field(default_factory=lambda: {"type": "huggingface"})
    sparse_encoder: dict[str, Any] | None = None
    index: dict[str, Any] = Field(default_factory=lambda: {"type": "local"})
    alpha: float = Field(default=0.7, ge=0.0, le=1.0, allow_inf_nan=False)
    top_k: int = Field(default=5, ge=1)
    aggregation: Aggregation = "max"
    score_threshold: float | None = Field(default=None, ge=-1.0, le=1.0, allow_inf_nan=False)
    routes: list[Route] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict, description="state of later features (fitted rules)")
    llm: dict[str, Any] | None = Field(default=None, description="LLM for dynamic routes, by spec")
    history: HistorySettings = Field(default_factory=HistorySettings)

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        if v != FORMAT:
            raise ValueError(f"not a semantic-router config (format {v!r})")
        return v

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v > VERSION:
            raise ValueError(f"config version {v} is newer than this library reads ({VERSION})")
        return v

    @field_validator("routes")
    @classmethod
    def _unique(cls, routes: list[Route]) -> list[Route]:
        return check_unique_names(routes)

    @field_validator("extra")
    @classmethod
    def _extra(cls, extra: dict[str, Any]) -> dict[str, Any]:
        return check_extra(extra)

    def components(self) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        """(kind, spec, registry) of every component this config names, for `check_spec` and `build`."""
        out = [("encoder", self.encoder, ENCODERS), ("index", self.index, INDEXES)]
        if self.sparse_encoder is not None:
            out.append(("sparse_encoder", self.sparse_encoder, ENCODERS))
        if self.llm is not None:
            out.append(("llm", self.llm, LLMS))
        return out

    @classmethod
    def parse(cls, data: object, source: str = "config") -> RouterConfig:
        """Validate plain data (ours, or aurelio-style `encoder_type`/`encoder_name`): ConfigError naming
        the dotted path of every bad field."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
        try:
            data = _from_foreign_layout(data)
            _check_route_data(data.get("routes"))
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{source}: invalid router config: {describe_errors(exc)}") from exc
        except (TypeError, ValueError) as exc:  # Route's own checks raise TypeError for wrong types
            raise ConfigError(f"{source}: invalid router config: {exc}") from exc


def _optional(annotation: Any) -> Any:  # a pydantic field annotation: any type expression
    return annotation | None


#: fields of `RouteData`: (annotation, default) pairs, as pydantic's create_model takes them
_ROUTE_FIELDS: dict[str, Any] = {
    "distance_threshold": (float | None, None),
    **{name: (_optional(f.annotation), None) for name, f in Route.model_fields.items()},
}
#: what a config file may hold for one route: the types of `Route`'s fields, checked strictly
#: (no "0.5" for a number) before `Route` itself validates the values
RouteData = create_model("RouteData", __config__=ConfigDict(extra="forbid", strict=True), **_ROUTE_FIELDS)


def _check_route_data(routes: object) -> None:
    """Strict types of each route mapping, errors as ``routes.<i>.<field>``; the model checks the rest."""
    if not isinstance(routes, list):
        return  # missing or not a list: the model names it
    for i, item in enumerate(routes):
        if isinstance(item, Route):
            continue
        if not isinstance(item, dict):
            raise ConfigError(f"routes.{i}: expected a route mapping (name, utterances, ...), "
                              f"got {type(item).__name__}: {item!r:.60}")
        try:
            RouteData.model_validate(item)
        except ValidationError as exc:
            raise ConfigError(describe_errors(exc, ("routes", i))) from exc
        try:
            Route.model_validate(item)
        except ValidationError as exc:
            raise ConfigError(describe_errors(exc, ("routes", i))) from exc
        except TypeError as exc:
            raise ConfigError(f"routes.{i} ({item.get('name')!r}): {exc}") from exc


def _from_foreign_layout(data: dict[str, Any]) -> dict[str, Any]:
    """Accept the layout other routers write (encoder_type / encoder_name, route `llm` keys)."""
    if "encoder_type" not in data and "encoder_name" not in data:
        return data
    out = {k: v for k, v in data.items() if k not in ("encoder_type", "encoder_name")}
    spec: dict[str, Any] = {"type": data.get("encoder_type") or "huggingface"}
    if data.get("encoder_name"):
        spec["name"] = data["encoder_name"]
    out["encoder"] = spec
    routes = data.get("routes", [])
    if isinstance(routes, list):
        out["routes"] = [{k: v for k, v in r.items() if k != "llm"} if isinstance(r, dict) else r for r in routes]
    return out


# -- component specs ------------------------------------------------------------------------------
@functools.cache
def _options_model(cls: type) -> type[BaseModel] | None:
    """A strict pydantic model of `cls.__init__`'s keyword options (None: cannot be described)."""
    try:
        params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]  # the class's own __init__ is what we describe
    except (TypeError, ValueError):
        return None
    try:
        hints = typing.get_type_hints(cls.__init__)  # type: ignore[misc]  # as above
    except (NameError, TypeError, AttributeError):  # annotations only type checkers resolve: check loosely
        hints = {}
    fields: dict[str, Any] = {}
    extra: Literal["allow", "forbid"] = "forbid"
    for name, p in list(params.items())[1:]:  # skip self
        if p.kind is p.VAR_KEYWORD:
            extra = "allow"  # **options: named ones are checked here, the rest by the class
        elif p.kind not in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            fields[name] = (hints.get(name, Any), ... if p.default is p.empty else p.default)
    try:
        return create_model(f"{cls.__name__}Options",
                            __config__=ConfigDict(extra=extra, strict=True, arbitrary_types_allowed=True),
                            **fields)
    except (TypeError, ValueError):  # no pydantic schema for some annotation: leave checks to the class
        return None


def check_spec(spec: Any, registry: dict[str, str], kind: str) -> tuple[type, dict[str, Any]]:
    """The class a component spec names and its options checked against the class's signature, without
    constructing anything: ConfigError naming ``<kind>.<option>`` for a bad type or option; ImportError
    naming the extra when the class's SDK is not installed."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ConfigError(f"{kind} spec must be a mapping with a string 'type', got {spec!r:.80}")
    target = registry.get(spec["type"])
    if target is None:
        raise ConfigError(f"unknown {kind} type {spec['type']!r}; known: {', '.join(sorted(registry))}")
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    options = {k: v for k, v in spec.items() if k != "type"}
    model = _options_model(cls)
    if model is not None:
        try:
            checked = model.model_validate(options)
        except ValidationError as exc:
            raise ConfigError(f"bad options for {kind} {spec['type']!r}: "
                              f"{describe_errors(exc, (kind.replace(' ', '_'),))}") from exc
        options = {k: getattr(checked, k, v) for k, v in options.items()}
    return cls, options


def build(spec: Any, registry: dict[str, str], kind: str) -> Any:
    """Instantiate a component from its spec: `{"type": ..., **options}`; options are checked
    against the class's signature first (`check_spec`), so a bad one is a ConfigError naming ``<kind>.<option>``."""
    cls, options = check_spec(spec, registry, kind)
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad options for {kind} {spec['type']!r}: {exc}") from exc


# -- text files -----------------------------------------------------------------------------------
class _NoAliasLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases: a few hundred bytes of nested aliases expand to gigabytes."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"YAML aliases (*{event.anchor}) are not allowed in "
                                                          "router configs", event.start_mark)
        return super().compose_node(parent, index)


def parse_yaml(text: str) -> Any:
    """Plain data from YAML text, refusing aliases (yaml.YAMLError on bad input)."""
    return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass


class _NoAliasDumper(yaml.SafeDumper):
    """YAML's safe dumper writing shared objects out in full: `parse_yaml` refuses aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any) -> str:
    """YAML text that `parse_yaml` reads back as `data`: no aliases, and characters YAML reads as
    line breaks (NEL, U+2028...) escaped when they occur."""
    text = yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True)
    if parse_yaml(text) != data:
        text = yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=False)
    return text


TEXT_FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def text_format(path: str | Path, fmt: str | None = None) -> str:
    """"json" or "yaml": `fmt` if given, else by the file's suffix (ConfigError for any other)."""
    if fmt is not None:
        if fmt not in ("json", "yaml"):
            raise ValueError(f"format must be 'json' or 'yaml', got {fmt!r}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in TEXT_FORMATS:
        raise ConfigError(f"cannot tell the format of {str(path)!r}: use a .json, .yaml or .yml file")
    return TEXT_FORMATS[suffix]


def read_text_data(path: str | Path, fmt: str | None = None) -> Any:
    """Plain data from a JSON or YAML file (by `fmt`, else by suffix; YAML also reads JSON, never
    aliases); a one-line ConfigError naming the file when it cannot be read or parsed."""
    p = Path(path)
    fmt = text_format(p, fmt)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        missing = ConfigFileNotFoundError(f"cannot read config {str(p)!r}: {exc}")
        missing.errno, missing.filename = exc.errno, exc.filename
        raise missing from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {str(p)!r}: {exc}") from exc
    try:
        return json.loads(text) if fmt == "json" else parse_yaml(text)
    except (ValueError, yaml.YAMLError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        detail = " ".join(str(exc).split())  # one line: YAML errors quote the bad line under a caret
        raise ConfigError(f"{p}: not valid {fmt.upper() if fmt == 'json' else 'YAML'}: {detail}") from exc


def read_text_config(path: str | Path, fmt: str | None = None) -> RouterConfig:
    """Read a JSON or YAML config (by `fmt`, else by suffix; YAML also reads JSON)."""
    return RouterConfig.parse(read_text_data(path, fmt), str(path))


def dump_text_config(config: RouterConfig, fmt: str) -> str:
    data = config.model_dump(mode="json")
    return json.dumps(data, indent=2) if fmt == "json" else dump_yaml(data)


def write_text_config(config: RouterConfig, path: str | Path, fmt: str | None = None) -> None:
    """Write a config atomically as JSON or YAML (by `fmt`, else by suffix)."""
    atomic_write(path, dump_text_config(config, text_format(path, fmt)))


