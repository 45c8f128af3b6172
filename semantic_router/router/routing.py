"""Routing: validated inputs -> query vectors -> index searches -> decisions, over ONE snapshot.

`decide` is a pure generator over a Snapshot: it yields the `Search`es it needs (none for vector
rules) and returns the choices, so the sync path (`Router.route`) and the async one
(`Router.aroute`, on the index's native async client) share every line of the decision logic.
Nothing here trains, writes, or reads anything but the snapshot it was handed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semantic_router.checks import check_int
from semantic_router.decision import scoring
from semantic_router.decision.table import RouteTable
from semantic_router.dynamic import conversation as dynamic
from semantic_router.encoders.base import check_texts
from semantic_router.errors import RemoteStateLost, RouteNotFoundError
from semantic_router.index.base import HitBatch, Index
from semantic_router.plans import adrive, drive
from semantic_router.route import RouteChoice, check_aggregation, check_unicode
from semantic_router.router._multilabel import explain_away
from semantic_router.router.snapshot import Snapshot
from semantic_router.vectors import SparseVector

_WIDEN = 4  # search depth multiplier when a near route that fails may hide a farther one that passes


@dataclass(slots=True)
class Query:
    """Validated input of one routing call: texts to encode, or ready unit vectors."""

    texts: list[str] | None = None  # with history: last user turn first, then earlier turns
    vectors: np.ndarray | None = None
    history: bool = False
    messages: Any = None  # context for a dynamic route's LLM; with `groups`, one per conversation
    groups: list[list[int]] | None = None  # a batch of conversations: each one's rows of `texts`, to blend


@dataclass(frozen=True, slots=True)
class Ask:
    """What a routing call wants back."""

    route_filter: tuple[str, ...] | None = None
    explain: bool = False
    max_k: int = 1
    aggregation: str | None = None
    many: bool = False
    simulate_static: bool = False


_PLAIN = Ask()  # what most calls ask: shared, since an Ask is immutable


@dataclass(frozen=True, slots=True)
class Search:
    """One index search a decision needs."""

    vectors: np.ndarray
    sparse: list[SparseVector] | None
    top_k: int
    routes: list[str] | None


Decision = Generator[Search, HitBatch, Any]


# -- inputs ------------------------------------------------------------------------------------------
def single_query(text: Any, vector: Any, messages: Any, dims: int, history: dynamic.History) -> Query:
    given = (text is not None) + (vector is not None) + (messages is not None)
    if given != 1:
        raise ValueError("give exactly one of: a text, a vector, or messages" if given else
                         "give a text, a vector or messages to route")
    if vector is not None:
        return Query(vectors=check_vectors(vector, dims, batch=False))
    if messages is not None:
        return Query(texts=dynamic.history_texts(messages, history), history=True,
                     messages=dynamic.prior_messages(messages))
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}: {text!r:.80}")
    if not text.strip():
        raise ValueError(f"text is empty or blank: {text!r}")
    return Query(texts=[check_unicode(text, "text")])


def batch_query(texts: Any, vectors: Any, dims: int, conversations: Any = None,
                history: dynamic.History | None = None) -> Query:
    if (texts is not None) + (vectors is not None) + (conversations is not None) != 1:
        raise ValueError("route_batch needs texts, vectors or conversations (exactly one of them)")
    if conversations is not None:
        return conversation_query(conversations, history or dynamic.History())
    if texts is not None:
        if isinstance(texts, (list, tuple)) and not texts:
            return Query(texts=[])
        items = check_texts(texts, "texts")
        for i, t in enumerate(items):
            check_unicode(t, f"texts[{i}]")
        return Query(texts=items)
    if isinstance(vectors, (list, tuple)) and not vectors:
        return Query(vectors=np.zeros((0, dims), np.float32))
    return Query(vectors=check_vectors(vectors, dims, batch=True))


def conversation_query(conversations: Any, history: dynamic.History) -> Query:
    """A batch of chat histories (OpenAI-style message lists): every distinct text once, and each conversation's
    rows (last user turn first) to blend into its query vector as `messages=` does for one."""
    if isinstance(conversations, (str, bytes)) or not isinstance(conversations, Sequence):
        raise TypeError(f"conversations must be a list of message lists, got {type(conversations).__name__}")
    rows: dict[str, int] = {}
    groups, priors = [], []
    for i, messages in enumerate(conversations):
        try:
            texts = dynamic.history_texts(messages, history)
        except ValueError as exc:
            raise ValueError(f"conversations[{i}]: {exc}") from None
        groups.append([rows.setdefault(check_unicode(t, f"conversations[{i}]"), len(rows)) for t in texts])
        priors.append(dynamic.prior_messages(messages))
    return Query(texts=list(rows), messages=priors, groups=groups)


def ask_for(route_filter: Any, explain: bool, simulate_static: bool, many: bool = False, max_k: Any = None,
            aggregation: Any = None) -> Ask:
    """What a routing call asks, validated: `route_filter` a list of names (not one string); for
    `many`, a positive `max_k` (None: every route) and a known `aggregation`."""
    if route_filter is None and not (explain or simulate_static or many):
        return _PLAIN  # the common call: one shared, immutable Ask
    k, agg = 1, None
    if many:
        if max_k is not None:
            check_int(max_k, "max_k", 1)
        k, agg = max_k or 0, None if aggregation is None else check_aggregation(aggregation)
    if isinstance(route_filter, str):
        raise TypeError(f"route_filter must be a list of route names, got a string: {route_filter!r:.80}")
    return Ask(None if route_filter is None else tuple(route_filter), explain, k, agg, many, simulate_static)


def check_vectors(vector: Any, dims: int, batch: bool) -> np.ndarray:
    """Unit float32 rows from one vector (or a batch): real, finite, non-zero, the encoder's width."""
    if isinstance(vector, np.ndarray) and vector.dtype == np.float32:
        arr = vector
    else:
        try:
            raw = np.asarray(vector)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"vector must be numeric, got {type(vector).__name__}") from exc
        if raw.dtype.kind == "c":
            raise TypeError(f"vector must hold real numbers, got complex values ({raw.dtype})")
        if raw.dtype.kind not in "biuf":
            raise TypeError(f"vector must be numeric, got {type(vector).__name__} of {raw.dtype}")
        arr = raw.astype(np.float32)
    if arr.ndim == 1 and not batch:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dims or (not batch and len(arr) != 1):
        what = "one vector" if not batch else "a (n, dims) array of vectors"
        raise ValueError(f"vector shape {np.shape(vector)} does not match the encoder's dimension {dims} "
                         f"(expected {what})")
    if len(arr) == 1:  # the common single query: one float64 dot (no overflow for float32 input)
        w = arr[0].astype(np.float64)
        norm2 = float(w @ w)
        if _SAFE_NORM2[0] < norm2 < _SAFE_NORM2[1]:
            return arr / np.float32(math.sqrt(norm2))
        return _rescaled(arr)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # out-of-band rows are redone below
        norm2 = np.einsum("ij,ij->i", arr, arr)
    good = (norm2 > _SAFE_NORM2[0]) & (norm2 < _SAFE_NORM2[1])
    if good.all():  # one pass for the squares, one for the division
        return arr / np.sqrt(norm2)[:, None]
    out = np.empty_like(arr)
    out[good] = arr[good] / np.sqrt(norm2[good])[:, None]
    out[~good] = _rescaled(arr[~good])
    return out


#: squared norms whose float32 division is exact enough; rows outside are rescaled first
_SAFE_NORM2 = (1e-30, 1e30)


def _rescaled(arr: np.ndarray) -> np.ndarray:
    """Unit rows of vectors too large or small to square in float32 (1e30, 1e-30); refuses NaN, inf, zero."""
    if not np.isfinite(arr).all():
        raise ValueError("vector holds NaN or infinite values")
    scale = np.abs(arr).max(axis=1, keepdims=True)
    if not scale.all():
        raise ValueError("vector is all zeros (no direction to compare)")
    arr = arr / scale  # scaled before squaring: no over/underflow
    return (arr / np.sqrt(np.einsum("ij,ij->i", arr, arr))[:, None]).astype(np.float32)


# -- deciding (pure) ---------------------------------------------------------------------------------
def decide(snap: Snapshot, vectors: np.ndarray, sparse: list[SparseVector] | None, ask: Ask,
           remote: bool) -> Decision:
    """The choices for B unit query vectors; yields the index searches it needs."""
    table = snap.table
    if not len(vectors):
        return []
    if ask.route_filter is not None:
        for name in ask.route_filter:
            if name not in table.code:
                raise unknown(snap, name)
    if not len(table):
        return [[] if ask.many else [RouteChoice.built(None, None, {})] for _ in range(len(vectors))]
    want = ask.max_k or len(table) if ask.many else 1
    if ask.many and not snap.rule.uses_index and ask.aggregation is None:
        return many_by_evidence(snap, vectors, ask)
    agg, ok = yield from scores(snap, vectors, sparse, ask.route_filter, ask.aggregation, want, remote)
    if ask.many:
        picks = [[(r, float(agg[i, r])) for r in scoring.ranked(agg[i], ok[i], ask.max_k or None)]
                 for i in range(len(vectors))]
        return many_choices(snap, vectors, picks, agg, ask)
    if len(vectors) == 1:
        cand = ok[0].nonzero()[0]
        b = int(cand[np.argmax(agg[0, cand])]) if len(cand) else -1
        return [[choice(snap, b, float(agg[0, b]) if b >= 0 else math.nan, agg[0] if ask.explain else None)]]
    best, score = scoring.best(agg, ok)  # one route per query: vectorised over the batch
    if not ask.explain:
        return plain_choices(snap, best.tolist(), score.tolist())
    return [[choice(snap, b, s, agg[i])] for i, (b, s) in enumerate(zip(best.tolist(), score.tolist()))]


def scores(snap: Snapshot, vectors: np.ndarray, sparse: list[SparseVector] | None,
           route_filter: Sequence[str] | None, aggregation: str | None, want: int, remote: bool) -> Decision:
    """Per-route scores and pass mask (B, R); knn rows short of `want` passing routes search deeper."""
    table, rule = snap.table, snap.rule
    if not rule.uses_index and aggregation is None:
        return masked(table, rule.scores(vectors).astype(np.float64), route_filter)
    if snap.remote_lost:
        raise RemoteStateLost(f"the shared index lost this router's records ({snap.remote_lost}); "
                              "routing on it would answer wrong")
    settings, fence = snap.settings, snap.fence
    k = settings.top_k
    routes = None if route_filter is None else list(route_filter)
    stray = fence.open  # read before and after each search (see RecordFence)
    hits = yield Search(vectors, sparse, k, routes)
    if remote and snap.n_records and routes is None and len(hits) and not (hits.routes != "").any():
        raise RemoteStateLost(f"the shared index returned no records though this router holds {snap.n_records} "
                              "(was it restarted empty?)")
    agg, ok = aggregate(snap, hits, aggregation, stray or fence.open)
    if (ok.any(axis=1) if want == 1 else ok.sum(axis=1) >= want).all():
        return agg, ok  # the common case: every query has its answer from the first search
    rows = np.arange(len(vectors))
    while k < snap.n_records:
        short = ok[rows].sum(axis=1) < want
        fused = fuse(snap, hits)
        floor = np.nanmin(np.where(np.isfinite(hits.dense), fused, np.nan), axis=1, initial=np.inf)
        hidden = np.isnan(agg[rows]) & (table.thresholds[None, :] <= floor[:, None] * (k if aggregation == "sum" else 1))
        short &= hidden.any(axis=1)
        rows, k = rows[short], k * _WIDEN
        if not len(rows):
            break
        sub_sparse = None if sparse is None else [sparse[i] for i in rows]
        stray = fence.open
        hits = yield Search(vectors[rows], sub_sparse, k, routes)
        agg[rows], ok[rows] = aggregate(snap, hits, aggregation, stray or fence.open)
    return agg, ok


def masked(table: RouteTable, agg: np.ndarray, route_filter: Sequence[str] | None):
    if route_filter is not None:
        keep = set(route_filter)
        agg[:, [c for n, c in table.code.items() if n not in keep]] = np.nan
    return agg, scoring.passing(agg, table.thresholds)


def fuse(snap: Snapshot, hits: HitBatch) -> np.ndarray:
    return scoring.fuse(hits.dense, hits.sparse, snap.settings.alpha if snap.sparse_encoder is not None else 1.0)


def aggregate(snap: Snapshot, hits: HitBatch, aggregation: str | None, by_id: bool = False):
    """Per-route aggregates and pass mask of a search's hits; `by_id`: count hits by record id
    (the index may hold records this snapshot does not list, see RecordFence)."""
    table = snap.table
    codes = table.codes(hits.routes, hits.ids, snap.fence.codes if by_id else None)
    methods = table.methods if aggregation is None else (None,) * len(table)
    agg = scoring.aggregate_routes(codes, fuse(snap, hits), methods, aggregation or snap.settings.aggregation,
                                   snap.settings.top_k)
    return agg, scoring.passing(agg, table.thresholds)


def many_by_evidence(snap: Snapshot, vectors: np.ndarray, ask: Ask) -> list[list[RouteChoice]]:
    """route_many under a vector rule: which routes PASS is each route's own evidence (its best
    utterance cosine vs its threshold); which route comes FIRST is the rule's best passing route
    (what `rl(...)` answers, with the rule's score); the others follow by evidence."""
    table = snap.table
    rule_scores, rule_ok = masked(table, snap.rule.scores(vectors).astype(np.float64), ask.route_filter)
    evidence = snap.evidence(vectors)
    if evidence is None:  # vectors not held (cannot happen for trained vector rules): the rule alone
        evidence = rule_scores
    evidence, ev_ok = masked(table, evidence, ask.route_filter)
    best, best_score = scoring.best(rule_scores, rule_ok)
    picks = []
    for i in range(len(vectors)):
        row = [] if best[i] < 0 else [(int(best[i]), float(best_score[i]))]
        row += [(r, float(evidence[i, r])) for r in scoring.ranked(evidence[i], ev_ok[i], None) if r != best[i]]
        picks.append(row[: ask.max_k] if ask.max_k else row)
    return many_choices(snap, vectors, picks, rule_scores, ask)


def many_choices(snap: Snapshot, vectors: np.ndarray, picks: list[list[tuple[int, float]]], scores_: np.ndarray,
                 ask: Ask) -> list[list[RouteChoice]]:
    """Choices of route_many: the routes passing on their own evidence, then those passing on what
    they leave unexplained in the query (a query about two topics; see router/_multilabel.py)."""
    matrix, starts = snap.evidence_matrix
    allowed = np.ones(len(snap.table), dtype=bool)
    if ask.route_filter is not None:
        allowed[:] = False
        allowed[[snap.table.code[n] for n in ask.route_filter]] = True
    out = []
    for i, row in enumerate(picks):
        if len(starts) and (not ask.max_k or len(row) < ask.max_k):
            row = row + explain_away(vectors[i], matrix, starts, snap.table.thresholds, [r for r, _ in row],
                                     allowed, ask.max_k)
        explain = scores_[i] if ask.explain else None
        out.append([choice(snap, r, s, explain) for r, s in row])
    return out


def choice(snap: Snapshot, r: int, score: float, agg: np.ndarray | None) -> RouteChoice:
    """The choice of route code `r` (-1: no route); with `agg`, every scored route's score too."""
    table = snap.table
    scores_ = None if agg is None else {table.names[j]: float(agg[j]) for j in np.flatnonzero(~np.isnan(agg))}
    if r < 0:
        return RouteChoice.built(None, None, {}, scores_)
    route = table.routes[r]
    confidence = None if snap.calibration is None else snap.calibration(score)
    return RouteChoice.built(route.name, score, dict(route.metadata), scores_, confidence)


def plain_choices(snap: Snapshot, codes: list[int], scores_: list[float]) -> list[list[RouteChoice]]:
    """`choice` for a batch without explanations: the per-query work of `route_batch`, kept to one
    constructor call per query (route lookups hoisted out of the loop)."""
    routes, calibration, built = snap.table.routes, snap.calibration, RouteChoice.built
    out = []
    for r, s in zip(codes, scores_):
        if r < 0:
            out.append([built(None, None, {})])
        else:
            route = routes[r]
            out.append([built(route.name, s, dict(route.metadata), None,
                              None if calibration is None else calibration(s))])
    return out


def unknown(snap: Snapshot, name: str) -> RouteNotFoundError:
    known = ", ".join(list(snap.routes)[:10]) or "none"
    return RouteNotFoundError(f"unknown route {name!r} (routes: {known})")


# -- running a decision -----------------------------------------------------------------------------
class Router:
    """Runs decisions against an encoder and an index: sync, or async without blocking the loop."""

    def __init__(self, encoder: Any, index: Index, history: dynamic.History) -> None:
        self.encoder = encoder
        self.index = index
        self.history = history

    def route(self, snap: Snapshot, query: Query, ask: Ask, llm: Any) -> list[list[RouteChoice]]:
        vectors, sparse = self.vectors(snap, query)
        out = self.drive(decide(snap, vectors, sparse, ask, self.index.is_remote))
        if not ask.simulate_static and snap.table.dynamic:
            for i, choices in enumerate(out):
                dynamic.fill(llm, snap.routes, choices, self.text_of(query, i), self.messages_of(query, i), False)
        return out

    async def aroute(self, snap: Snapshot, query: Query, ask: Ask, llm: Any) -> list[list[RouteChoice]]:
        vectors, sparse = await self.avectors(snap, query)
        out = await adrive(decide(snap, vectors, sparse, ask, self.index.is_remote), self.asearch)
        if not ask.simulate_static and snap.table.dynamic:
            for i, choices in enumerate(out):
                await dynamic.afill(llm, snap.routes, choices, self.text_of(query, i), self.messages_of(query, i),
                                    False)
        return out

    def scores(self, snap: Snapshot, vectors: np.ndarray, sparse: list[SparseVector] | None):
        """(B, R) scores and pass mask of unit vectors, as `route` decides them (fit, evaluate)."""
        return self.drive(scores(snap, vectors, sparse, None, None, 1, self.index.is_remote))

    def drive(self, plan: Decision) -> Any:
        """Answer each search a decision yields with the index's sync client; its result."""
        return drive(plan, self.search)

    def search(self, search: Search) -> HitBatch:
        return self.index.query_batch(search.vectors, search.sparse, search.top_k, search.routes)

    async def asearch(self, search: Search) -> HitBatch:
        return await self.index.aquery_batch(search.vectors, search.sparse, search.top_k, search.routes)

    @staticmethod
    def text_of(query: Query, i: int) -> str | None:
        if query.groups is not None:
            return query.texts[query.groups[i][0]] if query.texts is not None else None
        return None if query.texts is None else query.texts[0 if query.history else i]

    @staticmethod
    def messages_of(query: Query, i: int) -> Any:
        return query.messages[i] if query.groups is not None else query.messages

    def blended(self, query: Query, dense: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """The query vectors of encoded `query.texts` (history blended) and the texts a sparse encoder reads."""
        assert query.texts is not None
        if query.groups is not None:
            return (np.concatenate([dynamic.blend(dense[g], self.history) for g in query.groups]),
                    [query.texts[g[0]] for g in query.groups])
        if query.history:
            return dynamic.blend(dense, self.history), query.texts[:1]
        return dense, query.texts

    def vectors(self, snap: Snapshot, query: Query) -> tuple[np.ndarray, list[SparseVector] | None]:
        if query.vectors is not None:
            return query.vectors, None
        if not query.texts:
            return np.zeros((0, self.encoder.dimensions), np.float32), None
        dense, texts = self.blended(query, self.encoder.encode_queries(query.texts))
        sparse = None if snap.sparse_encoder is None else snap.sparse_encoder.encode_queries(texts)
        return dense, sparse

    async def avectors(self, snap: Snapshot, query: Query) -> tuple[np.ndarray, list[SparseVector] | None]:
        if query.vectors is not None:
            return query.vectors, None
        if not query.texts:
            return np.zeros((0, self.encoder.dimensions), np.float32), None
        dense, texts = self.blended(query, await self.encoder.aencode_queries(query.texts))
        sparse = None
        if snap.sparse_encoder is not None:
            sparse = await asyncio.to_thread(snap.sparse_encoder.encode_queries, texts)
        return dense, sparse
