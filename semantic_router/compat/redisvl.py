"""RedisVL's `SemanticRouter`, one import changed: a thin layer over `RouteLayer`.

    from semantic_router.compat.redisvl import SemanticRouter, Route, RoutingConfig, HFTextVectorizer

Queries are decided as RedisVL's are (see `_matches`); distances are cosine distances,
`1 - similarity`. With `redis_url` (or `redis_client`) the routes and vectors live in a
`RedisIndex` named after the router (vectors stored in the vectorizer's `dtype`) and shared
through `auto_sync`, so `SemanticRouter.from_existing(name, redis_url=...)` rebuilds the router
from Redis; without, a private in-memory `LocalIndex` is used. A route whose last reference is
deleted stays, empty, as in RedisVL: the library's routes need utterances, so empty routes are
kept in the router's (shared) extras.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semantic_router import Route as CoreRoute
from semantic_router import RouteLayer
from semantic_router.compat.redisvl_schema import (
    HF_TYPES,
    DistanceAggregationMethod,
    HFTextVectorizer,
    Route,
    RouteMatch,
    RoutingConfig,
    as_encoder,
    check_distance,
    check_redisvl_dtype,
    core_aggregation,
    vector_dtype,
    from_core_route,
    to_core_route,
    vectorizer_dict,
)
from semantic_router.compat.redisvl_store import RouteConfigKey, check_stored_dtype, open_index
from semantic_router.encoders import DenseEncoder
from semantic_router.errors import LockTimeout, RemoteStateLost, StateConflict, SyncError
from semantic_router.files import atomic_write, dump_yaml, read_text_data
from semantic_router.shared import read_shared_state

__all__ = ["SemanticRouter", "Route", "RouteMatch", "RoutingConfig", "DistanceAggregationMethod", "HFTextVectorizer"]

log = logging.getLogger(__name__)

#: nearest references searched per query before aggregating per route (RouteLayer's top_k)
DEFAULT_TOP_K = 5
_EXTRA_KEY = "redisvl"  # where the routing config rides along in the shared router state
_EMPTY_KEY = "redisvl_empty_routes"  # name -> {metadata, distance_threshold, position} of routes without references


class SemanticRouter:
    """RedisVL's SemanticRouter API on top of a `RouteLayer` (`router.layer`)."""

    def __init__(
        self,
        name: str,
        routes: Sequence[Route | dict[str, Any]],
        vectorizer: Any = None,
        routing_config: RoutingConfig | dict[str, Any] | None = None,
        redis_client: Any = None,
        redis_url: str | None = None,
        overwrite: bool = False,
        connection_kwargs: dict[str, Any] | None = None,
        *,
        dtype: str | None = None,
        top_k: int = DEFAULT_TOP_K,
    ) -> None:
        """Build the router and write its routes to the index (Redis when `redis_url`/`redis_client`).

        `overwrite=True` drops whatever the index held first; otherwise the given routes become
        the shared route set (references already stored are not encoded again). `dtype` (deprecated
        in RedisVL: give the vectorizer one) is the default vectorizer's dtype, or must be the given one's."""
        if connection_kwargs:
            raise TypeError(f"connection_kwargs are not supported (got {sorted(connection_kwargs)}); "
                            "pass a configured redis client as redis_client instead")
        if isinstance(routes, (str, bytes)) or not isinstance(routes, Sequence):
            raise TypeError(f"routes must be a list of Route objects, got {type(routes).__name__}")
        self.name = _check_name(name)
        self.routing_config = _routing_config(routing_config)
        aggregation = core_aggregation(self.routing_config.aggregation_method)
        encoder = _vectorizer(vectorizer, dtype)
        core_routes = [to_core_route(r) for r in routes]
        index = open_index(self.name, redis_url, redis_client, vector_dtype(encoder))
        shared = index.is_remote
        try:
            if overwrite:
                if core_routes:  # a broken encoder fails here, before the stored router is dropped
                    encoder.encode(core_routes[0].utterances[:1])
                index.drop()
            check_stored_dtype(index, self.name, vector_dtype(encoder))
            self.layer = RouteLayer(encoder=encoder, routes=core_routes, index=index, rule="knn",
                                    aggregation=aggregation, top_k=top_k, auto_sync="local" if shared else None)
        except SyncError as exc:  # another encoder's vectors, or foreign data, under this name
            index.close()
            if isinstance(exc, (LockTimeout, StateConflict, RemoteStateLost)):
                raise
            raise ValueError(f"the stored router {self.name!r} does not match this one ({exc}); "
                             "pass overwrite=True to replace it") from exc
        except BaseException:
            index.close()  # the clients this router opened
            raise
        self._config = RouteConfigKey(index, self.name)
        if shared:  # keep the routing config with the shared state, for from_existing; the given routes are all
            self.layer.extra.update({_EXTRA_KEY: self.routing_config.model_dump(mode="json"), _EMPTY_KEY: {}})
            self.layer.sync("local")
        self._config.write(self.to_dict)

    @classmethod
    def from_existing(cls, name: str, redis_client: Any = None, redis_url: str | None = None,
                      **kwargs: Any) -> SemanticRouter:
        """The router stored in Redis under `name` (routes, thresholds, encoder), nothing re-encoded.

        A router RedisVL stored (only its `<name>:route_config` key is read) is built from that
        config: its references are encoded again, with `encoder=` if given."""
        if redis_url is None and redis_client is None:
            raise ValueError("from_existing needs redis_url or redis_client: a router without Redis is not stored")
        index = open_index(_check_name(name), redis_url, redis_client)  # vectors read in their stored dtype
        state = read_shared_state(index)
        if state is None:
            config = RouteConfigKey(index, name).read()
            index.close()
            if not isinstance(config, dict):
                raise ValueError(f"no router named {name!r} is stored at {redis_url or 'the given redis client'}")
            given = {"vectorizer": kwargs["encoder"]} if "encoder" in kwargs else {}
            return cls.from_dict(config, redis_url=redis_url, redis_client=redis_client, **given)
        stored = state.encoder  # a Hugging Face model comes back as an HFTextVectorizer
        if "encoder" not in kwargs and stored.get("type") in HF_TYPES:
            kwargs["encoder"] = as_encoder({"type": "hf", "model": stored.get("name"), "dtype": vector_dtype(index)})
        layer = RouteLayer.from_index(index, **{"rule": "knn", **kwargs})
        stored = layer.extra.get(_EXTRA_KEY) or {}
        router = cls.__new__(cls)
        router.name, router.routing_config, router.layer = name, RoutingConfig.model_validate(stored), layer
        router._config = RouteConfigKey(index, name)
        return router

    # -- routing ---------------------------------------------------------------------------------
    def __call__(self, statement: str | None = None, vector: Any = None,
                 aggregation_method: DistanceAggregationMethod | str | None = None,
                 distance_threshold: float | None = None) -> RouteMatch:
        """The nearest route whose aggregated distance is within its threshold, or RouteMatch().
        `distance_threshold` is deprecated in RedisVL: ignored with a DeprecationWarning, as there."""
        if distance_threshold is not None:
            warnings.warn("distance_threshold is deprecated and ignored: set distance_threshold per Route",
                          DeprecationWarning, stacklevel=2)
        matches = self._matches(statement, vector, 1, aggregation_method)
        return matches[0] if matches else RouteMatch()

    def route_many(self, statement: str | None = None, vector: Any = None, max_k: int | None = None,
                   aggregation_method: DistanceAggregationMethod | str | None = None) -> list[RouteMatch]:
        """Every route within its threshold, nearest first, at most `max_k` (default: routing_config.max_k)."""
        if max_k is not None and (isinstance(max_k, bool) or not isinstance(max_k, int) or max_k < 1):
            raise ValueError(f"max_k must be a positive integer, got {max_k!r}")
        return self._matches(statement, vector, max_k or self.routing_config.max_k, aggregation_method)

    def _matches(self, statement: str | None, vector: Any, max_k: int, method: Any) -> list[RouteMatch]:
        """RedisVL's query, step for step: references within the largest route threshold (a range
        query), their distances aggregated per route (avg or min), the `max_k` nearest routes kept,
        then each kept only if its distance is below its own threshold."""
        method = method if method is not None else self.routing_config.aggregation_method
        core_aggregation(method)  # refuses unknown methods and sum, naming why
        method = DistanceAggregationMethod(method)
        if (statement is None) == (vector is None):
            raise ValueError("Must provide a vector or statement to the router" if statement is None else
                             "give a statement or a vector, not both")
        query = self._query_vector(statement, vector)
        thresholds = self.route_thresholds
        if not thresholds or not query.any():  # a zero vector has no cosine distance: RedisVL matches nothing
            return []
        reach = max(thresholds.values())
        index = self.layer.index
        distances: dict[str, list[float]] = {}
        for hit in index.query(query, top_k=max(index.count(), 1)):
            distance = 1.0 - hit.dense_score
            if distance <= reach and hit.route in thresholds:
                distances.setdefault(hit.route, []).append(distance)
        aggregate = min if method is DistanceAggregationMethod.min else (lambda ds: sum(ds) / len(ds))
        ranked = sorted((aggregate(ds), name) for name, ds in distances.items())[:max_k]
        return [RouteMatch(name=name, distance=d) for d, name in ranked if d < thresholds[name]]

    def _query_vector(self, statement: str | None, vector: Any) -> np.ndarray:
        if statement is not None:
            return self.layer.encode_queries([statement])[0][0]
        arr = np.asarray(vector, dtype=np.float32).reshape(-1)
        dims = self.layer.encoder.dimensions
        if arr.shape != (dims,) or not np.all(np.isfinite(arr)):
            raise ValueError(f"vector must be {dims} finite numbers (got shape {arr.shape})")
        norm = np.linalg.norm(arr)
        return arr / norm if norm else arr

    # -- routes and settings ----------------------------------------------------------------------
    @property
    def routes(self) -> list[Route]:
        """Copies of the routes, RedisVL-style (change them through the router's methods); routes
        whose references were all deleted are listed, empty, where they were."""
        default = self._default_similarity()
        routes = [from_core_route(r, default) for r in self.layer.routes]
        held = {r.name for r in routes}
        for name, kept in sorted(self._empty().items(), key=lambda item: item[1]["position"]):
            if name not in held:  # empty, hence not a valid Route: built unchecked, as RedisVL's emptied list is
                empty = Route.model_construct(name=name, references=[], metadata=dict(kept["metadata"]),
                                              distance_threshold=kept["distance_threshold"])
                routes.insert(min(kept["position"], len(routes)), empty)
        return routes

    @property
    def vectorizer(self) -> DenseEncoder:
        return self.layer.encoder

    @property
    def route_names(self) -> list[str]:
        return [r.name for r in self.routes]

    @property
    def route_thresholds(self) -> dict[str, float]:
        """Each route's distance threshold."""
        return {r.name: r.distance_threshold for r in self.routes}

    def get(self, route_name: str) -> Route | None:
        """The named route, or None."""
        return next((r for r in self.routes if r.name == route_name), None)

    def update_routing_config(self, routing_config: RoutingConfig | dict[str, Any]) -> None:
        """Change max_k / aggregation_method for this instance (as in RedisVL, not written to Redis)."""
        config = _routing_config(routing_config)
        core_aggregation(config.aggregation_method)
        self.routing_config = config

    def update_route_thresholds(self, route_thresholds: dict[str, float]) -> None:
        """Set the distance thresholds of the named routes (all checked before any is changed)."""
        if not isinstance(route_thresholds, dict):
            raise TypeError(f"route_thresholds must be a dict of route name -> distance, got {route_thresholds!r:.80}")
        unknown = [n for n in route_thresholds if n not in self.route_names]
        if unknown:
            raise ValueError(f"unknown route(s) {unknown} (routes: {self.route_names})")
        checked = {n: check_distance(d, f"route {n!r}") for n, d in route_thresholds.items()}
        live, empty = self.layer.list_route_names(), self._empty()
        for n, d in checked.items():
            if n in live:
                self.layer.update(n, distance_threshold=d)
        if any(n not in live for n in checked):
            self._set_empty({n: {**e, "distance_threshold": checked.get(n, e["distance_threshold"])}
                             for n, e in empty.items()})
        self._config.write(self.to_dict)

    def add_route(self, route: Route | dict[str, Any]) -> str:
        """Add a route (its references are encoded and stored); returns its name."""
        core = to_core_route(route)
        if core.name in self.route_names:
            raise ValueError(f"Route {core.name} already exists in the SemanticRouter")
        self.layer.add(core)
        self._config.write(self.to_dict)
        return core.name

    def remove_route(self, route_name: str) -> None:
        """Remove a route and its references (a missing route is logged, as in RedisVL)."""
        if route_name not in self.route_names:
            log.warning("Route %s is not found in the SemanticRouter", route_name)
            return
        if route_name in self.layer.list_route_names():
            self.layer.delete(route_name)
        empty = self._empty()
        if empty.pop(route_name, None) is not None:
            self._set_empty(empty)
        self._config.write(self.to_dict)

    # -- references -------------------------------------------------------------------------------
    def add_route_references(self, route_name: str, references: str | list[str]) -> list[str]:
        """Add reference(s) to a route; returns their keys `<router>:<route>:<reference_id>`. A route
        emptied of its references gets them back (listed last from then on)."""
        if route_name not in self.route_names:
            raise ValueError(f"Route {route_name} not found in the SemanticRouter")
        refs = [references] if isinstance(references, str) else references
        if route_name in self.layer.list_route_names():
            ids = self.layer.add_utterances(route_name, refs)
        else:
            empty = self._empty()
            kept = empty.pop(route_name)
            self.layer.add(CoreRoute.model_validate({"name": route_name, "utterances": refs, "metadata": kept["metadata"],
                                                     "distance_threshold": kept["distance_threshold"]}))
            self._set_empty(empty)
            by_text = {u.utterance: u.id for u in self.layer.get_utterances(route_name)}
            ids = [by_text[r] for r in refs]
        self._config.write(self.to_dict)
        return [self._key(route_name, i) for i in ids]

    def get_route_references(self, route_name: str = "", reference_ids: Sequence[str] = (),
                             keys: Sequence[str] = ()) -> list[dict[str, str]]:
        """Stored references by reference id, by key or by route: dicts with id, reference_id, route_name, reference."""
        return [self._reference(u) for u in self._select(route_name, reference_ids, keys, "get")]

    def delete_route_references(self, route_name: str = "", reference_ids: Sequence[str] = (),
                                keys: Sequence[str] = ()) -> int:
        """Delete references by reference id, by key or by route; returns how many were deleted.

        A route left without references stays, empty and unmatchable, in its place, as in RedisVL."""
        found = {u.id: u for u in self._select(route_name, reference_ids, keys, "delete")}
        if not found:
            asked = f"route {route_name}" if not (reference_ids or keys) else f"ids/keys {list(reference_ids or keys)[:5]}"
            raise ValueError(f"No references found for {asked}")
        doomed = Counter(u.route for u in found.values())
        order, default, before = self.route_names, self._default_similarity(), self._empty()
        emptied = {r.name: {"metadata": dict(r.metadata), "position": order.index(r.name),
                            "distance_threshold": from_core_route(r, default).distance_threshold}
                   for r in self.layer.routes if doomed.get(r.name) == len(r.utterances)}
        if emptied:  # recorded first: hidden behind the live route until its last reference goes
            self._set_empty({**before, **emptied})
        try:
            deleted = self.layer.delete_utterances(ids=list(found))
        except BaseException:
            if emptied:
                self._set_empty(before)
            raise
        self._config.write(self.to_dict)
        return deleted

    def _select(self, route_name: str, reference_ids: Sequence[str], keys: Sequence[str], verb: str) -> list[Any]:
        self.layer.refresh()  # references live in the shared index: see other instances' changes now
        wanted = list(reference_ids) or [str(k).rsplit(":", 1)[-1] for k in keys]
        if wanted:
            by_id = {u.id: u for u in self.layer.get_utterances()}
            return [by_id[i] for i in wanted if i in by_id]
        if not route_name:
            raise ValueError(f"Must provide a route name, reference ids, or keys to {verb} references")
        return self.layer.get_utterances(route_name) if route_name in self.layer.list_route_names() else []

    def _key(self, route_name: str, reference_id: str) -> str:
        return f"{self.name}:{route_name}:{reference_id}"

    def _reference(self, u: Any) -> dict[str, str]:
        return {"id": self._key(u.route, u.id), "reference_id": u.id, "route_name": u.route, "reference": u.utterance}

    def _default_similarity(self) -> float:
        layer_threshold = self.layer.score_threshold
        return layer_threshold if layer_threshold is not None else self.layer.encoder.score_threshold

    def _empty(self) -> dict[str, dict[str, Any]]:
        """The routes left without references: name -> metadata, distance_threshold, position."""
        return dict(self.layer.extra.get(_EMPTY_KEY) or {})

    def _set_empty(self, empty: dict[str, dict[str, Any]]) -> None:
        self.layer.extra[_EMPTY_KEY] = empty  # one commit of the router's extras, shared like any change

    # -- lifecycle --------------------------------------------------------------------------------
    def clear(self) -> None:
        """Remove every route and reference (the router stays usable)."""
        self.layer.clear()
        if self._empty():
            self._set_empty({})
        self._config.write(self.to_dict)

    def delete(self) -> None:
        """Delete the index with every reference, the stored router state and RedisVL's config key."""
        self.layer.index.drop()
        self._config.delete()

    # -- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """RedisVL's dict form: name, routes, vectorizer {type, model}, routing_config."""
        return {
            "name": self.name,
            "routes": [r.model_dump(mode="json") for r in self.routes],
            "vectorizer": vectorizer_dict(self.layer.encoder),
            "routing_config": self.routing_config.model_dump(mode="json"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> SemanticRouter:
        """A router from `to_dict()` output; kwargs (redis_url, overwrite, vectorizer...) go to the constructor."""
        if not isinstance(data, dict):
            raise TypeError(f"Unable to load semantic router from dict: expected a mapping, got {type(data).__name__}")
        missing = [k for k in ("name", "routes", "vectorizer", "routing_config") if k not in data]
        if missing:
            raise ValueError(f"Unable to load semantic router from dict: missing {missing}")
        vectorizer = kwargs.pop("vectorizer", None) or data["vectorizer"]
        routes = data["routes"]
        if not isinstance(routes, list):
            raise TypeError(f"Unable to load semantic router from dict: routes must be a list, got {routes!r:.80}")
        return cls(name=data["name"], routes=[Route.model_validate(r) for r in routes], vectorizer=vectorizer,
                   routing_config=RoutingConfig.model_validate(data["routing_config"]), **kwargs)

    def to_yaml(self, file_path: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Write `to_dict()` as YAML (atomically); FileExistsError if the file exists and not `overwrite`."""
        path = Path(file_path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"Schema file {file_path} already exists.")
        atomic_write(path, dump_yaml(self.to_dict()))

    @classmethod
    def from_yaml(cls, file_path: str | os.PathLike[str], **kwargs: Any) -> SemanticRouter:
        """A router from a YAML file written by `to_yaml` (or RedisVL)."""
        path = Path(file_path)
        if not path.exists():
            raise FileNotFoundError(f"File {file_path} does not exist")
        return cls.from_dict(read_text_data(path, "yaml"), **kwargs)  # ConfigError for bad YAML or aliases

    def __repr__(self) -> str:
        return f"SemanticRouter(name={self.name!r}, routes={self.route_names}, index={self.layer.index.type!r})"


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"router name must be a non-empty string, got {name!r}")
    return name


def _routing_config(value: Any) -> RoutingConfig:
    if value is None:
        return RoutingConfig()
    if isinstance(value, RoutingConfig):
        return value.model_copy()
    if isinstance(value, dict):
        return RoutingConfig.model_validate(value)
    raise TypeError(f"routing_config must be a RoutingConfig, got {type(value).__name__}")


def _vectorizer(vectorizer: Any, dtype: str | None) -> DenseEncoder:
    """The encoder for a `vectorizer` argument, with RedisVL's handling of the deprecated `dtype`:
    the default vectorizer takes it; a given vectorizer must have that dtype."""
    if dtype is None:
        return as_encoder(vectorizer)
    warnings.warn("Argument dtype is deprecated and will be removed in the next major release. Use vectorizer "
                  "instead.", DeprecationWarning, stacklevel=3)
    dtype = check_redisvl_dtype(dtype)
    if vectorizer is None:
        return HFTextVectorizer(dtype=dtype)
    encoder = as_encoder(vectorizer)
    if vector_dtype(encoder) != dtype:
        raise ValueError(f"Provided dtype {dtype} does not match vectorizer dtype {vector_dtype(encoder)}")
    return encoder

