"""aurelio-labs semantic-router names, one import changed:

    from semantic_router.compat.aurelio import SemanticRouter, Route, HuggingFaceEncoder

`SemanticRouter` / `RouteLayer` and `HybridRouter` / `HybridRouteLayer` are `RouteLayer`s with
aurelio's extra methods and call conventions (`rl(text, limit=...)`, `update(name, threshold=)`,
`set_threshold`, `get_thresholds`, `to_config()` / `from_config()`, `get` -> None). `RouterConfig`
reads and writes config files (this library's layout; aurelio's `encoder_type`/`encoder_name`
layout is read too). Decisions use this library's rules and thresholds: see docs/migration.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semantic_router import Route, RouteChoice
from semantic_router import RouteLayer as CoreRouteLayer
from semantic_router.files import atomic_write, dump_yaml, read_text_data
from semantic_router.encoders import BM25Encoder, DenseEncoder, HuggingFaceEncoder, SparseEncoder
from semantic_router.errors import ConfigError, RouteNotFoundError
from semantic_router.index import Index, LocalIndex
from semantic_router.shared import read_shared_state
from semantic_router.schema import Utterance

_LAZY = {"OpenAIEncoder": "semantic_router.encoders", "CohereEncoder": "semantic_router.encoders",
         "FastEmbedEncoder": "semantic_router.encoders", "RedisIndex": "semantic_router.index",
         "QdrantIndex": "semantic_router.index", "PineconeIndex": "semantic_router.index"}

__all__ = ["SemanticRouter", "RouteLayer", "HybridRouter", "HybridRouteLayer", "RouterConfig", "LayerConfig",
           "BaseEncoder", "DenseEncoder", "SparseEncoder", "Route", "RouteChoice", "HuggingFaceEncoder",
           "BM25Encoder", "LocalIndex", *_LAZY]


def __getattr__(name: str) -> Any:  # provider classes import their SDKs only when asked for
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'semantic_router.compat.aurelio' has no attribute {name!r}")


class RouterConfig:
    """aurelio's RouterConfig: routes plus encoder, read from / written to JSON or YAML files.

    It carries the full config of this library (thresholds, rule, index...), so a router
    rebuilt with `SemanticRouter.from_config(config)` routes like the one it came from."""

    def __init__(self, routes: Sequence[Route | dict[str, Any]] | None = None, encoder_type: str = "huggingface",
                 encoder_name: str | None = None, *, data: dict[str, Any] | None = None) -> None:
        if data is None:
            encoder: dict[str, Any] = {"type": encoder_type}
            if encoder_name:
                encoder["name"] = encoder_name
            data = {"encoder": encoder, "routes": []}
        self.data = dict(data)
        self.data["routes"] = [_route_data(r)
                               for r in (list(routes) if routes is not None else self.data.get("routes", []))]
        _ = self.routes  # validates every route now, naming the bad one

    @property
    def routes(self) -> list[Route]:
        try:
            return [Route.model_validate(r) for r in self.data["routes"]]
        except ValueError as exc:
            raise ConfigError(f"invalid route in router config: {exc}") from exc

    @property
    def encoder_type(self) -> str:
        return self.data.get("encoder", {}).get("type", "huggingface")

    @property
    def encoder_name(self) -> str | None:
        return self.data.get("encoder", {}).get("name")

    @classmethod
    def from_file(cls, path: str | Path) -> RouterConfig:
        """Read a .json, .yaml or .yml config (this library's layout or aurelio's); YAML aliases are
        refused (a few hundred bytes of nested aliases expand to gigabytes)."""
        p = Path(path)
        _check_suffix(p)
        data = read_text_data(p)
        if not isinstance(data, dict) or "routes" not in data:
            raise ConfigError(f"{p}: not a router config (expected a mapping with 'routes')")
        if "encoder_type" in data or "encoder_name" in data:  # aurelio's layout; a route's own `llm` is not mapped
            routes = [{k: v for k, v in r.items() if k != "llm"} if isinstance(r, dict) else r for r in data["routes"]]
            return cls(routes, data.get("encoder_type") or "huggingface", data.get("encoder_name"))
        return cls(data=data)

    def to_dict(self) -> dict[str, Any]:
        """A deep, plain copy; routes in aurelio's shape (`Route.to_dict()`)."""
        data = json.loads(json.dumps(self.data))
        data["routes"] = [r.to_dict() for r in self.routes]
        return data

    def to_file(self, path: str | Path) -> None:
        """Write JSON or YAML by the file's extension, atomically (missing folders are created)."""
        suffix = _check_suffix(Path(path))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        atomic_write(path, json.dumps(data, indent=2) if suffix == ".json" else dump_yaml(data))

    def add(self, route: Route) -> None:
        if not isinstance(route, Route):
            raise TypeError(f"expected a Route, got {type(route).__name__}")
        self.data["routes"].append(route.model_dump(mode="json"))

    def get(self, name: str) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)

    def remove(self, name: str) -> None:
        if self.get(name) is None:
            raise RouteNotFoundError(f"unknown route {name!r}")
        self.data["routes"] = [r for r in self.data["routes"] if r["name"] != name]

    def __repr__(self) -> str:
        return (f"RouterConfig(encoder_type={self.encoder_type!r}, encoder_name={self.encoder_name!r}, "
                f"routes={[r.name for r in self.routes]})")


LayerConfig = RouterConfig  # the name before aurelio 0.1


def _route_data(route: Any) -> Any:
    """A route as stored in a RouterConfig: this library's dict (an empty aurelio `llm` dropped)."""
    if isinstance(route, Route):
        return route.model_dump(mode="json")
    if isinstance(route, dict) and "llm" in route and route["llm"] is None:
        return {k: v for k, v in route.items() if k != "llm"}
    return route


def _check_suffix(path: Path) -> str:
    """The file's suffix, lower-cased; aurelio's ValueError for anything but JSON or YAML."""
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise ValueError(f"Unsupported file type {suffix!r} for {str(path)!r}. Only .json and .yaml are supported")
    return suffix


class SemanticRouter(CoreRouteLayer):
    """aurelio's SemanticRouter (and RouteLayer): a RouteLayer with aurelio's call conventions."""

    def __init__(self, encoder: DenseEncoder | None = None, routes: Sequence[Route] | None = None,
                 index: Index | None = None, *, init_async_index: bool = False, **kwargs: Any) -> None:
        """aurelio's keywords (`encoder`, `routes`, `index`, `top_k`, `aggregation`, `auto_sync`, `llm`...);
        `init_async_index` is accepted (the async methods always work)."""
        super().__init__(encoder=encoder, routes=routes, index=index, **kwargs)

    @property
    def score_threshold(self) -> float:
        """The router's default similarity threshold: its own, else its encoder's (as aurelio reports it)."""
        own = self.snapshot.settings.score_threshold
        return own if own is not None else self.encoder.score_threshold

    @score_threshold.setter
    def score_threshold(self, value: float | None) -> None:
        CoreRouteLayer.score_threshold.fset(self, value)  # type: ignore[attr-defined]  # stubs: fset may be None

    def to_dict(self) -> dict[str, Any]:
        """The config dict; an unset router threshold stays unset (the encoder's default applies)."""
        data = super().to_dict()
        data["score_threshold"] = self.snapshot.settings.score_threshold
        return data

    # aurelio's signature, not the core's: the override below is deliberate
    def __call__(self, text: str | None = None, vector: Any = None, simulate_static: bool = False,  # type: ignore[override]
                 route_filter: Sequence[str] | None = None, limit: int | None = 1,
                 **kwargs: Any) -> RouteChoice | list[RouteChoice]:
        """The best passing route; with `limit` > 1 or None, a list when several pass (as aurelio)."""
        if limit == 1:
            return super().__call__(text, vector=vector, route_filter=route_filter, simulate_static=simulate_static,
                                    **kwargs)
        return _as_aurelio(self.route_many(text, vector=vector, max_k=limit, route_filter=route_filter,
                                           simulate_static=simulate_static, **kwargs))

    # aurelio's signature, not the core's: the override below is deliberate
    async def acall(self, text: str | None = None, vector: Any = None, limit: int | None = 1,  # type: ignore[override]
                    simulate_static: bool = False, route_filter: Sequence[str] | None = None,
                    **kwargs: Any) -> RouteChoice | list[RouteChoice]:
        """Async `rl(...)` with aurelio's `limit`."""
        if limit == 1:
            return await super().acall(text, vector=vector, route_filter=route_filter,
                                       simulate_static=simulate_static, **kwargs)
        return _as_aurelio(await self.aroute_many(text, vector=vector, max_k=limit, route_filter=route_filter,
                                                  simulate_static=simulate_static, **kwargs))

    def get(self, name: str) -> Route | None:  # type: ignore[override]  # aurelio's signature
        """A copy of the named route, or None (aurelio returns None for unknown names)."""
        try:
            return super().get(name)
        except RouteNotFoundError:
            return None

    def update(self, name: str, threshold: float | None = None, utterances: Sequence[str] | None = None,
               **fields: Any) -> Route:
        """aurelio's `update(name, threshold=, utterances=)`, plus this library's keyword fields."""
        if threshold is not None:
            fields["score_threshold"] = threshold
        if utterances is not None:
            fields["utterances"] = utterances
        if not fields:
            raise ValueError("At least one of 'threshold' or 'utterances' must be provided.")
        return super().update(name, **fields)

    def set_threshold(self, threshold: float, route_name: str | None = None) -> None:
        """One route's similarity threshold, or with no `route_name` every route's and the router's."""
        if route_name is not None:
            super().update(route_name, score_threshold=threshold)
            return
        self.score_threshold = threshold
        for name in self.list_route_names():
            super().update(name, score_threshold=threshold)

    def get_thresholds(self) -> dict[str, float]:
        """The similarity threshold each route passes on (route's own, else router's, else encoder's)."""
        default = self.score_threshold
        return {r.name: r.score_threshold if r.score_threshold is not None else default for r in self.routes}

    # aurelio's signature, not the core's: the override below is deliberate
    def evaluate(self, X: Sequence[str], y: Sequence[str | None], batch_size: int = 500, **kwargs: Any) -> float:  # type: ignore[override]
        """Accuracy on labelled queries, as aurelio returns it (`RouteLayer.evaluate` gives the full report)."""
        return float(super().evaluate(X, y, **kwargs).accuracy)

    async def async_is_synced(self) -> bool:
        """Async `is_synced`."""
        return await asyncio.to_thread(self.is_synced)

    def get_utterance_diff(self, include_metadata: bool = False) -> list[str]:
        """aurelio's diff lines `<tag> route: utterance[ | function_schemas | metadata]`: "+" only in the
        index's shared state, "-" only in this router, " " in both (`diff()` gives the structured form)."""
        state = read_shared_state(self.index)
        remote = [] if state is None else state.routes
        mine, theirs = _utterance_lines(self.routes, include_metadata), _utterance_lines(remote, include_metadata)
        return [f"{'+' if line not in mine else '-' if line not in theirs else ' '} {line}"
                for line in sorted(mine | theirs)]

    async def aget_utterance_diff(self, include_metadata: bool = False) -> list[str]:
        return await asyncio.to_thread(self.get_utterance_diff, include_metadata)

    def to_config(self) -> RouterConfig:  # type: ignore[override]  # aurelio's signature
        """This router's config as an aurelio-style RouterConfig (`to_file` writes it)."""
        return RouterConfig(data=self.to_dict())

    @classmethod
    def from_config(cls, config: RouterConfig | dict[str, Any] | Any, index: Index | None = None,  # type: ignore[override]  # aurelio's: (config, index)
                    **overrides: Any) -> SemanticRouter:
        """A router from a RouterConfig (or a config dict); the utterances are encoded."""
        if isinstance(config, RouterConfig):
            data = json.loads(json.dumps(config.data))
        elif isinstance(config, dict):
            data = config
        elif hasattr(config, "model_dump"):  # this library's own RouterConfig model
            data = config.model_dump(mode="json")
        else:
            raise TypeError(f"config must be a RouterConfig or a dict, got {type(config).__name__}")
        if index is not None:
            overrides["index"] = index
        return cls.from_dict(data, **overrides)


def _utterance_lines(routes: Sequence[Route], include_metadata: bool) -> set[str]:
    return {Utterance(route=r.name, utterance=u, function_schemas=r.function_schemas, metadata=r.metadata)
            .to_str(include_metadata) for r in routes for u in r.utterances}


def _as_aurelio(choices: list[RouteChoice]) -> RouteChoice | list[RouteChoice]:
    """aurelio's shape for several answers: RouteChoice() for none, the choice for one, else the list."""
    if not choices:
        return RouteChoice()
    return choices[0] if len(choices) == 1 else choices


RouteLayer = SemanticRouter  # aurelio's name before 0.1


class HybridRouter(SemanticRouter):
    """aurelio's HybridRouter: dense + sparse (BM25 by default) scores fused as
    `alpha * dense + (1 - alpha) * sparse` (aurelio's convention; this library's default alpha)."""

    def __init__(self, encoder: DenseEncoder | None = None, sparse_encoder: SparseEncoder | None = None,
                 llm: Any = None, routes: Sequence[Route] | None = None, index: Index | None = None,
                 **kwargs: Any) -> None:
        sparse = BM25Encoder() if sparse_encoder is None else sparse_encoder
        super().__init__(encoder, routes, index, sparse_encoder=sparse, llm=llm, **kwargs)


HybridRouteLayer = HybridRouter


class BaseEncoder(DenseEncoder):
    """aurelio's BaseEncoder: subclass it and implement `__call__(docs) -> list of vectors`.

    Set `name` and, optionally, `score_threshold` (class attributes or keyword arguments). The
    vectors are normalised for you; the dimension is learned from the first call. (Every
    `DenseEncoder` takes this form: this name only sets type and name to "custom".)"""

    type = "custom"
    name = "custom"
