"""Route management for RouteLayer: add, delete, update, utterance CRUD, one atomic commit path.

Every change computes the new route set, encodes only utterances the index lacks, writes the
index, and only then swaps the router's routes; a failure on the way leaves everything as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from semantic_router.encoders.base import check_texts
from semantic_router.errors import RouteNotFoundError
from semantic_router.ids import record_id
from semantic_router.index.base import Record
from semantic_router.route import Route
from semantic_router.table import RouteTable

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
        new = dict(self._routes)
        for r in items:
            if not isinstance(r, Route):
                raise TypeError(f"expected Route objects, got {type(r).__name__}: {r!r:.80}")
            if r.name in new:
                raise ValueError(f"route {r.name!r} already exists (use update() to change it)")
            new[r.name] = r.model_copy(deep=True)
        self._commit(new)

    def delete(self, name: str) -> None:
        """Remove a route and its utterances."""
        self._existing(name)
        self._commit({n: r for n, r in self._routes.items() if n != name})

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
        data = self._existing(name).model_dump()
        given = {"utterances": utterances, "score_threshold": score_threshold, "metadata": metadata,
                 "description": description, "function_schemas": function_schemas, "aggregation": aggregation}
        data.update({k: v for k, v in given.items() if v is not _UNSET})
        if distance_threshold is not _UNSET:
            if score_threshold is not _UNSET:
                raise ValueError("give score_threshold or distance_threshold, not both")
            data.pop("score_threshold")
            data["distance_threshold"] = distance_threshold
        route = Route.model_validate(data)
        self._commit({n: (route if n == name else r) for n, r in self._routes.items()})
        return route.model_copy(deep=True)

    def add_utterances(self, name: str, utterances: Sequence[str]) -> list[str]:
        """Add utterances to a route; returns their stable ids (present ones are not re-added)."""
        items = check_texts(utterances, "utterances")
        route = self._existing(name)
        self.update(name, utterances=route.utterances + items)
        return [self._ids[name][u] for u in items]

    def delete_utterances(self, route_name: str | None = None, ids: Sequence[str] | None = None) -> int:
        """Delete utterances by route and/or id; a route left without utterances is removed."""
        if route_name is None and ids is None:
            raise ValueError("give route_name and/or ids (use clear() to remove everything)")
        doomed = {(u.route, u.utterance) for u in self.get_utterances(route_name, ids)}
        new: dict[str, Route] = {}
        for n, r in self._routes.items():
            keep = [u for u in r.utterances if (n, u) not in doomed]
            if keep:
                new[n] = r if len(keep) == len(r.utterances) else r.model_copy(update={"utterances": keep})
        self._commit(new)
        return len(doomed)

    def clear(self) -> None:
        """Remove every route and utterance."""
        self._commit({})

    # -- the one commit path ----------------------------------------------------------------------
    def _init_routes(self, routes: list[Route]) -> None:
        names: set[str] = set()
        for r in routes:
            if not isinstance(r, Route):
                raise TypeError(f"expected Route objects, got {type(r).__name__}: {r!r:.80}")
            if r.name in names:
                raise ValueError(f"duplicate route name {r.name!r}")
            names.add(r.name)
        present = set(self.index.ids()) if self.index.count() else set()
        self._commit({r.name: r.model_copy(deep=True) for r in routes}, present)

    def _commit(self, new: dict[str, Route], present: set[str] | None = None) -> None:
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
            to_add += [(name, u, i) for u, i in now.items() if u not in before and (not present or i not in present)]
            to_remove += [i for u, i in before.items() if u not in now]
        sparse_before = copy.deepcopy(self.sparse_encoder)
        try:
            fresh = self._encode_new(to_add)
            stale = to_add or to_remove or (self.sparse_encoder is not None and not self.sparse_encoder.is_fitted)
            rewritten, originals = self._refit_sparse(fresh, new) if stale else ([], [])
            self._write_index(fresh + rewritten, to_remove, [r.id for r in fresh], originals)
        except BaseException:
            self.sparse_encoder = sparse_before
            raise
        self._routes, self._ids = new, ids
        self._rebuild_table()
        self.version += 1
        self._changed()

    def _encode_new(self, pairs: list[tuple[str, str, str]]) -> list[Record]:
        if not pairs:
            return []
        dense = self.encoder.encode([u for _, u, _ in pairs])
        return [Record(n, u, dense[j], id=i) for j, (n, u, i) in enumerate(pairs)]

    def _refit_sparse(self, fresh: list[Record], routes: dict[str, Route]) -> tuple[list[Record], list[Record]]:
        """Refit BM25 on the new utterance set; every document vector is rewritten (corpus statistics moved).

        Returns the rewritten stored records and their originals (to restore on failure)."""
        if self.sparse_encoder is None:
            return [], []
        all_utterances = [u for r in routes.values() for u in r.utterances]
        if all_utterances:
            self.sparse_encoder.fit(all_utterances)
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
