"""auto_sync: one route set shared by many router instances through the index's state blob.

The index stores the full router state (routes, settings, encoder identity, fitted extras, id
scheme) with a version and an order-independent hash. Writers hold the index lock, re-read the
state, apply their change to the latest route set, write new records, publish the state with a
fenced write (the version they read, their lease), and only then delete unreferenced records.
Readers adopt a newer version off the query path (a background thread) without encoding.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
)

from semantic_router.decision.extra import check_extra
from semantic_router.errors import ConfigError, SyncError, describe_errors
from semantic_router.index.base import Index
from semantic_router.index.coordination import Coordinator, LeaseToken
from semantic_router.route import Aggregation, Route, check_unique_names
from semantic_router.router.learned import apply_extra
from semantic_router.router.snapshot import Draft, Settings, Snapshot, id_function

log = logging.getLogger(__name__)

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


class SharedSettings(BaseModel):
    """Router settings in a shared state, validated like a config (replicas never adopt bad ones)."""

    model_config = ConfigDict(extra="ignore")

    aggregation: Aggregation = "max"
    top_k: StrictInt = Field(5, ge=1)
    alpha: float = Field(0.7, ge=0.0, le=1.0)
    score_threshold: float | None = Field(None, ge=-1.0, le=1.0)


class SharedState(BaseModel):
    """The state blob of a shared index."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["semantic-router/state"]
    version: StrictInt = Field(ge=0)
    hash: str | None = None
    encoder: dict[str, Any] = Field(default_factory=dict)
    sparse_encoder: dict[str, Any] | None = None
    settings: SharedSettings = Field(default_factory=SharedSettings)
    routes: list[Route] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)
    id_scheme: StrictInt = Field(1, ge=1)  # absent: written before collision-free ids (legacy)

    @field_validator("routes")
    @classmethod
    def _unique(cls, routes: list[Route]) -> list[Route]:
        return check_unique_names(routes)

    @field_validator("extra")
    @classmethod
    def _extra(cls, extra: dict[str, Any]) -> dict[str, Any]:
        return check_extra(extra)  # learned state is checked before any replica adopts it


def check_state(state: Any, where: str = "the index") -> SharedState:
    """A validated SharedState, or a clear error naming the bad field."""
    if isinstance(state, SharedState):
        return state
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise SyncError(f"{where} holds no semantic-router state (found {type(state).__name__})")
    try:
        return SharedState.model_validate(state)
    except ValidationError as exc:
        raise ConfigError(f"shared router state in {where} is invalid: {describe_errors(exc)}") from None


def check_encoder(stored: dict[str, Any], encoder: Any, hint: str = "use the same encoder or another index") -> None:
    """Refuse to mix vector spaces: the encoder a shared state names (model name, dimensions) must
    be `encoder`, the process's own. The state's description is only compared, never built."""
    found = (stored.get("name"), stored.get("dimensions"))
    if found != (encoder.name, encoder.dimensions):
        raise SyncError(
            f"the index was built with encoder {found[0]!r:.100} ({found[1]!r:.20} dims); this router uses "
            f"{encoder.name!r} ({encoder.dimensions} dims): {hint}")


def remote_routes(state: Any) -> dict[str, Route]:
    return {r.name: r for r in check_state(state).routes}


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




def sync_change(local: dict[str, Route], mode: str, mine: Snapshot, rule_state: dict[str, Any] | None):
    """The change a sync makes: the merge of `local` and the shared routes; settings, rule and
    fitted extras stay this router's unless the mode makes the remote side the truth."""

    def change(draft: Draft) -> None:
        remote = dict(draft.routes) if draft.shared else {}
        draft.routes = merge_routes(local, remote, mode)
        if not draft.shared or mode not in ("remote", "merge-force-remote"):
            draft.settings, draft.rule, draft.extra = mine.settings, mine.rule, dict(mine.extra)
            draft.calibration = mine.calibration
        draft.rule_state = rule_state

    return change


def new_instance_id() -> str:
    return uuid.uuid4().hex[:12]


class Syncer:
    """The shared-index side of a router: read and validate the state, publish fenced, adopt."""

    def __init__(self, index: Index, mode: str, encoder: Any, lock_timeout: float, instance_id: str) -> None:
        if mode not in MODES:
            raise ValueError(f"auto_sync must be one of {MODES}, got {mode!r}")
        self.index = index
        self.coordinator = coordinator_of(index)
        self.mode = mode
        self.encoder = encoder
        self.lock_timeout = lock_timeout
        self.instance_id = instance_id

    @property
    def local_truth(self) -> bool:
        """True when this router's copy is the truth (lost remote data is rewritten from it)."""
        return self.mode in ("local", "merge-force-local")

    def writing(self) -> contextlib.AbstractContextManager[LeaseToken]:
        return self.coordinator.lock(self.lock_timeout)

    def read(self) -> SharedState | None:
        raw = self.coordinator.read_state()
        if raw is None:
            return None
        state = check_state(raw, f"index {self.index.type!r}")
        self.check_encoder(state)
        return state

    def identity(self) -> dict[str, Any]:
        e = self.encoder
        return {"type": e.type, "name": e.name, "dimensions": e.dimensions}

    def check_encoder(self, state: SharedState) -> None:
        """Refuse to mix vector spaces: the stored encoder must be ours."""
        check_encoder(state.encoder, self.encoder)

    def hash_of(self, snap: Snapshot) -> str:
        return state_hash(list(snap.routes.values()), snap.settings.plain(), self.identity(), dict(snap.extra))

    def state_of(self, snap: Snapshot, version: int) -> dict[str, Any]:
        """The state blob a snapshot publishes."""
        sparse = snap.sparse_encoder
        return {
            "format": STATE_FORMAT,
            "version": version,
            "hash": self.hash_of(snap),
            "encoder": {**self.encoder.spec(), **self.identity()},
            "sparse_encoder": None if sparse is None else sparse.spec(),
            "settings": snap.settings.plain(),
            "routes": [r.model_dump(mode="json") for r in snap.routes.values()],
            "extra": dict(snap.extra),
            "id_scheme": snap.id_scheme,
            "updated_by": self.instance_id,
            "updated_at": time.time(),
        }

    def publish(self, snap: Snapshot, expected: int | None, lease: LeaseToken | None) -> Snapshot:
        """Write the snapshot's state, fenced: only over version `expected`, only under `lease`."""
        version = (expected or 0) + 1
        state = self.state_of(snap, version)
        if self.coordinator.fences:
            self.coordinator.write_state(state, expected_version=expected or 0, lease=lease)
        else:  # a coordinator that declares it cannot fence: the lock alone protects the write
            self.coordinator.write_state(state)
        return snap.evolve(remote_version=version, remote_hash=state["hash"])

    @staticmethod
    def is_other(state: SharedState, snap: Snapshot) -> bool:
        """True when `state` is not the one `snap` was built from: another version, or the same
        version of another lineage (a state republished after the index lost its data)."""
        return state.version != snap.remote_version or (
            state.hash is not None and snap.remote_hash is not None and state.hash != snap.remote_hash)

    def referenced_ids(self, state: SharedState) -> set[str]:
        make_id = id_function(state.id_scheme)
        return {make_id(r.name, u) for r in state.routes for u in r.utterances}

    def records_missing(self, state: SharedState, snap: Snapshot) -> bool:
        """Cheap check that the index still holds the state's records (fewer records than listed)."""
        listed = sum(len(r.utterances) for r in state.routes)
        return listed > 0 and self.index.count() < listed

    def draft_from(self, state: SharedState, base: Snapshot) -> Draft:
        """The change that takes another instance's state: routes, settings, fitted extras."""
        s = state.settings
        settings = Settings(s.top_k, s.aggregation, s.alpha, s.score_threshold, base.settings.rule_auto)
        draft = Draft({r.name: r for r in state.routes}, settings, base.rule, dict(base.extra), base.calibration)
        apply_extra(draft, state.extra)
        return draft


def coordinator_of(index: Index) -> Coordinator:
    """The index's coordination of writers; a clear error for a backend that has none."""
    coordinator = index.coordination
    if coordinator is None:
        raise SyncError(f"index {index.type!r} ({type(index).__name__}) coordinates no writers (no shared state, "
                        "no lock): it serves one router alone, without auto_sync or sync()")
    return coordinator


class Refresher:
    """A daemon thread adopting newer shared states every `interval` s, off the query path.

    It holds the router only weakly: a router nobody references is collected and the thread ends."""

    MIN_INTERVAL = 0.05

    def __init__(self, refresh: Callable[[], Any], interval: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="semantic-router-refresh",
                                        args=(weakref.WeakMethod(refresh), max(interval, self.MIN_INTERVAL),
                                              self._stop))
        self._thread.start()

    @staticmethod
    def _run(ref: weakref.WeakMethod, interval: float, stop: threading.Event) -> None:
        while not stop.wait(interval):
            fn = ref()
            if fn is None:
                return
            try:
                fn()
            except Exception as exc:  # the router keeps serving its last snapshot
                log.warning("background refresh failed: %s", exc)
            del fn

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
