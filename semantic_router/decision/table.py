"""The router's route table: names -> codes, resolved thresholds and aggregation per route.

Rebuilt (immutably) whenever routes or thresholds change, so routing reads it without locks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    record_codes: Mapping[str, int] | None = None  # record id -> code: when set, hits count by record id
    dynamic: bool = False  # some route has function schemas (choices may need an LLM)

    @classmethod
    def build(
        cls,
        routes: Sequence[Route],
        layer_threshold: float | None,
        encoder_threshold: float,
        record_codes: Mapping[str, int] | None = None,
    ) -> RouteTable:
        default = layer_threshold if layer_threshold is not None else encoder_threshold
        names = tuple(r.name for r in routes)
        thresholds = np.array(
            [r.score_threshold if r.score_threshold is not None else default for r in routes], dtype=np.float64
        )
        return cls(tuple(routes), names, {n: i for i, n in enumerate(names)}, thresholds,
                   tuple(r.aggregation for r in routes), record_codes, any(r.function_schemas for r in routes))

    def __len__(self) -> int:
        return len(self.names)

    def codes(self, route_names: np.ndarray, ids: np.ndarray | None = None,
              record_codes: Mapping[str, int] | None = None) -> np.ndarray:
        """Route code per hit of a (B, k) array of route names (and their record ids); -1 for unknown or padding.

        Exact dictionary lookups: every name `Route` accepts keeps its identity ("a" and "a\\x00" are two
        routes; numpy string arrays would drop the trailing NUL), and they beat sorted-array searches.
        With `record_codes` (id -> code: this table's own for shared and remote indexes, or the
        caller's), a hit counts for the route its record id belongs to in this route set: records
        of a change not published (or not yet collected) get -1, and a record whose stored route
        name was edited still counts for its own route, never for the one it names."""
        if not len(self.names) or route_names.size == 0:
            return np.full(route_names.shape, -1, dtype=np.int64)
        by_id = record_codes if record_codes is not None else self.record_codes
        if by_id is None or ids is None:
            code = self.code
            out = [code.get(r, -1) for r in route_names.ravel().tolist()]
        else:
            out = [by_id.get(i, -1) for i in ids.ravel().tolist()]
        return np.array(out, dtype=np.int64).reshape(route_names.shape)

    def route(self, name: str) -> Route:
        return self.routes[self.code[name]]
