"""In-memory index on numpy: one contiguous float32 matrix, one product per query.

Writes build a new immutable snapshot and swap it in, so searches never take a lock and
never see a half-applied write.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from semantic_router.index.base import HitBatch, Index, Record
from semantic_router.index.coordination import Coordinator, LeaseToken, ThreadLock, check_fence
from semantic_router.vectors import SparseVector

# Largest (queries x records) score block materialised at once by batched search.
_BLOCK_CELLS = 1 << 24


@dataclass(frozen=True)
class _Snapshot:
    ids: np.ndarray  # (N,) object
    routes: np.ndarray  # (N,) object: exact names (a str array would drop trailing NULs)
    utterances: np.ndarray  # (N,) object
    matrix: np.ndarray  # (N, d) float32, C-contiguous
    sparse: sp.csr_matrix | None  # (N, V) over `vocab` columns
    vocab: dict[int, int]  # sparse index -> column
    metadata: list[dict[str, Any] | None]
    position: dict[str, int] = field(default_factory=dict)
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))  # (N,) route code per row
    code_of: dict[str, int] = field(default_factory=dict)  # route name -> code (route filters compare ints)

    @classmethod
    def empty(cls) -> _Snapshot:
        return cls(np.zeros(0, dtype=object), np.zeros(0, dtype=object), np.zeros(0, dtype=object),
                   np.zeros((0, 0), dtype=np.float32), None, {}, [])

    def take(self, keep: np.ndarray) -> _Snapshot:
        """A snapshot of the rows where `keep` is True."""
        ids = self.ids[keep]
        return _Snapshot(ids, self.routes[keep], self.utterances[keep], np.ascontiguousarray(self.matrix[keep]),
                         None if self.sparse is None else self.sparse[keep], self.vocab,
                         [m for m, k in zip(self.metadata, keep) if k], {str(i): n for n, i in enumerate(ids)},
                         self.codes[keep], self.code_of)

    def append(self, records: list[Record]) -> _Snapshot:
        """A snapshot with `records` added after the current rows (ids must be new)."""
        n0, n = len(self.ids), len(self.ids) + len(records)
        dims = records[0].dense.shape[0] if not n0 else self.matrix.shape[1]
        matrix = np.empty((n, dims), dtype=np.float32)
        if n0:
            matrix[:n0] = self.matrix
        np.stack([r.dense for r in records], out=matrix[n0:])  # straight into place: no second copy
        vocab = dict(self.vocab)
        rows, cols, vals = [], [], []
        for i, r in enumerate(records):
            if r.sparse is not None:
                for k, v in zip(r.sparse.indices, r.sparse.values):
                    rows.append(i)
                    cols.append(vocab.setdefault(k, len(vocab)))
                    vals.append(v)
        sparse = None
        if vocab:
            new = sp.csr_matrix((vals, (rows, cols)), shape=(len(records), len(vocab)), dtype=np.float32)
            old = self.sparse if self.sparse is not None else sp.csr_matrix((n0, len(self.vocab)), dtype=np.float32)
            old = old.copy()
            old.resize((n0, len(vocab)))
            sparse = sp.vstack([old, new], format="csr")
        ids = np.concatenate([self.ids, np.array([r.id for r in records], dtype=object)])
        code_of = dict(self.code_of)
        return _Snapshot(
            ids,
            np.concatenate([self.routes, np.array([r.route for r in records], dtype=object)]),
            np.concatenate([self.utterances, np.array([r.utterance for r in records], dtype=object)]),
            matrix, sparse, vocab, self.metadata + [r.metadata for r in records],
            {str(i): k for k, i in enumerate(ids)},
            np.concatenate([self.codes, np.array([code_of.setdefault(r.route, len(code_of)) for r in records],
                                                 dtype=np.int32)]),
            code_of,
        )

    def record(self, i: int) -> Record:
        sparse = None
        if self.sparse is not None:
            row = self.sparse.getrow(i)
            if row.nnz:
                inverse = {c: k for k, c in self.vocab.items()}
                sparse = SparseVector.from_dict({inverse[c]: float(v) for c, v in zip(row.indices, row.data)})
        return Record(str(self.routes[i]), str(self.utterances[i]), self.matrix[i].copy(), sparse,
                      copy.deepcopy(self.metadata[i]), str(self.ids[i]))


class LocalIndex(Index, Coordinator):
    """The embedded default: exact search over an in-memory float32 matrix."""

    type = "local"

    def __init__(self, *, init_async_index: bool = False) -> None:
        """`init_async_index` (aurelio's switch) is accepted: the async methods always work."""
        self._snap = _Snapshot.empty()
        self._write = threading.RLock()
        self._state: dict[str, Any] | None = None
        self._lease = ThreadLock()
        self._state_mutex = threading.Lock()

    # -- records ------------------------------------------------------------------------------
    def upsert(self, records: Sequence[Record]) -> None:
        if not records:
            return
        with self._write:
            snap = self._snap
            dims = snap.matrix.shape[1] if len(snap.ids) else records[0].dense.shape[0]
            for r in records:
                if r.dense.shape[0] != dims:
                    raise ValueError(
                        f"record {r.id} for route {r.route!r} has dimension {r.dense.shape[0]}, index holds {dims}"
                    )
            latest = {r.id: r for r in records}  # last write of an id wins
            keep = np.fromiter((i not in latest for i in snap.ids), dtype=bool, count=len(snap.ids))
            kept = snap if keep.all() else snap.take(keep)  # no rewrite: append copies the rows once anyway
            self._snap = kept.append(list(latest.values()))

    def delete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        with self._write:
            snap = self._snap
            drop = np.zeros(len(snap.ids), dtype=bool)
            if ids is not None:
                wanted = set(ids)
                drop |= np.fromiter((i in wanted for i in snap.ids), dtype=bool, count=len(snap.ids))
            if route is not None:
                drop |= _of_routes(snap, [route])
            if drop.any():
                self._snap = snap.take(~drop)
            return int(drop.sum())

    def records(self, route: str | None = None) -> list[Record]:
        snap = self._snap
        rows = range(len(snap.ids)) if route is None else np.flatnonzero(_of_routes(snap, [route]))
        return [snap.record(int(i)) for i in rows]

    def count(self) -> int:
        return len(self._snap.ids)

    @property
    def dimensions(self) -> int | None:
        snap = self._snap
        return snap.matrix.shape[1] if len(snap.ids) else None

    def clear(self) -> None:
        with self._write:
            self._snap = _Snapshot.empty()
            self._state = None

    # -- search -------------------------------------------------------------------------------
    def query_batch(
        self,
        dense: np.ndarray,
        sparse: Sequence[SparseVector] | None = None,
        top_k: int = 5,
        routes: Sequence[str] | None = None,
    ) -> HitBatch:
        snap = self._snap
        q = np.asarray(dense, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        n, b = len(snap.ids), q.shape[0]
        if n and q.shape[1] != snap.matrix.shape[1]:
            raise ValueError(f"query vector has dimension {q.shape[1]}, index holds {snap.matrix.shape[1]}")
        if sparse is not None and len(sparse) != b:
            raise ValueError(f"got {b} dense and {len(sparse)} sparse query vectors")
        k = min(top_k, n)
        if k and sparse is None and routes is None:
            return self._dense_only(snap, q, k)
        use_sparse = sparse is not None and snap.sparse is not None
        width = 2 * k if use_sparse else k
        out_idx = np.full((b, width), -1, dtype=np.int64)
        out_dense = np.full((b, width), -np.inf, dtype=np.float32)
        out_sparse = np.zeros((b, width), dtype=np.float32) if sparse is not None else None
        if k:
            mask = None if routes is None else ~_of_routes(snap, routes)
            step = max(1, _BLOCK_CELLS // max(n, 1))
            for lo in range(0, b, step):
                hi = min(b, lo + step)
                scores = snap.matrix @ q[lo] if hi - lo == 1 else q[lo:hi] @ snap.matrix.T
                scores = scores.reshape(hi - lo, n)
                if mask is not None:
                    scores[:, mask] = -np.inf
                top, out_dense[lo:hi, :k] = _top_k(scores, k)
                out_idx[lo:hi, :k] = top
                if use_sparse:
                    sscores = self._sparse_scores(snap, sparse[lo:hi])
                    if mask is not None:
                        sscores[:, mask] = 0.0
                    stop, svals = _top_k(sscores, k)
                    dup = (stop[:, :, None] == top[:, None, :]).any(axis=2) | (svals <= 0)
                    stop = np.where(dup, -1, stop)
                    out_idx[lo:hi, k:] = stop
                    safe = np.maximum(stop, 0)
                    out_dense[lo:hi, k:] = np.where(dup, -np.inf, np.take_along_axis(scores, safe, axis=1))
                    out_sparse[lo:hi] = np.take_along_axis(sscores, np.maximum(out_idx[lo:hi], 0), axis=1)
                    out_sparse[lo:hi][out_idx[lo:hi] < 0] = 0.0
        # drop hits filtered out by the route mask (score -inf) and padding
        invalid = (out_idx < 0) | ~np.isfinite(out_dense)
        safe = np.where(invalid, 0, out_idx)
        routes_out = snap.routes[safe] if n else np.full((b, width), "", dtype=object)
        if invalid.any():
            routes_out = np.where(invalid, "", routes_out)
            out_dense = np.where(invalid, -np.inf, out_dense).astype(np.float32)
        ids = snap.ids[safe] if n else np.full((b, width), "", dtype=object)
        utts = snap.utterances[safe] if n else np.full((b, width), "", dtype=object)
        return HitBatch(ids, routes_out, utts, out_dense, out_sparse)

    @staticmethod
    def _dense_only(snap: _Snapshot, q: np.ndarray, k: int) -> HitBatch:
        """The hot path: dense scores, no filter (one product per block of queries)."""
        b, n = q.shape[0], len(snap.ids)
        top = np.empty((b, k), dtype=np.int64)
        dense = np.empty((b, k), dtype=np.float32)
        step = max(1, _BLOCK_CELLS // n)
        for lo in range(0, b, step):
            hi = min(b, lo + step)
            scores = (snap.matrix @ q[lo])[None, :] if hi - lo == 1 else q[lo:hi] @ snap.matrix.T
            top[lo:hi], dense[lo:hi] = _top_k(scores, k, inplace=True)
        return HitBatch(snap.ids[top], snap.routes[top], snap.utterances[top], dense, None)

    @staticmethod
    def _sparse_scores(snap: _Snapshot, queries: Sequence[SparseVector]) -> np.ndarray:
        rows, cols, vals = [], [], []
        for j, qv in enumerate(queries):
            for k, v in zip(qv.indices, qv.values):
                c = snap.vocab.get(k)
                if c is not None:
                    rows.append(c)
                    cols.append(j)
                    vals.append(v)
        qm = sp.csr_matrix((vals, (rows, cols)), shape=(len(snap.vocab), len(queries)), dtype=np.float32)
        return np.asarray((snap.sparse @ qm).T.todense(), dtype=np.float32)

    # -- state and lock -----------------------------------------------------------------------
    def read_state(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._state)

    def write_state(self, state: dict[str, Any], *, expected_version: int | None = None,
                    lease: LeaseToken | None = None) -> None:
        with self._state_mutex:
            check_fence(self._state, expected_version, self._lease.holder, lease)
            self._state = copy.deepcopy(state)

    def lock(self, timeout: float = 10.0):
        return self._lease.hold(timeout)


def _of_routes(snap: _Snapshot, routes: Sequence[str]) -> np.ndarray:
    """Rows of any of `routes`, by route code (comparing names in numpy would trim trailing NULs)."""
    return np.isin(snap.codes, [snap.code_of[r] for r in routes if r in snap.code_of])


def _top_k(scores: np.ndarray, k: int, inplace: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest scores per row, best first.

    For the small k routing uses, k rounds of argmax (each one pass over the row) are far faster
    than numpy's argpartition (measured 4.4 vs 18 us at 1,500 scores, 49 vs 840 us at 100,000).
    With `inplace`, `scores` is used as scratch space."""
    b, n = scores.shape
    if k >= n:
        idx = np.argsort(-scores, axis=1, kind="stable")
        return idx, np.take_along_axis(scores, idx, axis=1)
    if k <= 16 and b == 1:  # one query: plain 1-D passes, the cheapest form
        work = scores[0] if inplace else scores[0].copy()
        picked, values = [], []
        for _ in range(k):
            i = int(work.argmax())
            picked.append(i)
            values.append(work[i])
            work[i] = -np.inf
        return np.array([picked], dtype=np.int64), np.array([values], dtype=scores.dtype)
    if k <= 16:
        work = scores if inplace else scores.copy()
        idx = np.empty((b, k), dtype=np.int64)
        vals = np.empty((b, k), dtype=scores.dtype)
        rows = np.arange(b)
        for j in range(k):
            best = work.argmax(axis=1)
            idx[:, j] = best
            vals[:, j] = work[rows, best]
            work[rows, best] = -np.inf
        return idx, vals
    idx = np.argpartition(scores, n - k, axis=1)[:, n - k:]
    order = np.argsort(-np.take_along_axis(scores, idx, axis=1), axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    return idx, np.take_along_axis(scores, idx, axis=1)
