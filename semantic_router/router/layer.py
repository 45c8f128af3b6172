"""CoreRouteLayer: the router behind the public `RouteLayer`, composed of a few collaborators with
narrow interfaces. `semantic_router.face.RouteLayer` adds fitting and evaluation (quality/) on top,
so the router never imports quality/.

- `RouteStore` (router/store.py) owns the current immutable `Snapshot` and the one commit path;
- `Router` (router/routing.py) decides queries over ONE snapshot, sync or async, no I/O but the
  encoder and the index search;
- `Sharing` (router/sharing.py) shares the route set through the index's state blob (router/sync.py);
- persistence is plain functions (router/persist.py), closing is router/lifecycle.py; the decision
  rule is a `Rule` in the snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy.typing as npt

from semantic_router.config import RouterConfig
from semantic_router.decision.rules import DEFAULT_RULE, Rule, make_rule
from semantic_router.dynamic.conversation import FunctionCaller, History, Message
from semantic_router.encoders.base import DenseEncoder, SparseEncoder, check_texts
from semantic_router.index.base import Index
from semantic_router.index.local import LocalIndex
from semantic_router.route import Aggregation, Route, RouteChoice, check_aggregation, check_threshold, similarity_from
from semantic_router.router import edits, lifecycle, persist
from semantic_router.router.routing import Ask, Query, Router, ask_for, batch_query, single_query
from semantic_router.router.sharing import Sharing
from semantic_router.router.snapshot import ID_SCHEME, Draft, Settings, Snapshot, check_seconds, check_top_k
from semantic_router.router.store import RouteStore, Utterance
from semantic_router.router.sync import MODES, RouteDiff, new_instance_id
from semantic_router.vectors import Bools, Floats, SparseVector


#: the class a classmethod is called on (`RouteLayer.load` returns a `RouteLayer`)
LayerT = TypeVar("LayerT", bound="CoreRouteLayer")

SYNC_MODES = (None, *MODES)
_UNSET: Any = object()

__all__ = ["SYNC_MODES", "CoreRouteLayer", "Query"]


class CoreRouteLayer:
    """A semantic router: `rl(text)` returns the best passing route, or `RouteChoice(name=None)`.

    Everything of the public `RouteLayer` but `fit` and `evaluate`, which live above (quality/)."""

    def __init__(
        self,
        encoder: DenseEncoder | None = None,
        routes: Sequence[Route] | Route | None = None,
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
        llm: FunctionCaller | None = None,
        history_weight: float = 0.5,
        history_turns: int = 3,
        trained_rule: dict[str, Any] | None = None,
    ) -> None:
        """`routes`: a list of Routes (one Route is taken as [route]). `trained_rule`: learned rule
        state from `save` (used when it fits these routes, else the rule is trained)."""
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
        items = edits.checked_routes(routes)
        self.refresh_interval = check_seconds(refresh_interval, "refresh_interval", allow_inf=True)
        self.lock_timeout = check_seconds(lock_timeout, "lock_timeout")
        self._encoder = encoder
        self.index = index if index is not None else LocalIndex()
        self.auto_sync = auto_sync
        self.llm = llm  # fills function arguments of dynamic routes (semantic_router.llms)
        self.history = History(history_weight, history_turns)
        self.instance_id = new_instance_id()
        # rule=None: the classifier head, unless hit aggregation or hybrid scoring is asked for (knn only)
        knn = sparse_encoder is not None or aggregation is not None or any(r.aggregation for r in items)
        settings = Settings(check_top_k(top_k), check_aggregation(aggregation or "max"),
                            check_threshold(0.7 if alpha is None else alpha, "alpha", 0.0, 1.0),
                            similarity_from(score_threshold, distance_threshold, "RouteLayer"), rule is None)
        chosen = make_rule(rule if rule is not None else "knn" if knn else DEFAULT_RULE)
        empty = Snapshot.empty(settings, chosen, encoder.score_threshold, sparse_encoder, ID_SCHEME)
        self.store = RouteStore(encoder, self.index, empty)
        self.router = Router(encoder, self.index, self.history)
        self.sharing = Sharing(self.store, self.index, encoder, self.lock_timeout, self.instance_id)
        if auto_sync is None:
            present = set(self.index.ids()) if self.index.count() else set()

            def initial(draft: Draft) -> None:
                draft.routes = {r.name: r.model_copy(deep=True) for r in items}
                draft.rule_state = trained_rule

            self.store.commit(initial, present=present)
        else:  # the store publishes every change from the first sync on
            self.sharing.sync(auto_sync, {r.name: r.model_copy(deep=True) for r in items}, trained_rule)
            self.sharing.start_refresh(self.refresh, self.refresh_interval)

    @property
    def encoder(self) -> DenseEncoder:
        """The dense encoder that queries and new utterances go through."""
        return self._encoder

    @encoder.setter
    def encoder(self, encoder: DenseEncoder) -> None:
        """Swap in another instance of the SAME model (name, dimensions) for queries and new utterances;
        another model is refused: the stored vectors would not compare with its queries."""
        if not isinstance(encoder, DenseEncoder):
            raise TypeError(f"encoder must be a DenseEncoder, got {type(encoder).__name__}")
        old = self._encoder
        if (encoder.name, encoder.dimensions) != (old.name, old.dimensions):
            raise ValueError(f"rl.encoder = {encoder.name!r} ({encoder.dimensions} dims): this router's vectors are "
                             f"of {old.name!r} ({old.dimensions} dims) and would not compare with its queries; build "
                             "a router with the new encoder (RouteLayer(encoder=..., routes=rl.routes)) or "
                             "RouteLayer.load(path, encoder=..., reencode=True)")
        self.store.use_encoder(encoder)
        self.router.encoder = self.sharing.encoder = self._encoder = encoder
        if encoder.score_threshold != old.score_threshold:  # routes without a threshold take the encoder's
            self.store.commit(lambda draft: None)

    # -- the current snapshot and settings ---------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        """The immutable snapshot queries are answered from right now."""
        return self.store.snapshot

    @property
    def version(self) -> int:
        """Increments with every committed change (for synced routers: the shared state's version)."""
        snap = self.store.snapshot
        return snap.remote_version if self.auto_sync is not None else snap.version

    @property
    def extra(self) -> dict[str, Any]:
        """Fitted extras (rule spec, fit summary, calibration, your own keys); item changes commit."""
        return edits.ExtraView(dict(self.store.snapshot.extra), self.store.commit)

    @property
    def sparse_encoder(self) -> SparseEncoder | None:
        """The sparse encoder fitted on the current utterances (hybrid routing), or None."""
        return self.store.snapshot.sparse_encoder

    def _setting(self, **values: Any) -> None:
        self.store.commit(edits.settings(**values))

    @property
    def top_k(self) -> int:
        return self.store.snapshot.settings.top_k

    @top_k.setter
    def top_k(self, value: int) -> None:
        self._setting(top_k=check_top_k(value))

    @property
    def aggregation(self) -> Aggregation:
        return self.store.snapshot.settings.aggregation

    @aggregation.setter
    def aggregation(self, value: str) -> None:
        self.store.commit(edits.set_aggregation(check_aggregation(value)))

    @property
    def alpha(self) -> float:
        return self.store.snapshot.settings.alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self._setting(alpha=check_threshold(value, "alpha", 0.0, 1.0))

    @property
    def score_threshold(self) -> float | None:
        """The layer's default similarity threshold (None: the encoder's default applies)."""
        return self.store.snapshot.settings.score_threshold

    @score_threshold.setter
    def score_threshold(self, value: float | None) -> None:
        self._setting(score_threshold=None if value is None else check_threshold(value, "score_threshold"))

    @property
    def rule(self) -> Rule:
        """The decision rule, trained on the current routes (see semantic_router.decision.rules)."""
        return self.store.snapshot.rule

    @rule.setter
    def rule(self, rule: str | dict[str, Any] | Rule) -> None:
        self.store.commit(edits.set_rule(make_rule(rule)))

    @property
    def rule_name(self) -> str:
        return self.rule.name

    def rule_settings(self) -> dict[str, Any]:
        knn = {"top_k": self.top_k, "aggregation": self.aggregation} if self.rule.uses_index else {}
        return {**knn, **self.rule.params()}

    def train_rule(self) -> Rule:
        """The decision rule, fully trained on the current routes: every change trains it, and a rule
        staged for speed (`rule.pending`) is finished in the background; this waits for that."""
        return self.store.final_rule()

    def rule_state(self) -> dict[str, Any] | None:
        """Learned state of the fully trained rule, for `save` (None for rules without one)."""
        snap = self.store.snapshot
        while snap.rule.pending:
            self.store.final_rule()
            snap = self.store.snapshot
        if snap.rule.uses_index:
            return None
        return {"signature": snap.signature(), **snap.rule.to_state()}

    # -- routing --------------------------------------------------------------------------------------
    def _one(self, text: object, vector: object, messages: object, route_filter: Sequence[str] | None, explain: bool,
             simulate_static: bool, many: bool = False, max_k: int | None = None,
             aggregation: str | None = None) -> tuple[Snapshot, Query, Ask]:
        """The snapshot (read once), the validated query and what is asked, for one query."""
        snap = self.store.snapshot
        query = single_query(text, vector, messages, self._encoder.dimensions, self.history)
        return snap, query, ask_for(route_filter, explain, simulate_static, many, max_k, aggregation)

    def _batch(self, texts: object, vectors: object, route_filter: Sequence[str] | None, explain: bool,
               simulate_static: bool, conversations: object = None) -> tuple[Snapshot, Query, Ask]:
        snap = self.store.snapshot
        query = batch_query(texts, vectors, self._encoder.dimensions, conversations, self.history)
        return snap, query, ask_for(route_filter, explain, simulate_static)

    def __call__(self, text: str | None = None, *, vector: npt.ArrayLike | None = None,
                 messages: Sequence[Message] | None = None,
                 route_filter: Sequence[str] | None = None, explain: bool = False,
                 simulate_static: bool = False) -> RouteChoice:
        """Route one query (text, chat `messages`, or a precomputed embedding) to its best passing route."""
        prepared = self._one(text, vector, messages, route_filter, explain, simulate_static)
        return self.router.route(*prepared, self.llm)[0][0]

    route = __call__

    def route_many(self, text: str | None = None, *, vector: npt.ArrayLike | None = None,
                   messages: Sequence[Message] | None = None,
                   max_k: int | None = None, aggregation: Aggregation | None = None,
                   route_filter: Sequence[str] | None = None, explain: bool = False,
                   simulate_static: bool = False) -> list[RouteChoice]:
        """Every route the query asks about, the rule's answer first (at most `max_k`; docs/rules.md)."""
        prepared = self._one(text, vector, messages, route_filter, explain, simulate_static, True, max_k, aggregation)
        return self.router.route(*prepared, self.llm)[0]

    def route_batch(self, texts: Sequence[str] | None = None, *, vectors: npt.ArrayLike | None = None,
                    conversations: Sequence[Sequence[Message]] | None = None,
                    route_filter: Sequence[str] | None = None, explain: bool = False,
                    simulate_static: bool = False) -> list[RouteChoice]:
        """Route many queries with one batched encode and one batched search. `conversations` (chat message
        lists) are routed as `messages=` routes one (history blended), every distinct text encoded once."""
        prepared = self._batch(texts, vectors, route_filter, explain, simulate_static, conversations)
        return [c[0] for c in self.router.route(*prepared, self.llm)]

    async def acall(self, text: str | None = None, *, vector: npt.ArrayLike | None = None,
                    messages: Sequence[Message] | None = None,
                    route_filter: Sequence[str] | None = None, explain: bool = False,
                    simulate_static: bool = False) -> RouteChoice:
        """Async `rl(...)`: encoding and search never block the event loop."""
        prepared = self._one(text, vector, messages, route_filter, explain, simulate_static)
        return (await self.router.aroute(*prepared, self.llm))[0][0]

    async def aroute_many(self, text: str | None = None, *, vector: npt.ArrayLike | None = None,
                          messages: Sequence[Message] | None = None,
                          max_k: int | None = None, aggregation: str | None = None,
                          route_filter: Sequence[str] | None = None, explain: bool = False,
                          simulate_static: bool = False) -> list[RouteChoice]:
        """Async `route_many`."""
        prepared = self._one(text, vector, messages, route_filter, explain, simulate_static, True, max_k, aggregation)
        return (await self.router.aroute(*prepared, self.llm))[0]

    async def aroute_batch(self, texts: Sequence[str] | None = None, *, vectors: npt.ArrayLike | None = None,
                           conversations: Sequence[Sequence[Message]] | None = None,
                           route_filter: Sequence[str] | None = None, explain: bool = False,
                           simulate_static: bool = False) -> list[RouteChoice]:
        """Async `route_batch`: one batched encode, one batched search."""
        prepared = self._batch(texts, vectors, route_filter, explain, simulate_static, conversations)
        return [c[0] for c in await self.router.aroute(*prepared, self.llm)]

    def encode_queries(self, texts: list[str]) -> tuple[Floats, list[SparseVector] | None]:
        """Dense (cached) and, in hybrid mode, sparse query vectors."""
        return self.router.vectors(self.store.snapshot, Query(texts=check_texts(texts, "texts")))

    def score_batch(self, vectors: npt.ArrayLike,
                    sparse: list[SparseVector] | None = None) -> tuple[list[str], Floats, Bools]:
        """Route names, (B, R) scores and pass mask for query vectors (evaluation, fitting)."""
        snap = self.store.snapshot
        unit = batch_query(None, vectors, self.encoder.dimensions).vectors
        assert unit is not None  # batch_query(None, vectors) always sets them
        if not len(snap.table):
            return [], unit[:, :0].astype(float), unit[:, :0].astype(bool)
        agg, ok = self.router.scores(snap, unit, sparse)
        return list(snap.table.names), agg, ok

    # -- reading routes -------------------------------------------------------------------------------
    @property
    def routes(self) -> list[Route]:
        """Copies of the routes (change them through add/update/delete)."""
        return [r.model_copy(deep=True) for r in self.store.snapshot.routes.values()]

    def list_route_names(self) -> list[str]:
        return list(self.store.snapshot.routes)

    def get(self, name: str) -> Route:
        """A copy of the named route; RouteNotFoundError if there is none."""
        return edits.existing(dict(self.store.snapshot.routes), name).model_copy(deep=True)

    def get_utterances(self, route_name: str | None = None, ids: Sequence[str] | None = None) -> list[Utterance]:
        return self.store.utterances(route_name, ids)

    # -- changing routes: every change is one commit ------------------------------------------------
    def add(self, routes: Route | Sequence[Route]) -> None:
        """Add one route or several; encodes their utterances. Existing names are refused."""
        self.store.commit(edits.add(edits.checked_routes(routes)))

    def delete(self, name: str) -> None:
        """Remove a route and its utterances."""
        self.store.commit(edits.delete(name))

    def update(self, name: str, *, utterances: Sequence[str] = _UNSET, score_threshold: float | None = _UNSET,
               distance_threshold: float | None = _UNSET, metadata: dict[str, Any] = _UNSET,
               description: str | None = _UNSET, function_schemas: list[dict[str, Any]] | None = _UNSET,
               aggregation: str | None = _UNSET) -> Route:
        """Change fields of a route; new utterances are encoded, removed ones deleted."""
        if distance_threshold is not _UNSET and score_threshold is not _UNSET:
            raise ValueError("give score_threshold or distance_threshold, not both")
        given = {k: v for k, v in {"utterances": utterances, "score_threshold": score_threshold,
                                   "distance_threshold": distance_threshold, "metadata": metadata,
                                   "description": description, "function_schemas": function_schemas,
                                   "aggregation": aggregation}.items() if v is not _UNSET}
        return self.store.commit(edits.update(name, given)).model_copy(deep=True)

    def add_utterances(self, name: str, utterances: Sequence[str]) -> list[str]:
        """Add utterances to a route; returns their stable ids (present ones are not re-added)."""
        items = check_texts(utterances, "utterances")
        if not items:
            raise ValueError(f"add_utterances({name!r}, ...) got no utterances to add")
        self.store.commit(edits.add_utterances(name, items))
        ids = self.store.snapshot.ids[name]
        return [ids[u] for u in items]

    def delete_utterances(self, route_name: str | None = None, ids: Sequence[str] | None = None) -> int:
        """Delete utterances by route and/or id; a route left without utterances is removed."""
        if route_name is None and ids is None:
            raise ValueError("give route_name and/or ids (use clear() to remove everything)")

        def doomed(routes: Mapping[str, Route]) -> set[tuple[str, str]]:
            return {(u.route, u.utterance) for u in self.store.utterances(route_name, ids)}

        return self.store.commit(edits.delete_utterances(doomed))

    def clear(self) -> None:
        """Remove every route and utterance."""
        self.store.commit(edits.clear())

    async def aadd(self, routes: Route | Sequence[Route]) -> None:
        await asyncio.to_thread(self.add, routes)

    async def adelete(self, name: str) -> None:
        await asyncio.to_thread(self.delete, name)

    async def async_sync(self, mode: str | None = None) -> None:
        await asyncio.to_thread(self.sync, mode)

    async def arefresh(self) -> bool:
        return await asyncio.to_thread(self.refresh)

    # -- sharing through the index ----------------------------------------------------------------
    @classmethod
    def from_index(cls: type[LayerT], index: Index, encoder: DenseEncoder | None = None, **kwargs: Any) -> LayerT:
        """A router built from the state stored in a shared index, without encoding anything."""
        return persist.from_index(cls, index, encoder, **kwargs)

    def sync(self, mode: str | None = None) -> None:
        """Reconcile with the index's state now (`mode` defaults to the layer's auto_sync)."""
        self.sharing.sync(mode or self.auto_sync or "merge", dict(self.store.snapshot.routes), None)

    def is_synced(self) -> bool:
        """True when the index's state holds exactly this router's routes and settings."""
        return self.sharing.is_synced()

    def diff(self) -> list[RouteDiff]:
        """What differs between this router and the index's state, route by route."""
        return self.sharing.diff()

    def refresh(self) -> bool:
        """Adopt the index's state if another instance changed it; True if anything changed."""
        return self.store.refresh()

    # -- persistence ----------------------------------------------------------------------------------
    def restore_extra(self, extra: dict[str, Any], trained_rule: dict[str, Any] | None = None) -> None:
        """Take back state of later features saved in a config (fitted decision rules, calibration);
        `trained_rule`: the saved rule's learned state, used instead of retraining when it fits."""
        self.store.commit(edits.restore_extra(extra, trained_rule))

    def to_config(self) -> RouterConfig:
        return persist.to_config(self)

    def to_dict(self) -> dict[str, Any]:
        return persist.to_dict(self)

    @classmethod
    def from_dict(cls: type[LayerT], data: dict[str, Any], warm: bool = False, **overrides: Any) -> LayerT:
        return persist.from_dict(cls, data, warm=warm, **overrides)

    @classmethod
    def from_config(cls: type[LayerT], config: RouterConfig | dict[str, Any], warm: bool = False, **overrides: Any) -> LayerT:
        """Build from a RouterConfig or its dict; `warm=True` loads the encoder before returning."""
        return persist.from_dict(cls, config, warm=warm, **overrides)

    def to_json(self, path: str | Path) -> None:
        persist.to_json(self, path)

    def to_yaml(self, path: str | Path) -> None:
        persist.to_yaml(self, path)

    def to_file(self, path: str | Path) -> None:
        """Write by the file's suffix: .json / .yaml / .yml config, .pkl / .pickle saved router."""
        persist.to_file(self, path)

    @classmethod
    def from_file(cls: type[LayerT], path: str | Path, warm: bool = False, **overrides: Any) -> LayerT:
        """Read by the file's suffix: a JSON/YAML config (encodes the utterances) or a saved router."""
        return persist.from_file(cls, path, warm=warm, **overrides)

    @classmethod
    def from_json(cls: type[LayerT], path: str | Path, warm: bool = False, **overrides: Any) -> LayerT:
        return persist.from_json(cls, path, warm=warm, **overrides)

    @classmethod
    def from_yaml(cls: type[LayerT], path: str | Path, warm: bool = False, **overrides: Any) -> LayerT:
        return persist.from_yaml(cls, path, warm=warm, **overrides)

    def save(self, path: str | Path) -> None:
        """Write the config, every vector and the trained rule (checked, atomic) so `load` encodes nothing."""
        persist.save(self, path)

    @classmethod
    def load(cls: type[LayerT], path: str | Path, warm: bool = False, reencode: bool = False,
             **overrides: Any) -> LayerT:
        """Rebuild a saved router without encoding anything; refuses foreign or corrupted files, and an
        `encoder=` of another model than the saved vectors' unless `reencode=True` (the utterances
        are then encoded with it)."""
        return persist.load(cls, path, warm=warm, reencode=reencode, **overrides)

    # -- lifecycle ----------------------------------------------------------------------------------
    def warmup(self) -> None:
        """Load and run the encoder once, so a server's first query does not pay for it."""
        self.encoder.encode(["warm up"], "query")

    def close(self) -> None:
        """Stop the background work and close the index, encoders and LLM (their clients)."""
        lifecycle.close(self._stop_background, self._parts())

    async def aclose(self) -> None:
        """`close`, awaiting the async clients' own `aclose` first where they have one."""
        await lifecycle.aclose(self._stop_background, self._parts())

    def _stop_background(self) -> None:
        self.store.close()
        self.sharing.stop()

    def _parts(self) -> tuple[Any, ...]:
        return self.index, self.encoder, self.store.snapshot.sparse_encoder, self.llm

    def __enter__(self: LayerT) -> LayerT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self: LayerT) -> LayerT:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (f"RouteLayer(routes={self.list_route_names()}, encoder={self.encoder.name!r}, "
                f"index={self.index.type!r}, hybrid={self.sparse_encoder is not None})")
