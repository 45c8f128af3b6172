"""Per-route summaries for closed-form heads: counts, sums and the total Gram matrix, kept incrementally.

A route's utterance matrix is immutable and shared between router snapshots, so a summary is
reused for as long as the route's array is the very same object. The total Gram matrix
sum_i x_i x_i^T is updated by adding the Grams of new routes and subtracting those of removed
ones; it is recomputed from scratch when the rows touched since the last full pass exceed the
rows held (bounded rounding drift, amortised O(1) work per row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from semantic_router.vectors import Floats


@dataclass(frozen=True)
class RouteSummary:
    """One route: its (immutable) unit-vector array, row count and float64 row sum."""

    vectors: Floats
    n: int
    total: Floats  # (d,) float64

    @classmethod
    def of(cls, vectors: Floats) -> RouteSummary:
        return cls(vectors, int(vectors.shape[0]), np.add.reduce(vectors, axis=0).astype(np.float64))


def _gram(vectors: Floats) -> Floats:
    v = np.asarray(vectors, dtype=np.float32)
    gram: Floats = (v.T @ v).astype(np.float64)
    return gram


@dataclass(frozen=True)
class Summaries:
    """Summaries of every route in column order plus the total Gram matrix of all their rows."""

    names: tuple[str, ...]
    routes: tuple[RouteSummary, ...]
    gram: Floats  # (d, d) float64; (0, 0) when collected without it
    dims: int
    touched: int  # rows added or removed incrementally since the last full pass

    @property
    def counts(self) -> Floats:
        return np.array([s.n for s in self.routes], dtype=np.float64)

    @property
    def sums(self) -> Floats:
        """(R, d) float64 row sums."""
        if not self.routes:
            return np.zeros((0, self.dims))
        return np.stack([s.total for s in self.routes])

    @property
    def rows(self) -> int:
        return sum(s.n for s in self.routes)

    @classmethod
    def collect(cls, vectors_by_route: Mapping[str, Floats], names: Sequence[str],
                previous: Summaries | None = None, gram: bool = True) -> Summaries:
        """Summaries of `names`, reusing `previous` for every route whose array is the same object.

        `gram=False` skips the Gram matrix (rules that need only counts and sums)."""
        arrays = [_checked(name, vectors_by_route[name]) for name in names]
        dims = next((a.shape[1] for a in arrays), previous.dims if previous is not None else 0)
        if any(a.shape[1] != dims for a in arrays):
            raise ValueError(f"route vectors must all have {dims} columns, got "
                             f"{sorted({a.shape[1] for a in arrays})}")
        if previous is not None and (previous.gram.shape[0] == dims) != gram:
            previous = None  # collected with(out) the Gram matrix: not reusable for the other kind
        old = {} if previous is None or previous.dims != dims or not _distinct(previous.routes) or \
            len({id(a) for a in arrays}) < len(arrays) else {id(s.vectors): s for s in previous.routes}
        kept = {id(a): old[id(a)] for a in arrays if id(a) in old and old[id(a)].vectors is a}
        summaries = tuple(kept.get(id(a)) or _summary(name, a) for name, a in zip(names, arrays))
        fresh = [s for s in summaries if id(s.vectors) not in kept]
        gone = [] if previous is None else \
            [s for s in previous.routes if id(s.vectors) not in kept or kept[id(s.vectors)] is not s]
        rows = sum(s.n for s in summaries)
        delta = sum(s.n for s in fresh) + sum(s.n for s in gone)
        if not gram:
            return cls(tuple(names), summaries, np.zeros((0, 0)), dims, 0)
        if previous is None or not kept or previous.dims != dims or previous.touched + delta > rows:
            total = np.zeros((dims, dims))
            for s in summaries:
                total += _gram(s.vectors)
            return cls(tuple(names), summaries, total, dims, 0)
        total = previous.gram.copy()
        for s in gone:
            total -= _gram(s.vectors)
        for s in fresh:
            total += _gram(s.vectors)
        return cls(tuple(names), summaries, total, dims, previous.touched + delta)


def _summary(name: str, vectors: Floats) -> RouteSummary:
    summary = RouteSummary.of(vectors)
    if not np.isfinite(summary.total).all():  # any NaN or inf row shows in the sum: no extra pass
        raise ValueError(f"vectors of route {name!r} hold NaN or infinite values")
    return summary


def _distinct(routes: Sequence[RouteSummary]) -> bool:
    """True when no array object serves two routes (identity then names one route's rows)."""
    return len({id(s.vectors) for s in routes}) == len(routes)


def _checked(name: str, vectors: object) -> Floats:
    """`vectors` (the caller's, unchecked) as a 2-D float array, or a ValueError naming the route."""
    if not isinstance(vectors, np.ndarray) or vectors.ndim != 2:
        raise ValueError(f"vectors of route {name!r} must be a 2-D numpy array, got "
                         f"{getattr(vectors, 'shape', type(vectors).__name__)}")
    if not np.issubdtype(vectors.dtype, np.floating):
        raise ValueError(f"vectors of route {name!r} must be floating point, got {vectors.dtype}")
    return vectors
