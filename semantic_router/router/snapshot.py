"""One immutable snapshot of a router: everything a query reads, built off to the side per change.

A query takes `store.snapshot` once and uses nothing else, so a change published meanwhile (one
reference swap) can never mix two route sets in one answer. Arrays are read-only and shared
between snapshots for routes a change did not touch (the decision rule reuses their work).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

from semantic_router import ids as id_schemes
from semantic_router.checks import check_int
from semantic_router.decision.calibration import Calibration
from semantic_router.decision.rules import Rule
from semantic_router.decision.scoring import cosines
from semantic_router.decision.table import RouteTable
from semantic_router.route import Route, check_aggregation, check_threshold

#: 2 = the collision-free `ids.record_id`; 1 = the legacy scheme (states written without `id_scheme`)
ID_SCHEME = 2 if hasattr(id_schemes, "legacy_record_id") else 1


def id_function(scheme: int):
    """The record id function (route, utterance) -> id of an id scheme."""
    if scheme >= 2 or not hasattr(id_schemes, "legacy_record_id"):
        return id_schemes.record_id
    return id_schemes.legacy_record_id


def ids_function(scheme: int):
    """The batch record id function (route, utterances) -> ids, in order, of an id scheme."""
    return id_schemes.record_ids if scheme >= 2 else id_schemes.legacy_record_ids


def route_ids(name: str, utterances: Sequence[str], before: Mapping[str, str], make_ids: Any) -> dict[str, str]:
    """Utterance -> record id for route `name`: the ids `before` has are kept, the others made in one batch."""
    new = [u for u in utterances if u not in before]
    made = dict(zip(new, make_ids(name, new)))
    return {u: before.get(u) or made[u] for u in utterances}


def check_top_k(value: Any) -> int:
    """A positive integer, or a ValueError naming the bad value (0 would search nothing, forever)."""
    return check_int(value, "top_k", 1)


def check_seconds(value: Any, name: str, allow_inf: bool = False) -> float:
    """A non-negative number of seconds (NaN refused: it would compare False everywhere)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}: {value!r}")
    if math.isnan(value) or value < 0 or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be a {'' if allow_inf else 'finite '}number of seconds >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Settings:
    """Router-wide settings (all validated; a change builds a new Settings)."""

    top_k: int = 5
    aggregation: str = "max"
    alpha: float = 0.7
    score_threshold: float | None = None
    rule_auto: bool = True  # the rule was chosen by the router (switches to knn when aggregation is asked for)

    def __post_init__(self) -> None:
        check_top_k(self.top_k)
        check_aggregation(self.aggregation)
        check_threshold(self.alpha, "alpha", 0.0, 1.0)
        if self.score_threshold is not None:
            check_threshold(self.score_threshold, "score_threshold")

    def plain(self) -> dict[str, Any]:
        """The settings a shared state carries."""
        return {"aggregation": self.aggregation, "top_k": self.top_k, "alpha": self.alpha,
                "score_threshold": self.score_threshold}


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Read-only float32 unit rows; huge or tiny (but finite, non-zero) vectors normalise safely."""
    given = np.asarray(vectors)
    x = np.array(given, dtype=np.float64)  # a private copy: normalised in place below
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {x.shape}")
    if given.dtype.kind == "f" and given.dtype.itemsize <= 4:
        # squares of float32 values neither over- nor underflow float64: no scaling pass needed
        squares = np.add.reduce(x * x, axis=1, keepdims=True)
        if not (np.isfinite(squares).all() and (squares > 0).all()):
            raise ValueError("vectors must be finite and non-zero")
    else:
        scale = np.max(np.abs(x), axis=1, keepdims=True) if x.size else np.ones((len(x), 1))
        if not (np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("vectors must be finite and non-zero")
        x /= scale  # scaled first: 1e30 or 1e-30 never over- or underflows the norm
        squares = np.add.reduce(x * x, axis=1, keepdims=True)
    x /= np.sqrt(squares)  # the 2-norm, summed as np.linalg.norm sums it
    out = x.astype(np.float32)
    out.flags.writeable = False
    return out


def signature(names: Any, ids: Mapping[str, Mapping[str, str]]) -> str:
    """Digest of route columns and their record ids (what a trained rule was trained on)."""
    h = hashlib.sha1()
    for name in names:
        h.update(name.encode("utf-8", "surrogatepass") + b"\0")
        for i in sorted(ids.get(name, {}).values()):
            h.update(i.encode() + b"\1")
        h.update(b"\2")
    return h.hexdigest()


def record_codes(names: Sequence[str], ids: Mapping[str, Mapping[str, str]]) -> dict[str, int]:
    """Record id -> route column of a route set (knn hits counted by the record they are)."""
    return {i: c for c, n in enumerate(names) for i in ids.get(n, {}).values()}


class RecordFence:
    """Whether an in-process index may hold records its snapshot does not list, for that snapshot's
    knn queries. While `open`, hits count by record id (`codes`: the snapshot's id -> route column),
    so a query never counts another snapshot's records; closed, by route name (no per-hit lookup).

    The store opens it before a change writes records (for good: the snapshot is superseded, or the
    change failed) and on a new snapshot until the garbage of its change is collected. A query reads
    it before and after each search: closed both times means the search saw exactly the snapshot's
    records. Snapshots evolved from one another share it. Shared and remote indexes always count by
    record id (`RouteTable.record_codes`) and leave it closed."""

    __slots__ = ("codes", "open")

    def __init__(self) -> None:
        self.codes: dict[str, int] | None = None
        self.open = False


@dataclass
class Draft:
    """The mutable copy a change edits; the store turns it into the next Snapshot."""

    routes: dict[str, Route]
    settings: Settings
    rule: Rule
    extra: dict[str, Any]
    calibration: Calibration | None = None
    rule_trained: bool = False  # `rule` already fits these routes (a hyperparameter change): keep it
    rule_state: dict[str, Any] | None = None  # learned state from a saved router: used if it fits
    shared: bool = False  # the draft starts from a published shared state (sync: the remote side)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """What one version of a router is: routes, ids, vectors, the trained rule, settings."""

    routes: Mapping[str, Route]
    ids: Mapping[str, Mapping[str, str]]  # route -> utterance -> record id
    vectors: Mapping[str, np.ndarray | None]  # route -> (n, d) float32 unit rows, utterance order; None: not read
    table: RouteTable
    rule: Rule  # trained on `vectors` (or a knn rule, which needs no training)
    settings: Settings
    extra: Mapping[str, Any]
    calibration: Calibration | None = None
    sparse_encoder: Any = None  # fitted copy for this route set (hybrid routing), or None
    version: int = 0
    remote_version: int = 0  # the shared state's version this snapshot is (0: none)
    id_scheme: int = 1
    n_records: int = 0
    remote_lost: str | None = field(default=None)  # set when the shared index lost our records
    remote_hash: str | None = None  # the hash of that shared state (a state rewritten after a loss may reuse its version)
    fence: RecordFence = field(default_factory=RecordFence)  # may the index hold records not listed here?

    @classmethod
    def empty(cls, settings: Settings, rule: Rule, encoder_threshold: float, sparse_encoder: Any = None,
              id_scheme: int = 1) -> Snapshot:
        return cls(MappingProxyType({}), MappingProxyType({}), MappingProxyType({}),
                   RouteTable.build([], settings.score_threshold, encoder_threshold), rule, settings,
                   MappingProxyType({"rule": rule.spec()}), sparse_encoder=sparse_encoder, id_scheme=id_scheme)

    def draft(self) -> Draft:
        return Draft(dict(self.routes), self.settings, self.rule, dict(self.extra), self.calibration)

    def evolve(self, **changes: Any) -> Snapshot:
        return replace(self, **changes)

    @cached_property
    def known_ids(self) -> frozenset[str]:
        return frozenset(i for m in self.ids.values() for i in m.values())

    def signature(self) -> str:
        """Digest of route columns and record ids: a learned rule state fits exactly this."""
        return signature(self.table.names, self.ids)

    @cached_property
    def evidence_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """All utterance vectors stacked (N, d) and their route columns: each route's own evidence."""
        parts = [self.vectors.get(n) for n in self.table.names]
        if not parts or any(p is None for p in parts):
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
        starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
        return np.ascontiguousarray(np.concatenate(parts)), starts

    def evidence(self, queries: np.ndarray) -> np.ndarray | None:
        """(B, R) max cosine of each query to each route's utterances, or None without vectors."""
        matrix, starts = self.evidence_matrix
        if not len(starts):
            return None
        sims = queries @ matrix.T  # (B, N), each route's utterances contiguous
        return cosines(np.maximum.reduceat(sims, starts, axis=1)).astype(np.float64)
