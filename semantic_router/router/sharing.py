"""Sharing: one router's part in a shared index (auto_sync), wired between its store and router/sync.py.

The store commits and publishes every change (router/store.py) and sync.py holds the shared-state
protocol; this collaborator gives the store its `Syncer`, reconciles with the index's state on
demand (`sync`), compares with it (`is_synced`, `diff`) and runs the background `Refresher`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from semantic_router.encoders.base import DenseEncoder
from semantic_router.index.base import Index
from semantic_router.route import Route
from semantic_router.router.store import RouteStore
from semantic_router.router.sync import MODES, Refresher, RouteDiff, Syncer, check_state, coordinator_of, diff, sync_change


class Sharing:
    """How one router shares its route set through its index: sync now, compare, refresh in the background."""

    def __init__(self, store: RouteStore, index: Index, encoder: DenseEncoder, lock_timeout: float,
                 instance_id: str) -> None:
        self.store = store
        self.index = index
        self.encoder = encoder
        self.lock_timeout = lock_timeout
        self.instance_id = instance_id
        self.refresher: Refresher | None = None

    def syncer(self, mode: str) -> Syncer:
        """The shared-index side of this router in `mode` (one of sync.MODES)."""
        return Syncer(self.index, mode, self.encoder, self.lock_timeout, self.instance_id)

    def sync(self, mode: str, local: dict[str, Route], rule_state: dict[str, Any] | None) -> None:
        """Reconcile `local` routes with the index's state in `mode`, as one commit; from now on the
        store publishes every change (its syncer keeps the first mode it was given)."""
        if mode not in MODES:
            raise ValueError(f"sync mode must be one of {MODES}, got {mode!r}")
        store = self.store
        if store.syncer is None:
            store.syncer = self.syncer(mode)
        change = sync_change(local, mode, store.snapshot, rule_state)
        # "remote" adopts the index's state; an index with none yet gets this router's (empty) set written
        publish = mode != "remote" or store.syncer.coordinator.read_state() is None
        store.commit(change, present=set(self.index.ids()), prune=True, publish=publish)

    def is_synced(self) -> bool:
        """True when the index's state holds exactly the store's routes and settings."""
        syncer = self.store.syncer or self.syncer("merge")
        raw = syncer.coordinator.read_state()
        return raw is not None and check_state(raw).hash == syncer.hash_of(self.store.snapshot)

    def diff(self) -> list[RouteDiff]:
        """What differs between the store's routes and the index's state, route by route."""
        raw = coordinator_of(self.index).read_state()
        remote = {} if raw is None else {r.name: r for r in check_state(raw).routes}
        return diff(dict(self.store.snapshot.routes), remote)

    def start_refresh(self, refresh: Callable[[], Any], interval: float) -> None:
        """Call `refresh` (a bound method, held weakly) every `interval` s in a daemon thread; never
        for an infinite interval."""
        if interval != float("inf"):
            self.refresher = Refresher(refresh, interval)

    def stop(self) -> None:
        """Stop the background refresh (idempotent)."""
        if self.refresher is not None:
            self.refresher.stop()
            self.refresher = None
