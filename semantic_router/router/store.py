"""Route management for RouteLayer: add, delete, update, utterance CRUD, one atomic commit path.

Every change computes the new route set, encodes only utterances the index lacks, writes the
index, and only then swaps the router's routes; a failure on the way leaves everything as it was.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from semantic_router.encoders.base import check_texts
from semantic_router.errors import RouteNotFoundError
from semantic_router.ids import record_id
from semantic_router.index.base import Record
from semantic_router.route import Route
from semantic_router.decision.table import RouteTable

_UNSET: Any = object()


@dataclass(frozen=True)
class Utterance:
    """One stored utterance of a route."""

    id: str
    route: str
    utterance: str


class RouteStore:
    """Mixin holding the route set; the layer supplies encoder, sparse_encoder and index."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._ids: dict[str, dict[str, str]] = {}  # route -> utterance -> id
        self.version = 0
        self._mutex = threading.RLock()  # one writer at a time within this process
        self._rebuild_table()

    # -- reading ------------------------------------------------------------------------------
    @property
    def routes(self) -> list[Route]:
        """Copies of the routes (change them through add/update/delete)."""
        return [r.model_copy(deep=True) for r in self._routes.values()]

    def list_route_names(self) -> list[str]:
        return list(self._routes)

    def get(self, name: str) -> Route:
        """A copy of the named route; RouteNotFoundError if there is none."""
        return self._existing(name).model_copy(deep=True)

    def get_utterances(self, route_name: str | None = None, ids: Sequence[str] | None = None) -> list[Utterance]:
        names = list(self._routes) if route_name is None else [self._existing(route_name).name]
        found = [Utterance(i, n, u) for n in names for u, i in self._ids[n].items()]
        if ids is None:
            return found
        by_id = {u.id: u for u in found}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise KeyError(f"unknown utterance id(s): {missing[:5]}")
        return [by_id[i] for i in ids]

    # -- changing ------------------------------------------------------------------------------
    def add(self, routes: Route | Sequence[Route]) -> None:
        """Add one route or several; encodes their utterances. Existing names are refused."""
        items = [routes] if isinstance(routes, Route) else list(routes)
        for r in items:
            if not isinstance(r, Route):
                raise TypeError(f"expected Route objects, got {type(r).__name__}: {r!r:.80}")

        def change(current: dict[str, Route]) -> dict[str, Route]:
            for r in items:
                if r.name in current:
                    raise ValueError(f"route {r.name!r} already exists (use update() to change it)")
                current[r.name] = r.model_copy(deep=True)
            return current

        self._mutate(change)

    def delete(self, name: str) -> None:
        """Remove a route and its utterances."""

        def change(current: dict[str, Route]) -> dict[str, Route]:
            self._existing(name)
            return {n: r for n, r in current.items() if n != name}

        self._mutate(change)

    def update(
        self,
        name: str,
        *,
        utterances: Sequence[str] = _UNSET,
        score_threshold: float | None = _UNSET,
        distance_threshold: float | None = _UNSET,
        metadata: dict[str, Any] = _UNSET,
        description: str | None = _UNSET,
        function_schemas: list[dict[str, Any]] | None = _UNSET,
        aggregation: str | None = _UNSET,
    ) -> Route:
        """Change fields of a route; new utterances are encoded, removed ones deleted."""
        given = {"utterances": utterances, "score_threshold": score_threshold, "metadata": metadata,
                 "description": description, "function_schemas": function_schemas, "aggregation": aggregation}
        if distance_threshold is not _UNSET and score_threshold is not _UNSET:
            raise ValueError("give score_threshold or distance_threshold, not both")
        result: list[Route] = []

        def change(current: dict[str, Route]) -> dict[str, Route]:
            data = self._existing(name).model_dump()
            data.update({k: v for k, v in given.items() if v is not _UNSET})
            if distance_threshold is not _UNSET:
                data.pop("score_threshold")
                data["distance_threshold"] = distance_threshold
            route = Route.model_validate(data)
            result.append(route)
            return {n: (route if n == name else r) for n, r in current.items()}

        self._mutate(change)
        return result[0].model_copy(deep=True)

    def add_utterances(self, name: str, utterances: Sequence[str]) -> list[str]:
        """Add utterances to a route; returns their stable ids (present ones are not re-added)."""
        items = check_texts(utterances, "utterances")

        def change(current: dict[str, Route]) -> dict[str, Route]:
            route = self._existing(name)
            merged = route.model_copy(update={"utterances": list(dict.fromkeys(route.utterances + items))})
            return {n: (merged if n == name else r) for n, r in current.items()}

        self._mutate(change)
        return [record_id(name, u) for u in items]

    def delete_utterances(self, route_name: str | None = None, ids: Sequence[str] | None = None) -> int:
        """Delete utterances by route and/or id; a route left without utterances is removed."""
        if route_name is None and ids is None:
            raise ValueError("give route_name and/or ids (use clear() to remove everything)")
        count: list[int] = []

        def change(current: dict[str, Route]) -> dict[str, Route]:
            doomed = {(u.route, u.utterance) for u in self.get_utterances(route_name, ids)}
            count.append(len(doomed))
            new: dict[str, Route] = {}
            for n, r in current.items():
                keep = [u for u in r.utterances if (n, u) not in doomed]
                if keep:
                    new[n] = r if len(keep) == len(r.utterances) else r.model_copy(update={"utterances": keep})
            return new

        self._mutate(change)
        return count[0]

    def clear(self) -> None:
        """Remove every route and utterance."""
        self._mutate(lambda current: {})

    # -- the one commit path ----------------------------------------------------------------------
    def _mutate(self, change: Callable[[dict[str, Route]], dict[str, Route] | None]) -> None:
        """Apply `change` to the latest route set under the writers' lock and commit it.

        `change` gets a copy of the current routes and returns the new set, or None when it only
        changed settings."""
        with self._write_lock():
            new = change(dict(self._routes))
            if new is None:
                self._rebuild_table()
                self.version += 1
                self._changed()
            else:
                self._commit(new)

    def _write_lock(self) -> contextlib.AbstractContextManager[None]:  # the layer adds remote locking
        return self._mutex

    @staticmethod
    def _checked_routes(routes: list[Route]) -> list[Route]:
        names: set[str] = set()
        for r in routes:
            if not isinstance(r, Route):
                raise TypeError(f"expected Route objects, got {type(r).__name__}: {r!r:.80}")
            if r.name in names:
                raise ValueError(f"duplicate route name {r.name!r}")
            names.add(r.name)
        return routes

    def _init_routes(self, routes: list[Route]) -> None:
        self._checked_routes(routes)
        present = set(self.index.ids()) if self.index.count() else set()
        with self._mutex:
            self._commit({r.name: r.model_copy(deep=True) for r in routes}, present)

    def _commit(self, new: dict[str, Route], present: set[str] | None = None, prune: bool = False) -> None:
        """Make `new` the route set: encode what the index lacks, write records, then swap.

        Without `present`, the index is assumed to hold exactly the current routes' records and
        only the difference is written. With `present` (the ids the index holds), records are
        written for every desired id it lacks, and with `prune` every other record is removed."""
        if present is None:
            ids, to_add, to_remove = self._incremental(new)
        else:
            ids = {n: {u: self._ids.get(n, {}).get(u) or record_id(n, u) for u in r.utterances} for n, r in new.items()}
            desired = {i for m in ids.values() for i in m.values()}
            to_add = [(n, u, i) for n, m in ids.items() for u, i in m.items() if i not in present]
            to_remove = [i for i in present if i not in desired] if prune else []
        sparse_before = copy.deepcopy(self.sparse_encoder)
        try:
            fresh = self._encode_new(to_add)
            rewritten, originals = self._refit_sparse(fresh, new, rewrite=bool(to_add or to_remove))
            self._write_index(fresh + rewritten, to_remove, [r.id for r in fresh], originals)
        except BaseException:
            self.sparse_encoder = sparse_before
            raise
        self._routes, self._ids = new, ids
        self._rebuild_table()
        self.version += 1
        self._changed()

    def _swap(self, new: dict[str, Route]) -> None:
        """Take a route set whose records the index already holds (written by another instance)."""
        ids = {n: {u: self._ids.get(n, {}).get(u) or record_id(n, u) for u in r.utterances} for n, r in new.items()}
        if self.sparse_encoder is not None:
            utterances = [u for r in new.values() for u in r.utterances]
            if utterances:
                self.sparse_encoder.fit(utterances)  # query-side statistics; stored vectors are current
        self._routes, self._ids = new, ids
        self._rebuild_table()

    def _incremental(self, new: dict[str, Route]):
        """Per-route diff of the current and the new route set (unchanged routes cost nothing)."""
        old = self._routes
        ids = dict(self._ids)
        to_add: list[tuple[str, str, str]] = []
        to_remove: list[str] = []
        for name in list(old) + [n for n in new if n not in old]:
            before = self._ids.get(name, {})
            if name in old and name in new and old[name].utterances == new[name].utterances:
                continue
            if name not in new:
                ids.pop(name, None)
                to_remove += before.values()
                continue
            now = {u: before.get(u) or record_id(name, u) for u in new[name].utterances}
            ids[name] = now
            to_add += [(name, u, i) for u, i in now.items() if u not in before]
            to_remove += [i for u, i in before.items() if u not in now]
        return ids, to_add, to_remove

    def _encode_new(self, pairs: list[tuple[str, str, str]]) -> list[Record]:
        if not pairs:
            return []
        dense = self.encoder.encode([u for _, u, _ in pairs])
        return [Record(n, u, dense[j], id=i) for j, (n, u, i) in enumerate(pairs)]

    def _refit_sparse(
        self, fresh: list[Record], routes: dict[str, Route], rewrite: bool
    ) -> tuple[list[Record], list[Record]]:
        """Refit BM25 on the new utterance set; when utterances changed, every stored document
        vector is rewritten (corpus statistics moved).

        Returns the rewritten stored records and their originals (to restore on failure)."""
        if self.sparse_encoder is None or not (rewrite or not self.sparse_encoder.is_fitted):
            return [], []
        all_utterances = [u for r in routes.values() for u in r.utterances]
        if all_utterances:
            self.sparse_encoder.fit(all_utterances)
        if not rewrite:
            return [], []
        added = {r.id for r in fresh}
        originals = [r for r in self.index.records() if r.id not in added and r.route in routes]
        rewritten = [copy.copy(r) for r in originals]
        targets = fresh + rewritten
        for r, vec in zip(targets, self.sparse_encoder.encode_documents([r.utterance for r in targets])):
            r.sparse = vec
        return rewritten, originals

    def _write_index(self, records: list[Record], remove: list[str], added: list[str], originals: list[Record]) -> None:
        try:
            if records:
                self.index.upsert(records)
            if remove:
                self.index.delete(ids=remove)
        except BaseException:
            # best effort: take back what this change wrote
            if added:
                self.index.delete(ids=added)
            if originals:
                self.index.upsert(originals)
            raise

    def _changed(self) -> None:
        """Hook called after every committed change (remote sync writes the shared state here)."""

    def _existing(self, name: str) -> Route:
        if not isinstance(name, str):
            raise TypeError(f"route name must be a string, got {type(name).__name__}: {name!r:.80}")
        try:
            return self._routes[name]
        except KeyError:
            raise self._unknown(name) from None

    def _unknown(self, name: str) -> RouteNotFoundError:
        known = ", ".join(list(self._routes)[:10]) or "none"
        return RouteNotFoundError(f"unknown route {name!r} (routes: {known})")

    def _rebuild_table(self) -> None:  # overridden by the layer (needs its thresholds)
        self._table = RouteTable.build([], None, 0.5)
