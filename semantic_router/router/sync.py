"""auto_sync: one route set shared by many router instances through the index's state blob.

The index stores the full router state (routes, settings, encoder identity, fitted extras) with
a version and an order-independent hash. Writers hold the index lock, re-read the state, apply
their change to the latest route set, write records, then the state. Readers adopt a newer
version without encoding anything (the vectors are already in the shared index).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from semantic_router.errors import SyncError
from semantic_router.route import Route

if TYPE_CHECKING:
    from semantic_router.router.layer import RouteLayer

STATE_FORMAT = "semantic-router/state"
MODES = ("local", "remote", "merge-force-local", "merge-force-remote", "merge")


def route_key(route: Route) -> dict[str, Any]:
    """A route as canonical plain data (utterances sorted: order never changes a route's meaning)."""
    data = route.model_dump(mode="json")
    data["utterances"] = sorted(data["utterances"])
    return data


def state_hash(routes: list[Route], settings: dict[str, Any], encoder: dict[str, Any], extra: dict[str, Any]) -> str:
    """Order-independent hash of everything that decides routing."""
    canonical = {
        "routes": sorted((route_key(r) for r in routes), key=lambda d: d["name"]),
        "settings": settings,
        "encoder": encoder,
        "extra": extra,
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def settings_of(layer: RouteLayer) -> dict[str, Any]:
    return {"aggregation": layer.aggregation, "top_k": layer.top_k, "alpha": layer.alpha,
            "score_threshold": layer.score_threshold}


def encoder_identity(layer: RouteLayer) -> dict[str, Any]:
    return {"type": layer.encoder.type, "name": layer.encoder.name, "dimensions": layer.encoder.dimensions}


def local_hash(layer: RouteLayer) -> str:
    return state_hash(list(layer._routes.values()), settings_of(layer), encoder_identity(layer), layer.extra)


def build_state(layer: RouteLayer, version: int) -> dict[str, Any]:
    """The state blob written to the index."""
    return {
        "format": STATE_FORMAT,
        "version": version,
        "hash": local_hash(layer),
        "encoder": {**layer.encoder.spec(), **encoder_identity(layer)},
        "sparse_encoder": None if layer.sparse_encoder is None else layer.sparse_encoder.spec(),
        "settings": settings_of(layer),
        "routes": [r.model_dump(mode="json") for r in layer._routes.values()],
        "extra": layer.extra,
        "updated_by": layer.instance_id,
        "updated_at": time.time(),
    }


def check_state(state: Any) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise SyncError(f"the index holds no semantic-router state (found {type(state).__name__})")
    return state


def check_encoder(layer: RouteLayer, state: dict[str, Any]) -> None:
    """Refuse to mix vector spaces: the stored encoder must be ours."""
    stored = state.get("encoder") or {}
    mine = encoder_identity(layer)
    if (stored.get("name"), stored.get("dimensions")) != (mine["name"], mine["dimensions"]):
        raise SyncError(
            f"the index was built with encoder {stored.get('name')!r} ({stored.get('dimensions')} dims); "
            f"this router uses {mine['name']!r} ({mine['dimensions']} dims). Use the same encoder or another index."
        )


def remote_routes(state: dict[str, Any]) -> dict[str, Route]:
    return {d["name"]: Route.model_validate(d) for d in state.get("routes", [])}


def merge_routes(local: dict[str, Route], remote: dict[str, Route], mode: str) -> dict[str, Route]:
    """The route set a sync mode produces from the local and the remote sets."""
    if mode == "local":
        return dict(local)
    if mode == "remote":
        return dict(remote)
    out = dict(remote)
    for name, route in local.items():
        if name not in remote or mode == "merge-force-local":
            out[name] = route
        elif mode == "merge":
            out[name] = _union(remote[name], route)
    return out


def _union(remote: Route, local: Route) -> Route:
    """merge: utterances united (remote first), metadata merged, local scalar fields where set."""
    data = remote.model_dump()
    data["utterances"] = list(dict.fromkeys(remote.utterances + local.utterances))
    data["metadata"] = {**remote.metadata, **local.metadata}
    for key in ("score_threshold", "description", "function_schemas", "aggregation"):
        if getattr(local, key) is not None:
            data[key] = getattr(local, key)
    return Route.model_validate(data)


@dataclass
class RouteDiff:
    """How one route differs between this router and the index's state."""

    route: str
    status: str  # "local-only", "remote-only", "changed"
    utterances_local_only: list[str] = field(default_factory=list)
    utterances_remote_only: list[str] = field(default_factory=list)
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (local, remote)


def diff(local: dict[str, Route], remote: dict[str, Route]) -> list[RouteDiff]:
    out: list[RouteDiff] = []
    for name in sorted(local.keys() | remote.keys()):
        a, b = local.get(name), remote.get(name)
        if b is None:
            out.append(RouteDiff(name, "local-only", utterances_local_only=list(a.utterances)))
        elif a is None:
            out.append(RouteDiff(name, "remote-only", utterances_remote_only=list(b.utterances)))
        else:
            da, db = a.model_dump(), b.model_dump()
            fields = {k: (da[k], db[k]) for k in da if k not in ("name", "utterances") and da[k] != db[k]}
            plus = [u for u in a.utterances if u not in set(b.utterances)]
            minus = [u for u in b.utterances if u not in set(a.utterances)]
            if fields or plus or minus:
                out.append(RouteDiff(name, "changed", plus, minus, fields))
    return out


def new_instance_id() -> str:
    return uuid.uuid4().hex[:12]


class SyncMixin:
    """RouteLayer's side of auto_sync: reconcile, publish after changes, adopt newer versions."""

    refresh_interval: float = 5.0
    lock_timeout: float = 30.0

    def _sync_setup(self, refresh_interval: float, lock_timeout: float) -> None:
        self.instance_id = new_instance_id()
        self.refresh_interval = refresh_interval
        self.lock_timeout = lock_timeout
        self._remote_version = 0
        self._last_check = time.monotonic()

    # -- public -------------------------------------------------------------------------------
    def sync(self: RouteLayer, mode: str | None = None) -> None:
        """Reconcile with the index's state now (`mode` defaults to the layer's auto_sync)."""
        mode = mode or self.auto_sync or "merge"
        if mode not in MODES:
            raise ValueError(f"sync mode must be one of {MODES}, got {mode!r}")
        with self._mutex, self.index.lock(self.lock_timeout):
            state = self.index.read_state()
            remote: dict[str, Route] = {}
            if state is not None:
                check_state(state)
                check_encoder(self, state)
                remote = remote_routes(state)
                self._remote_version = int(state.get("version", 0))
                if mode == "remote" or (mode == "merge-force-remote"):
                    self._adopt_settings(state)
            target = merge_routes(self._routes, remote, mode)
            self._publishing = state is None or mode != "remote"
            try:
                self._commit(target, present=set(self.index.ids()), prune=True)
            finally:
                self._publishing = True
            if state is not None and mode == "remote":
                self.version = self._remote_version
            self._last_check = time.monotonic()

    def is_synced(self: RouteLayer) -> bool:
        """True when the index's state holds exactly this router's routes and settings."""
        state = self.index.read_state()
        return state is not None and state.get("hash") == local_hash(self)

    def diff(self: RouteLayer) -> list[RouteDiff]:
        """What differs between this router and the index's state, route by route."""
        state = self.index.read_state()
        return diff(self._routes, remote_routes(check_state(state)) if state is not None else {})

    def refresh(self: RouteLayer) -> bool:
        """Adopt the index's state if another instance changed it; True if anything changed."""
        self._last_check = time.monotonic()
        if self.auto_sync is None:
            return False
        state = self.index.read_state()
        if state is None or int(state.get("version", 0)) == self._remote_version:
            return False
        with self._mutex:
            self._adopt(check_state(state))
        return True

    # -- hooks used by the layer and the commit path --------------------------------------------
    def _maybe_refresh(self: RouteLayer) -> None:
        if self.auto_sync is not None and time.monotonic() - self._last_check >= self.refresh_interval:
            self.refresh()

    def _write_lock(self: RouteLayer):
        """Writers: the process mutex, and for synced routers the index lock plus a fresh state."""
        if self.auto_sync is None:
            return self._mutex
        return _SyncedWrite(self)

    def _changed(self: RouteLayer) -> None:
        super()._changed()  # type: ignore[misc]
        if self.auto_sync is None or not getattr(self, "_publishing", True):
            return
        self._remote_version += 1
        self.index.write_state(build_state(self, self._remote_version))
        self.version = self._remote_version

    def _adopt(self: RouteLayer, state: dict[str, Any]) -> None:
        """Take another instance's state: routes, settings, extras; nothing is encoded."""
        check_encoder(self, state)
        routes = remote_routes(state)
        self._adopt_settings(state)
        self._swap(routes)
        self._remote_version = self.version = int(state.get("version", 0))

    def _adopt_settings(self: RouteLayer, state: dict[str, Any]) -> None:
        s = state.get("settings") or {}
        self.aggregation = s.get("aggregation", self.aggregation)
        self.top_k = s.get("top_k", self.top_k)
        self.alpha = s.get("alpha", self.alpha)
        self._score_threshold = s.get("score_threshold", self._score_threshold)
        self.restore_extra(state.get("extra") or {})


class _SyncedWrite:
    """Context: process mutex + index lease lock, refreshed to the latest state on entry."""

    def __init__(self, layer: RouteLayer) -> None:
        self.layer = layer
        self.lock = None

    def __enter__(self) -> None:
        self.layer._mutex.acquire()
        try:
            self.lock = self.layer.index.lock(self.layer.lock_timeout)
            self.lock.__enter__()
        except BaseException:
            self.layer._mutex.release()
            raise
        try:
            state = self.layer.index.read_state()
            if state is not None and int(state.get("version", 0)) != self.layer._remote_version:
                self.layer._adopt(check_state(state))
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            self.lock.__exit__(*exc)
        finally:
            self.layer._mutex.release()
