"""The router's route table: names -> codes, resolved thresholds and aggregation per route.

Rebuilt (immutably) whenever routes or thresholds change, so routing reads it without locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semantic_router.route import Route
from semantic_router.vectors import Floats, Ints, Objects


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...]
    names: tuple[str, ...]
    code: dict[str, int]
    thresholds: Floats  # (R,) float64, resolved: route's own, else layer's, else encoder's
    methods: tuple[str | None, ...]  # route's own aggregation or None
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
        return cls(tuple(routes), names, {n: i for i, n in enumerate(names)}, thresholds,
                   tuple(r.aggregation for r in routes), known_ids, any(r.function_schemas for r in routes))

    def __len__(self) -> int:
        return len(self.names)

    def codes(self, route_names: Objects, ids: Objects | None = None) -> Ints:
        """Name -> code for a (B, k) array of route names; -1 for unknown or padding.

        Exact dictionary lookups: every name `Route` accepts keeps its identity ("a" and "a\\x00" are two
        routes; numpy string arrays would drop the trailing NUL), and they beat sorted-array searches.
        With `known_ids` set (shared indexes), a hit whose record id is not part of this router's
        route set (written by a change that has not been published) also gets -1."""
        if not len(self.names) or route_names.size == 0:
            return np.full(route_names.shape, -1, dtype=np.int64)
        code, known = self.code, self.known_ids
        names = route_names.ravel().tolist()
        if known is None or ids is None:
            out = [code.get(r, -1) for r in names]
        else:
            out = [code.get(r, -1) if i in known else -1 for r, i in zip(names, ids.ravel().tolist())]
        return np.array(out, dtype=np.int64).reshape(route_names.shape)

    def route(self, name: str) -> Route:
        return self.routes[self.code[name]]
