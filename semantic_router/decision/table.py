"""The router's route table: names -> codes, resolved thresholds and aggregation per route.

Rebuilt (immutably) whenever routes or thresholds change, so routing reads it without locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semantic_router.route import Route


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...]
    names: tuple[str, ...]
    code: dict[str, int]
    thresholds: np.ndarray  # (R,) float64, resolved: route's own, else layer's, else encoder's
    methods: tuple[str | None, ...]  # route's own aggregation or None
    _sorted_names: np.ndarray
    _sorted_codes: np.ndarray
    known_ids: frozenset[str] | None = None  # when set, hits of other records are ignored
    dynamic: bool = False  # some route has function schemas (choices may need an LLM)


    @classmethod
    def build(
        cls,
        routes: Sequence[Route],
        layer_threshold: float | None,
        encoder_threshold: float,
        known_ids: frozenset[str] | None = None,
    ) -> RouteTable:
        default = layer_threshold if layer_threshold is not None else encoder_threshold
        names = tuple(r.name for r in routes)
        thresholds = np.array(
            [r.score_threshold if r.score_threshold is not None else default for r in routes], dtype=np.float64
        )
        arr = np.array(names, dtype=str) if names else np.zeros(0, dtype=str)
        order = np.argsort(arr, kind="stable")
        return cls(tuple(routes), names, {n: i for i, n in enumerate(names)}, thresholds,
                   tuple(r.aggregation for r in routes), arr[order], order, known_ids,
                   any(r.function_schemas for r in routes))

    def __len__(self) -> int:
        return len(self.names)

    def codes(self, route_names: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """Vectorised name -> code for a (B, k) array of route names; -1 for unknown or padding.

        With `known_ids` set (shared indexes), a hit whose record id is not part of this router's
        route set (written by a change that has not been published) also gets -1."""
        if not len(self.names) or route_names.size == 0:
            return np.full(route_names.shape, -1, dtype=np.int64)
        if route_names.size <= 64:  # a single query's hits: dictionary lookups beat array passes
            known = self.known_ids
            flat_ids = ids.ravel().tolist() if known is not None and ids is not None else None
            out = [self.code.get(r, -1) if flat_ids is None or flat_ids[j] in known else -1
                   for j, r in enumerate(route_names.ravel().tolist())]
            return np.array(out, dtype=np.int64).reshape(route_names.shape)
        pos = np.searchsorted(self._sorted_names, route_names)
        pos = np.minimum(pos, len(self.names) - 1)
        hit = self._sorted_names[pos] == route_names
        if self.known_ids is not None and ids is not None:
            known = self.known_ids
            hit &= np.fromiter((i in known for i in ids.ravel()), dtype=bool, count=ids.size).reshape(ids.shape)
        return np.where(hit, self._sorted_codes[pos], -1)

    def route(self, name: str) -> Route:
        return self.routes[self.code[name]]
