"""RouteLayer's routing: inputs -> query vectors -> a search plan -> decisions -> choices.

The decision logic is one generator plan (`_route_plan`) that yields index searches, so the
sync API (`drive`) and the async one (`aio.py`, `adrive`) share it line for line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from semantic_router.decision import scoring
from semantic_router.dynamic import conversation as dynamic
from semantic_router.encoders.base import SparseVector, check_texts
from semantic_router.index.base import HitBatch
from semantic_router.router.plans import Plan, drive
from semantic_router.route import Aggregation, RouteChoice, check_aggregation
from semantic_router.decision.table import RouteTable

if TYPE_CHECKING:
    from semantic_router.router.layer import RouteLayer

_WIDEN = 4  # search depth multiplier when a near route that fails may hide a farther one that passes


@dataclass(slots=True)
class Query:
    """Validated input of one routing call: texts to encode, or ready vectors."""

    texts: list[str] | None = None  # with history: last user turn first, then earlier turns
    vectors: np.ndarray | None = None
    history: bool = False
    messages: Any = None


class RoutingMixin:
    """`rl(...)`, `route_many`, `route_batch` and the decision plan behind them."""

    def __call__(self: RouteLayer, text: str | None = None, *, vector: Any = None, messages: Any = None,
                 route_filter: Sequence[str] | None = None, explain: bool = False,
                 simulate_static: bool = False) -> RouteChoice:
        """Route one query (text, chat `messages`, or a precomputed embedding) to its best passing route."""
        return self._route(self._query(text, vector, messages), route_filter, explain, 1, None, False,
                           simulate_static)[0][0]

    route = __call__

    def route_many(self: RouteLayer, text: str | None = None, *, vector: Any = None, messages: Any = None,
                   max_k: int | None = None, aggregation: Aggregation | None = None,
                   route_filter: Sequence[str] | None = None, explain: bool = False,
                   simulate_static: bool = False) -> list[RouteChoice]:
        """Every route that passes its own threshold, best first (at most `max_k`)."""
        query = self._query(text, vector, messages)
        max_k, agg = self._many_args(max_k, aggregation)
        return self._route(query, route_filter, explain, max_k, agg, True, simulate_static)[0]

    def route_batch(self: RouteLayer, texts: Sequence[str] | None = None, *, vectors: Any = None,
                    route_filter: Sequence[str] | None = None, explain: bool = False,
                    simulate_static: bool = False) -> list[RouteChoice]:
        """Route many queries with one batched encode and one batched search."""
        out = self._route(self._batch_query(texts, vectors), route_filter, explain, 1, None, False, simulate_static)
        return [c[0] for c in out]

    def encode_queries(self: RouteLayer, texts: list[str]) -> tuple[np.ndarray, list[SparseVector] | None]:
        """Dense (cached) and, in hybrid mode, sparse query vectors."""
        dense = self.encoder.encode_queries(texts)
        sparse = self.sparse_encoder.encode_queries(texts) if self.sparse_encoder is not None else None
        return dense, sparse

    def score_batch(self: RouteLayer, vectors: np.ndarray, sparse: list[SparseVector] | None = None):
        """Route names, (B, R) aggregates and pass mask for unit query vectors (evaluation, fitting)."""
        self._maybe_refresh()
        table = self._table
        vectors = self._check_vectors(vectors, batch=True)
        if not len(table):
            return [], np.zeros((len(vectors), 0)), np.zeros((len(vectors), 0), dtype=bool)
        plan = self._decide_plan(table, vectors, sparse, None, None, 1)  # as route(): deeper only for the best
        agg, ok = drive(plan, self.index.query_batch)
        return list(table.names), agg, ok

    # -- inputs ---------------------------------------------------------------------------------
    def _query(self: RouteLayer, text: Any, vector: Any, messages: Any) -> Query:
        given = sum(x is not None for x in (text, vector, messages))
        if given != 1:
            raise ValueError("give exactly one of: a text, a vector, or messages" if given else
                             "give a text, a vector or messages to route")
        if vector is not None:
            return Query(vectors=self._check_vectors(vector, batch=False))
        if messages is not None:
            texts = dynamic.history_texts(messages, self.history)
            return Query(texts=texts, history=True, messages=dynamic.prior_messages(messages))
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}: {text!r:.80}")
        if not text.strip():
            raise ValueError(f"text is empty or blank: {text!r}")
        return Query(texts=[text])

    def _batch_query(self: RouteLayer, texts: Any, vectors: Any) -> Query:
        if (texts is None) == (vectors is None):
            raise ValueError("route_batch needs texts or vectors (exactly one of them)")
        if texts is not None:
            return Query(texts=check_texts(texts, "texts"))
        return Query(vectors=self._check_vectors(vectors, batch=True))

    @staticmethod
    def _many_args(max_k: Any, aggregation: Any) -> tuple[int, str | None]:
        if max_k is not None and (isinstance(max_k, bool) or not isinstance(max_k, int) or max_k < 1):
            raise ValueError(f"max_k must be a positive integer or None, got {max_k!r}")
        return max_k or 0, None if aggregation is None else check_aggregation(aggregation)

    def _check_vectors(self: RouteLayer, vector: Any, batch: bool) -> np.ndarray:
        try:
            arr = np.asarray(vector, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"vector must be numeric, got {type(vector).__name__}") from exc
        if arr.ndim == 1 and not batch:
            arr = arr[None, :]
        dims = self.encoder.dimensions
        if arr.ndim != 2 or arr.shape[1] != dims:
            raise ValueError(f"vector shape {np.shape(vector)} does not match the encoder's dimension {dims}")
        if len(arr) == 1:  # the common single query: one dot product instead of several array passes
            norm = math.sqrt(float(np.dot(arr[0], arr[0])))
            if math.isfinite(norm) and norm > 0:
                return arr / np.float32(norm)
        norms = np.sqrt(np.einsum("ij,ij->i", arr, arr))
        if not (np.isfinite(norms).all() and norms.all()):
            if not np.isfinite(arr).all():
                raise ValueError("vector holds NaN or infinite values")
            raise ValueError("vector is all zeros (no direction to compare)")
        return arr / norms[:, None]

    def _query_vectors(self: RouteLayer, query: Query) -> tuple[np.ndarray, list[SparseVector] | None]:
        if query.vectors is not None:
            return query.vectors, None
        dense = self.encoder.encode_queries(query.texts)
        if query.history:
            dense = dynamic.blend(dense, self.history)
        texts = query.texts[:1] if query.history else query.texts
        sparse = None if self.sparse_encoder is None else self.sparse_encoder.encode_queries(texts)
        return dense, sparse

    # -- deciding -------------------------------------------------------------------------------
    def _route(self: RouteLayer, query: Query, route_filter: Sequence[str] | None, explain: bool, max_k: int,
               aggregation: str | None, many: bool, simulate_static: bool) -> list[list[RouteChoice]]:
        self._maybe_refresh()
        vectors, sparse = self._query_vectors(query)
        out = drive(self._route_plan(vectors, sparse, route_filter, explain, max_k, aggregation, many),
                    self.index.query_batch)
        if simulate_static or not self._table.dynamic:
            return out
        for i, choices in enumerate(out):
            text = None if query.texts is None else query.texts[0 if query.history else i]
            dynamic.fill(self, choices, text, query.messages, simulate_static)
        return out

    def _route_plan(self: RouteLayer, vectors: np.ndarray, sparse: list[SparseVector] | None,
                    route_filter: Sequence[str] | None, explain: bool, max_k: int, aggregation: str | None,
                    many: bool) -> Plan[list[list[RouteChoice]]]:
        table = self._table
        if route_filter is not None:
            route_filter = list(route_filter)
            for name in route_filter:
                if name not in table.code:
                    raise self._unknown(name)
        if not len(table):
            return [[] if many else [RouteChoice.built(None, None, {})] for _ in range(len(vectors))]
        agg, ok = yield from self._decide_plan(table, vectors, sparse, route_filter, aggregation, max_k or len(table))
        if many:
            return [self._choices(table, agg[i], ok[i], max_k, explain) for i in range(len(vectors))]
        if len(vectors) == 1:
            cand = np.flatnonzero(ok[0])
            b = int(cand[np.argmax(agg[0, cand])]) if len(cand) else -1
            return [[self._choice(table, b, float(agg[0, b]) if b >= 0 else math.nan, agg[0] if explain else None)]]
        best, score = scoring.best(agg, ok)  # one route per query: vectorised over the batch
        return [[self._choice(table, int(b), float(s), agg[i] if explain else None)]
                for i, (b, s) in enumerate(zip(best.tolist(), score.tolist()))]

    def _decide_plan(self: RouteLayer, table: RouteTable, vectors: np.ndarray, sparse: list[SparseVector] | None,
                     route_filter: list[str] | None, aggregation: str | None, want: int):
        """Aggregates and pass mask (B, R); rows short of `want` passing routes search deeper."""
        rule = self._binding.current(self)
        if not rule.uses_index and aggregation is None:
            agg = rule.scores(vectors).astype(np.float64)
            if route_filter is not None:
                keep = set(route_filter)
                agg[:, [c for n, c in table.code.items() if n not in keep]] = np.nan
            return agg, scoring.passing(agg, table.thresholds)
        k = self.top_k
        hits = yield (vectors, sparse, k, route_filter)
        agg, ok = self._aggregate(table, hits, aggregation)
        if (ok.any(axis=1) if want == 1 else ok.sum(axis=1) >= want).all():
            return agg, ok  # the common case: every query has its answer from the first search
        rows = np.arange(len(vectors))
        total: int | None = None
        while True:
            a, passed = agg[rows], ok[rows]
            short = passed.sum(axis=1) < want
            if not short.any():
                break
            total = self.index.count() if total is None else total  # only asked when deeper search may help
            if k >= total:
                break
            floor = np.nanmin(np.where(np.isfinite(hits.dense), self._fused(hits), np.nan), axis=1, initial=np.inf)
            hidden = np.isnan(a) & (table.thresholds[None, :] <= floor[:, None] * (k if aggregation == "sum" else 1))
            short &= hidden.any(axis=1)
            rows, k = rows[short], k * _WIDEN
            if not len(rows):
                break
            sub_sparse = None if sparse is None else [sparse[i] for i in rows]
            hits = yield (vectors[rows], sub_sparse, k, route_filter)
            agg[rows], ok[rows] = self._aggregate(table, hits, aggregation)
        return agg, ok

    def _fused(self: RouteLayer, hits: HitBatch) -> np.ndarray:
        return scoring.fuse(hits.dense, hits.sparse, self.alpha if self.sparse_encoder is not None else 1.0)

    def _aggregate(self: RouteLayer, table: RouteTable, hits: HitBatch, aggregation: str | None):
        codes = table.codes(hits.routes, hits.ids)
        methods = table.methods if aggregation is None else (None,) * len(table)
        agg = scoring.aggregate_routes(codes, self._fused(hits), methods, aggregation or self.aggregation, self.top_k)
        return agg, scoring.passing(agg, table.thresholds)

    def _choices(self: RouteLayer, table: RouteTable, agg: np.ndarray, ok: np.ndarray, max_k: int,
                 explain: bool) -> list[RouteChoice]:
        """Every passing route of one query, best first (route_many)."""
        return [self._choice(table, r, float(agg[r]), agg if explain else None)
                for r in scoring.ranked(agg, ok, max_k or None)]

    def _choice(self: RouteLayer, table: RouteTable, r: int, score: float, agg: np.ndarray | None) -> RouteChoice:
        """The choice of route code `r` (-1: no route); with `agg`, every scored route's aggregate too."""
        scores = None if agg is None else {table.names[j]: float(agg[j]) for j in np.flatnonzero(~np.isnan(agg))}
        if r < 0:
            return RouteChoice.built(None, None, {}, scores)
        route = table.routes[r]
        confidence = None if self._calibration is None else self._calibration(score)
        return RouteChoice.built(route.name, score, dict(route.metadata), scores, confidence)
