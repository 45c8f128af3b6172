"""Router configuration <-> dict / JSON / YAML, component specs by name, and the saved-router file.

A config holds routes, thresholds, routing settings and the encoder/index *specs* (type, name
and options, never secrets). The pickle format holds the config plus every stored vector, read
back through an unpickler that only accepts plain data and numpy arrays.
"""

from __future__ import annotations

import importlib
import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from semantic_router.errors import ConfigError
from semantic_router.route import Aggregation, Route

FORMAT = "semantic-router"
VERSION = 1

ENCODERS = {
    "huggingface": "semantic_router.encoders.huggingface:HuggingFaceEncoder",
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


class RouterConfig(BaseModel):
    """Everything needed to rebuild a router except the vectors."""

    model_config = ConfigDict(extra="forbid")

    format: str = FORMAT
    version: int = VERSION
    encoder: dict[str, Any] = Field(default_factory=lambda: {"type": "huggingface"})
    sparse_encoder: dict[str, Any] | None = None
    index: dict[str, Any] = Field(default_factory=lambda: {"type": "local"})
    alpha: float = Field(default=0.7, ge=0.0, le=1.0)
    top_k: int = Field(default=5, ge=1)
    aggregation: Aggregation = "max"
    score_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    routes: list[Route] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict, description="state of later features (fitted rules)")
    llm: dict[str, Any] | None = Field(default=None, description="LLM for dynamic routes, by spec")
    history: dict[str, Any] = Field(default_factory=lambda: {"weight": 0.5, "turns": 3})

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
        seen: set[str] = set()
        for r in routes:
            if r.name in seen:
                raise ValueError(f"duplicate route name {r.name!r}")
            seen.add(r.name)
        return routes

    @classmethod
    def parse(cls, data: Any, source: str = "config") -> RouterConfig:
        """Validate a dict (ours, or aurelio-style `encoder_type`/`encoder_name`), naming what is wrong."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
        data = _from_foreign_layout(data)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{source}: invalid router config: {exc}") from exc


def _from_foreign_layout(data: dict[str, Any]) -> dict[str, Any]:
    """Accept the layout other routers write (encoder_type / encoder_name, route `llm` keys)."""
    if "encoder_type" not in data and "encoder_name" not in data:
        return data
    out = {k: v for k, v in data.items() if k not in ("encoder_type", "encoder_name")}
    spec: dict[str, Any] = {"type": data.get("encoder_type") or "huggingface"}
    if data.get("encoder_name"):
        spec["name"] = data["encoder_name"]
    out["encoder"] = spec
    out["routes"] = [{k: v for k, v in r.items() if k != "llm"} for r in data.get("routes", [])]
    return out


def build(spec: dict[str, Any], registry: dict[str, str], kind: str) -> Any:
    """Instantiate a component from its spec: `{"type": ..., **options}`."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"{kind} spec must be a mapping with a 'type', got {spec!r}")
    target = registry.get(spec["type"])
    if target is None:
        raise ConfigError(f"unknown {kind} type {spec['type']!r}; known: {', '.join(sorted(registry))}")
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    options = {k: v for k, v in spec.items() if k != "type"}
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"bad options for {kind} {spec['type']!r}: {exc}") from exc


# -- files ------------------------------------------------------------------------------------
def read_text_config(path: str | Path) -> RouterConfig:
    """Read a JSON or YAML config (chosen by extension; YAML also reads JSON)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {str(p)!r}: {exc}") from exc
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {exc}") from exc
    return RouterConfig.parse(data, str(p))


def write_text_config(config: RouterConfig, path: str | Path, fmt: str | None = None) -> None:
    p = Path(path)
    fmt = fmt or ("json" if p.suffix.lower() == ".json" else "yaml")
    data = config.model_dump(mode="json")
    text = json.dumps(data, indent=2) if fmt == "json" else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    p.write_text(text, encoding="utf-8")


# -- saved routers (pickle of plain data) ---------------------------------------------------------
_SAFE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "complex"),
}


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays; refuses any other class."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS or (module.startswith("numpy") and name in ("dtype", "ndarray")):
            return super().find_class(module, name)
        raise ConfigError(f"refusing to load {module}.{name}: saved routers hold only plain data")


def dump_saved(payload: dict[str, Any], path: str | Path) -> None:
    """Write a saved router: {"format", "version", "config", "records": [...]} as pickle."""
    tmp = Path(f"{path}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump({"format": f"{FORMAT}/saved", "version": VERSION, **payload}, fh, protocol=5)
    tmp.replace(path)  # never leave a half-written file at `path`


def load_saved(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read saved router {str(p)!r}: {exc}") from exc
    try:
        payload = _PlainUnpickler(io.BytesIO(raw)).load()
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{p}: not a saved router (corrupt or foreign pickle: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != f"{FORMAT}/saved":
        raise ConfigError(f"{p}: not a saved router (foreign pickle content)")
    if payload.get("version", 0) > VERSION:
        raise ConfigError(f"{p}: saved by a newer version ({payload.get('version')})")
    for key in ("config", "records"):
        if key not in payload:
            raise ConfigError(f"{p}: saved router is missing {key!r}")
    return payload


def records_to_plain(records: list[Any]) -> dict[str, Any]:
    """Columnar plain form of records: one float32 matrix plus lists (compact and fast to load)."""
    return {
        "ids": [r.id for r in records],
        "routes": [r.route for r in records],
        "utterances": [r.utterance for r in records],
        "dense": np.stack([r.dense for r in records]) if records else np.zeros((0, 0), np.float32),
        "sparse": [None if r.sparse is None else r.sparse.to_dict() for r in records],
        "metadata": [r.metadata for r in records],
    }
