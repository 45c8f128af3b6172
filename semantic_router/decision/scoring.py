"""Pure numpy decision rules: fuse dense and sparse scores, aggregate hits per route, apply thresholds.

Everything works on (queries x hits) arrays so one call decides a whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from semantic_router.vectors import Bools, Floats, Ints

_AGG_INIT = {"max": -np.inf, "min": np.inf, "sum": 0.0, "mean": 0.0}
_AGG_UFUNC = {"max": np.maximum, "min": np.minimum, "sum": np.add, "mean": np.add}


def cosines(scores: Floats) -> Floats:
    """Cosine similarities of unit vectors clipped to [-1, 1], where they belong: float32 dot products land an ulp
    or two outside (a query equal to an utterance scored 1.0000001). Padding (-inf) and NaN are kept; scores
    already in range come back as they are (no copy on the routing path)."""
    if scores.size == 0 or (scores.max() <= 1.0 and scores.min() >= -1.0):  # two reductions, no temporaries
        return scores
    out = np.minimum(scores, 1.0)  # NaN stays NaN; padding (-inf) is not raised to -1 below
    return np.maximum(out, -1.0, out=out, where=np.isfinite(scores))


def fuse(dense: Floats, sparse: Floats | None, alpha: float) -> Floats:
    """Hybrid score: alpha * dense cosine (`cosines`) + (1 - alpha) * sparse score clipped to [0, 1].

    Sparse scores arrive already normalised by the sparse encoder (a query's BM25 score over
    its best possible score), so the fused score keeps the cosine's scale and one threshold
    works with and without hybrid.
    """
    dense = cosines(dense)
    if sparse is None or alpha >= 1.0:
        return dense
    fused: Floats = alpha * dense + (1.0 - alpha) * np.clip(sparse, 0.0, 1.0)
    return fused


def route_ranks(codes: Ints, scores: Floats) -> Ints:
    """Rank of each hit among the hits of the same route in its row (0 = that route's best)."""
    order = np.argsort(-np.where(np.isfinite(scores), scores, -np.inf), axis=1, kind="stable")
    c = np.take_along_axis(codes, order, axis=1)
    sorted_ranks = np.zeros_like(c)
    for j in range(1, c.shape[1]):
        sorted_ranks[:, j] = (c[:, :j] == c[:, j : j + 1]).sum(axis=1)
    ranks = np.empty_like(sorted_ranks)
    np.put_along_axis(ranks, order, sorted_ranks, axis=1)
    return ranks


def aggregate(
    codes: Ints, scores: Floats, n_routes: int, method: str, per_route: int | None = None
) -> Floats:
    """Per-route aggregate of each query's hits: (B, k) route codes + scores -> (B, n_routes).

    Codes < 0 mark padding. Routes without a hit get NaN (never pass a threshold). With
    `per_route`, only each route's best `per_route` hits count.
    """
    b = codes.shape[0]
    if b == 1:
        return _aggregate_one(codes[0].tolist(), scores[0].tolist(), n_routes, method, per_route)
    valid = (codes >= 0) & np.isfinite(scores)
    if per_route is not None and codes.shape[1] > per_route:
        valid &= route_ranks(codes, scores) < per_route
    rows = np.broadcast_to(np.arange(b)[:, None], codes.shape)[valid]
    cols = codes[valid]
    vals = scores[valid].astype(np.float64)
    out = np.full((b, n_routes), _AGG_INIT[method], dtype=np.float64)
    _AGG_UFUNC[method].at(out, (rows, cols), vals)
    counts = np.zeros((b, n_routes), dtype=np.int64)
    np.add.at(counts, (rows, cols), 1)
    if method == "mean":
        out = np.divide(out, counts, out=np.zeros_like(out), where=counts > 0)
    out[counts == 0] = np.nan
    return out


_REDUCE: dict[str, Callable[[list[float]], float]] = {
    "max": max, "min": min, "sum": math.fsum, "mean": lambda v: math.fsum(v) / len(v)}


def _aggregate_one(codes: list[int], scores: list[float], n_routes: int, method: str,
                   per_route: int | None) -> Floats:
    """`aggregate` for a single query: a handful of hits, cheaper in plain Python than in numpy calls."""
    groups: dict[int, list[float]] = {}
    hits: Iterable[tuple[int, float]] = zip(codes, scores)
    if per_route is not None and len(codes) > per_route:  # the cap can bind: take each route's best first
        hits = sorted(hits, key=lambda hit: -hit[1])  # stable, like route_ranks
    for c, s in hits:
        if c >= 0 and math.isfinite(s):
            g = groups.setdefault(c, [])
            if per_route is None or len(g) < per_route:
                g.append(s)
    out = np.empty((1, n_routes))  # empty + fill: np.full's Python wrapper costs more than the fill here
    out.fill(np.nan)
    reduce = _REDUCE[method]
    for c, vals in groups.items():
        out[0, c] = reduce(vals)
    return out


def aggregate_routes(
    codes: Ints,
    scores: Floats,
    methods: Sequence[str | None],
    default: str,
    per_route: int | None = None,
) -> Floats:
    """Aggregate with each route's own method (`methods[r]`, or `default` where None)."""
    n = len(methods)
    if not any(methods):
        return aggregate(codes, scores, n, default, per_route)
    resolved = [m or default for m in methods]
    used = set(resolved) or {default}
    if len(used) == 1:
        return aggregate(codes, scores, n, used.pop(), per_route)
    out = np.full((codes.shape[0], n), np.nan)
    for method in used:
        cols = [r for r, m in enumerate(resolved) if m == method]
        out[:, cols] = aggregate(codes, scores, n, method, per_route)[:, cols]
    return out


def passing(aggregates: Floats, thresholds: Floats) -> Bools:
    """Boolean (B, R): route r passes query b when its aggregate reaches its threshold."""
    return aggregates >= thresholds[None, :]  # NaN compares False without a warning


def best(aggregates: Floats, ok: Bools) -> tuple[Ints, Floats]:
    """Best passing route per query: (route index or -1, its score or NaN)."""
    masked = np.where(ok, aggregates, -np.inf)
    idx = np.argmax(masked, axis=1) if masked.shape[1] else np.zeros(masked.shape[0], dtype=np.int64)
    found = ok.any(axis=1) if masked.shape[1] else np.zeros(masked.shape[0], dtype=bool)
    score = np.where(found, masked[np.arange(len(idx)), idx] if masked.shape[1] else np.nan, np.nan)
    return np.where(found, idx, -1), score


def ranked(aggregates_row: Floats, ok_row: Bools, max_k: int | None) -> list[int]:
    """Indices of the passing routes of one query, best first, at most max_k."""
    cand = np.flatnonzero(ok_row)
    order = cand[np.argsort(-aggregates_row[cand], kind="stable")]
    indices: list[int] = order.tolist() if max_k is None else order[:max_k].tolist()
    return indices
