"""RouteLayer: composes encoder(s) and an index, and decides which route a query belongs to.

Routing: encode -> index search -> fuse dense/sparse -> aggregate per route -> thresholds.
Route changes all go through one commit path that encodes only new utterances and leaves
the router unchanged if anything fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


from semantic_router.router.aio import AsyncMixin
from semantic_router.dynamic.conversation import History
from semantic_router.encoders.base import DenseEncoder, SparseEncoder
from semantic_router.index.base import Index
from semantic_router.index.local import LocalIndex
from semantic_router.router.store import RouteStore
from semantic_router.router.persist import PersistMixin
from semantic_router.route import Aggregation, Route, check_aggregation, check_threshold, similarity_from
from semantic_router.router.routing import Query, RoutingMixin
from semantic_router.decision.rules import DEFAULT_RULE, Rule, RuleBinding, make_rule
from semantic_router.router.sync import SyncMixin
from semantic_router.decision.table import RouteTable

SYNC_MODES = (None, "local", "remote", "merge-force-local", "merge-force-remote", "merge")

__all__ = ["RouteLayer", "Query", "SYNC_MODES"]


class RouteLayer(RoutingMixin, AsyncMixin, PersistMixin, SyncMixin, RouteStore):
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
        llm: Any = None,
        history_weight: float = 0.5,
        history_turns: int = 3,
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
        self.llm = llm  # fills function arguments of dynamic routes (semantic_router.llms)
        self.history = History(history_weight, history_turns)
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
        from semantic_router.router.sync import check_state

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

    # -- decision rule, fitting, evaluation -----------------------------------------------------
    @property
    def rule(self) -> Rule:
        """The decision rule (see semantic_router.decision.rules); retrained when routes change."""
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

        See `semantic_router.quality.fit.fit` for the objectives and options."""
        from semantic_router.quality.fit import fit

        return fit(self, X, y, **kwargs)

    def evaluate(self, X: Sequence[str], y: Sequence[str | None], **kwargs: Any):
        """Route labelled queries (y: route names, None = no route expected) -> EvalReport."""
        from semantic_router.quality.evaluation import evaluate

        return evaluate(self, X, y, **kwargs)

    def restore_extra(self, extra: dict[str, Any]) -> None:
        """Take back state of later features saved in a config (fitted decision rules)."""
        from semantic_router.quality.fit import restore_extra

        restore_extra(self, extra)

    def __repr__(self) -> str:
        return (f"RouteLayer(routes={list(self._routes)}, encoder={self.encoder.name!r}, "
                f"index={self.index.type!r}, hybrid={self.sparse_encoder is not None})")
