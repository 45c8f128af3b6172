"""RouteLayer: composes encoder(s) and an index, and decides which route a query belongs to.

Routing: encode -> index search -> fuse dense/sparse -> aggregate per route -> thresholds.
Route changes all go through one commit path that encodes only new utterances and leaves
the router unchanged if anything fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semantic_router import scoring
from semantic_router.encoders.base import DenseEncoder, SparseEncoder, SparseVector, check_texts
from semantic_router.index.base import HitBatch, Index
from semantic_router.index.local import LocalIndex
from semantic_router.mutations import RouteStore
from semantic_router.route import Aggregation, Route, RouteChoice, check_aggregation, check_threshold, similarity_from
from semantic_router.rules import DEFAULT_RULE, Rule, RuleBinding, make_rule
from semantic_router.sync import SyncMixin
from semantic_router.table import RouteTable

SYNC_MODES = (None, "local", "remote", "merge-force-local", "merge-force-remote", "merge")
_WIDEN = 4  # search depth multiplier when a near route that fails may hide a farther one that passes


class RouteLayer(SyncMixin, RouteStore):
    """A semantic router: `rl(text)` returns the best passing route, or `RouteChoice(name=None)`."""

    def __init__(
        self,
        encoder: DenseEncoder | None = None,
        routes: Sequence[Route] | None = None,
        index: Index | None = None,
        sparse_encoder: SparseEncoder | None = None,
        alpha: float | None = None,
        top_k: int = 5,
        aggregation: Aggregation | None = None,
        score_threshold: float | None = None,
        auto_sync: str | None = None,
        distance_threshold: float | None = None,
        rule: str | dict[str, Any] | Rule | None = None,
        refresh_interval: float = 5.0,
        lock_timeout: float = 30.0,
    ) -> None:
        if encoder is None:
            from semantic_router.encoders.huggingface import HuggingFaceEncoder

            encoder = HuggingFaceEncoder()
        if not isinstance(encoder, DenseEncoder):
            raise TypeError(f"encoder must be a DenseEncoder, got {type(encoder).__name__}")
        if sparse_encoder is not None and not isinstance(sparse_encoder, SparseEncoder):
            raise TypeError(f"sparse_encoder must be a SparseEncoder, got {type(sparse_encoder).__name__}")
        if index is not None and not isinstance(index, Index):
            raise TypeError(f"index must be an Index, got {type(index).__name__}")
        if auto_sync not in SYNC_MODES:
            raise ValueError(f"auto_sync must be one of {SYNC_MODES}, got {auto_sync!r}")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        self.encoder = encoder
        self.sparse_encoder = sparse_encoder
        self.index = index if index is not None else LocalIndex()
        self.alpha = check_threshold(0.7 if alpha is None else alpha, "alpha", 0.0, 1.0)
        self.top_k = top_k
        self.aggregation: str = check_aggregation(aggregation or "max")
        self._score_threshold = similarity_from(score_threshold, distance_threshold, "RouteLayer")
        self.auto_sync = auto_sync
        self.extra: dict[str, Any] = {}
        # rule=None: the classifier head, unless hit aggregation or hybrid scoring is asked for (knn only)
        knn = sparse_encoder is not None or aggregation is not None or any(r.aggregation for r in routes or [])
        self._rule_auto = rule is None
        self._binding = RuleBinding(make_rule(rule if rule is not None else "knn" if knn else DEFAULT_RULE))
        self._calibration: Any = None
        self.extra["rule"] = self._binding.rule.spec()
        self._sync_setup(refresh_interval, lock_timeout)
        super().__init__()
        if auto_sync is None:
            self._init_routes(list(routes or []))
        else:
            self._routes = {r.name: r.model_copy(deep=True) for r in self._checked_routes(list(routes or []))}
            self.sync(auto_sync)

    @classmethod
    def from_index(cls, index: Index, encoder: DenseEncoder | None = None, **kwargs: Any) -> RouteLayer:
        """A router built from the state stored in a shared index, without encoding anything."""
        from semantic_router.config import ENCODERS, build
        from semantic_router.errors import SyncError
        from semantic_router.sync import check_state

        state = index.read_state()
        if state is None:
            raise SyncError(f"index {index.describe()} holds no router state to build from")
        state = check_state(state)
        if encoder is None:
            spec = {k: v for k, v in state["encoder"].items() if k != "dimensions"}
            encoder = build(spec, ENCODERS, "encoder")
        if "sparse_encoder" not in kwargs and state.get("sparse_encoder"):
            kwargs["sparse_encoder"] = build(state["sparse_encoder"], ENCODERS, "sparse encoder")
        return cls(encoder=encoder, index=index, auto_sync="remote", **kwargs)

    # -- thresholds ---------------------------------------------------------------------------
    @property
    def score_threshold(self) -> float | None:
        """The layer's default similarity threshold (None: the encoder's default applies)."""
        return self._score_threshold

    @score_threshold.setter
    def score_threshold(self, value: float | None) -> None:
        value = None if value is None else check_threshold(value, "score_threshold")

        def change(current: dict[str, Route]) -> None:
            self._score_threshold = value

        self._mutate(change)

    def _rebuild_table(self) -> None:
        known = None
        if self.auto_sync is not None and self.index.is_remote:
            known = frozenset(i for m in self._ids.values() for i in m.values())
        self._table = RouteTable.build(list(self._routes.values()), self._score_threshold,
                                       self.encoder.score_threshold, known)

    # -- routing ------------------------------------------------------------------------------
    def __call__(
        self,
        text: str | None = None,
        *,
        vector: Any = None,
        route_filter: Sequence[str] | None = None,
        explain: bool = False,
    ) -> RouteChoice:
        """Route one query (text or a precomputed embedding) to its best passing route."""
        texts, vectors = self._one(text, vector)
        return self._route(texts, vectors, route_filter, explain, max_k=1, aggregation=None)[0][0]

    route = __call__

    def route_many(
        self,
        text: str | None = None,
        *,
        vector: Any = None,
        max_k: int | None = None,
        aggregation: Aggregation | None = None,
        route_filter: Sequence[str] | None = None,
        explain: bool = False,
    ) -> list[RouteChoice]:
        """Every route that passes its own threshold, best first (at most `max_k`)."""
        if max_k is not None and (isinstance(max_k, bool) or not isinstance(max_k, int) or max_k < 1):
            raise ValueError(f"max_k must be a positive integer or None, got {max_k!r}")
        texts, vectors = self._one(text, vector)
        agg = None if aggregation is None else check_aggregation(aggregation)
        return self._route(texts, vectors, route_filter, explain, max_k=max_k or 0, aggregation=agg, many=True)[0]

    def route_batch(
        self,
        texts: Sequence[str] | None = None,
        *,
        vectors: Any = None,
        route_filter: Sequence[str] | None = None,
        explain: bool = False,
    ) -> list[RouteChoice]:
        """Route many queries with one batched encode and one batched search."""
        if (texts is None) == (vectors is None):
            raise ValueError("route_batch needs texts or vectors (exactly one of them)")
        items = None if texts is None else check_texts(texts, "texts")
        mat = None if vectors is None else self._check_vectors(vectors, batch=True)
        return [c[0] for c in self._route(items, mat, route_filter, explain, max_k=1, aggregation=None)]

    def encode_queries(self, texts: list[str]) -> tuple[np.ndarray, list[SparseVector] | None]:
        """Dense (cached) and, in hybrid mode, sparse query vectors."""
        dense = self.encoder.encode_queries(texts)
        sparse = self.sparse_encoder.encode_queries(texts) if self.sparse_encoder is not None else None
        return dense, sparse

    def _one(self, text: Any, vector: Any) -> tuple[list[str] | None, np.ndarray | None]:
        if text is None and vector is None:
            raise ValueError("give a text or a vector to route")
        if text is not None and vector is not None:
            raise ValueError("give a text or a vector, not both")
        if vector is not None:
            return None, self._check_vectors(vector, batch=False)
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}: {text!r:.80}")
        if not text.strip():
            raise ValueError(f"text is empty or blank: {text!r}")
        return [text], None

    def _check_vectors(self, vector: Any, batch: bool) -> np.ndarray:
        try:
            arr = np.asarray(vector, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"vector must be numeric, got {type(vector).__name__}") from exc
        if arr.ndim == 1 and not batch:
            arr = arr[None, :]
        dims = self.encoder.dimensions
        if arr.ndim != 2 or arr.shape[1] != dims:
            raise ValueError(f"vector shape {np.shape(vector)} does not match the encoder's dimension {dims}")
        norms = np.sqrt(np.einsum("ij,ij->i", arr, arr))
        if not (np.isfinite(norms).all() and norms.all()):
            if not np.isfinite(arr).all():
                raise ValueError("vector holds NaN or infinite values")
            raise ValueError("vector is all zeros (no direction to compare)")
        return arr / norms[:, None]

    def _route(
        self,
        texts: list[str] | None,
        vectors: np.ndarray | None,
        route_filter: Sequence[str] | None,
        explain: bool,
        max_k: int,
        aggregation: str | None,
        many: bool = False,
    ) -> list[list[RouteChoice]]:
        self._maybe_refresh()
        table = self._table
        if route_filter is not None:
            route_filter = list(route_filter)
            for name in route_filter:
                if name not in table.code:
                    raise self._unknown(name)
        sparse = None
        if vectors is None:
            vectors, sparse = self.encode_queries(texts or [])
        n = len(vectors)
        if not len(table):
            return [[] if many else [RouteChoice()] for _ in range(n)]
        agg, ok = self._decide(table, vectors, sparse, route_filter, aggregation, max_k or len(table))
        return [self._choices(table, agg[i], ok[i], max_k, explain, many) for i in range(n)]

    def _decide(self, table, vectors, sparse, route_filter, aggregation, want):
        """Aggregates and pass mask (B, R); rows short of `want` passing routes search deeper."""
        rule = self._binding.current(self)
        if not rule.uses_index and aggregation is None:
            agg = rule.scores(vectors).astype(np.float64)
            if route_filter is not None:
                keep = set(route_filter)
                agg[:, [c for n, c in table.code.items() if n not in keep]] = np.nan
            return agg, scoring.passing(agg, table.thresholds)
        k = self.top_k
        rows = np.arange(len(vectors))
        agg = np.full((len(vectors), len(table)), np.nan)
        ok = np.zeros(agg.shape, dtype=bool)
        total = self.index.count()
        while len(rows):
            sub_sparse = None if sparse is None else [sparse[i] for i in rows]
            hits = self.index.query_batch(vectors[rows], sub_sparse, k, route_filter)
            a, passed = self._aggregate(table, hits, aggregation)
            agg[rows], ok[rows] = a, passed
            short = passed.sum(axis=1) < want
            if k >= total or not short.any():
                break
            floor = np.nanmin(np.where(np.isfinite(hits.dense), self._fused(hits), np.nan), axis=1, initial=np.inf)
            hidden = np.isnan(a) & (table.thresholds[None, :] <= floor[:, None] * (k if aggregation == "sum" else 1))
            short &= hidden.any(axis=1)
            rows, k = rows[short], k * _WIDEN
        return agg, ok

    def score_batch(self, vectors: np.ndarray, sparse: list[SparseVector] | None = None):
        """Route names, (B, R) aggregates and pass mask for unit query vectors (evaluation, fitting)."""
        self._maybe_refresh()
        table = self._table
        vectors = self._check_vectors(vectors, batch=True)
        if not len(table):
            return [], np.zeros((len(vectors), 0)), np.zeros((len(vectors), 0), dtype=bool)
        agg, ok = self._decide(table, vectors, sparse, None, None, 1)  # as route(): search deeper only for the best
        return list(table.names), agg, ok

    # -- decision rule, fitting, evaluation -----------------------------------------------------
    @property
    def rule(self) -> Rule:
        """The decision rule (see semantic_router.rules); retrained when routes change."""
        return self._binding.rule

    @rule.setter
    def rule(self, rule: str | dict[str, Any] | Rule) -> None:
        new = make_rule(rule)

        def change(current: dict[str, Route]) -> None:  # a settings change: synced like any other
            self._binding.replace(new)
            self._rule_auto = False
            self.extra["rule"] = new.spec()

        self._mutate(change)

    @property
    def rule_name(self) -> str:
        return self._binding.rule.name

    def rule_settings(self) -> dict[str, Any]:
        knn = {"top_k": self.top_k, "aggregation": self.aggregation} if self.rule.uses_index else {}
        return {**knn, **self.rule.params()}

    def train_rule(self) -> Rule:
        """Train the decision rule on the current routes now (otherwise it happens on the next query)."""
        return self._binding.current(self)

    def fit(self, X: Sequence[str], y: Sequence[str | None], **kwargs: Any):
        """Fit thresholds (and the rule's own parameters) on labelled queries -> FitReport.

        See `semantic_router.fit.fit` for the objectives and options."""
        from semantic_router.fit import fit

        return fit(self, X, y, **kwargs)

    def evaluate(self, X: Sequence[str], y: Sequence[str | None], **kwargs: Any):
        """Route labelled queries (y: route names, None = no route expected) -> EvalReport."""
        from semantic_router.evaluation import evaluate

        return evaluate(self, X, y, **kwargs)

    def _fused(self, hits: HitBatch) -> np.ndarray:
        return scoring.fuse(hits.dense, hits.sparse, self.alpha if self.sparse_encoder is not None else 1.0)

    def _aggregate(self, table: RouteTable, hits: HitBatch, aggregation: str | None):
        codes = table.codes(hits.routes, hits.ids)
        methods = table.methods if aggregation is None else (None,) * len(table)
        agg = scoring.aggregate_routes(codes, self._fused(hits), methods, aggregation or self.aggregation, self.top_k)
        return agg, scoring.passing(agg, table.thresholds)

    def _choices(self, table: RouteTable, agg: np.ndarray, ok: np.ndarray, max_k: int, explain: bool, many: bool):
        scores = None
        if explain:
            scores = {table.names[r]: float(agg[r]) for r in np.flatnonzero(~np.isnan(agg))}
        picked = scoring.ranked(agg, ok, max_k or None)
        if not picked:
            return [RouteChoice.model_construct(name=None, similarity_score=None, metadata={}, function_call=None,
                                                scores=scores, confidence=None)] if not many else []
        return [self._choice(table.routes[r], float(agg[r]), scores) for r in picked]

    def _choice(self, route: Route, score: float, scores: dict[str, float] | None) -> RouteChoice:
        return RouteChoice.model_construct(name=route.name, similarity_score=score, metadata=dict(route.metadata),
                                           function_call=None, scores=scores,
                                           confidence=None if self._calibration is None else self._calibration(score))

    def restore_extra(self, extra: dict[str, Any]) -> None:
        """Take back state of later features saved in a config (fitted decision rules)."""
        from semantic_router.fit import restore_extra

        restore_extra(self, extra)

    # -- persistence --------------------------------------------------------------------------
    def to_config(self):
        from semantic_router.persist import to_config

        return to_config(self)

    def to_dict(self) -> dict[str, Any]:
        return self.to_config().model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> RouteLayer:
        from semantic_router.persist import from_config, parse

        return from_config(cls, parse(data), **overrides)

    def to_json(self, path: str | Path) -> None:
        from semantic_router.config import write_text_config

        write_text_config(self.to_config(), path, "json")

    def to_yaml(self, path: str | Path) -> None:
        from semantic_router.config import write_text_config

        write_text_config(self.to_config(), path, "yaml")

    def to_file(self, path: str | Path) -> None:
        """Write JSON or YAML by the file's extension."""
        (self.to_json if str(path).lower().endswith(".json") else self.to_yaml)(path)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> RouteLayer:
        """Read a JSON or YAML config and build the router (encodes the utterances)."""
        from semantic_router.config import read_text_config
        from semantic_router.persist import from_config

        return from_config(cls, read_text_config(path), **overrides)

    from_json = from_file
    from_yaml = from_file

    def save(self, path: str | Path) -> None:
        """Pickle the config and every vector so `load` encodes nothing. Load only trusted files."""
        from semantic_router.persist import save

        save(self, path)

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> RouteLayer:
        from semantic_router.persist import load

        return load(cls, path, **overrides)

    def __repr__(self) -> str:
        return (f"RouteLayer(routes={list(self._routes)}, encoder={self.encoder.name!r}, "
                f"index={self.index.type!r}, hybrid={self.sparse_encoder is not None})")
