"""Helpers shared by the remote index backends: batching, request sizes, vector formats, hybrid
merge, prepared searches and the tenacity retry policy (`LoopClients` lives in semantic_router.sdk).
No client calls here."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from semantic_router.errors import ConfigError
from semantic_router.index.base import Hit, HitBatch, Record
from semantic_router.sdk.clients import LoopClients as LoopClients  # re-exported for the backends
from semantic_router.vectors import SparseVector

T = TypeVar("T")


def decode_state(raw: str | bytes, where: str) -> Any:
    """The shared state JSON a backend stores, or a ConfigError naming where it lies when it is not
    JSON (the router keeps serving its last good snapshot; `check_state` validates the content)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ConfigError(f"the shared router state in {where} is corrupt (not JSON: {exc})") from None


def chunked(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- hybrid search: one query's dense top-k and sparse top-k, merged ----------------------------
@dataclass(frozen=True)
class Candidate:
    """A search result as a backend returns it: one of the two scores, maybe the other vector."""

    id: str
    route: str
    utterance: str
    score: float
    dense: Sequence[float] | None = None
    sparse: SparseVector | None = None


def merge_hybrid(
    dense_hits: Sequence[Candidate],
    sparse_hits: Sequence[Candidate],
    query: np.ndarray,
    query_sparse: SparseVector | None,
    cosine: bool,
) -> list[Hit]:
    """Dense hits first (their sparse score from their stored sparse vector), then the sparse hits
    not already present and scoring > 0 (their dense score computed from their stored vector,
    as cosine or dot product to match what the server reports for dense hits)."""
    out: list[Hit] = []
    for h in dense_hits:
        sparse = None
        if query_sparse is not None:
            sparse = query_sparse.dot(h.sparse) if h.sparse is not None else 0.0
        out.append(Hit(h.id, h.route, h.utterance, float(h.score), sparse))
    seen = {h.id for h in out}
    qn = float(np.linalg.norm(query)) if cosine else 1.0
    for h in sparse_hits:
        if h.id in seen or h.score <= 0 or h.dense is None:
            continue
        v = np.asarray(h.dense, dtype=np.float32)
        dense = float(query @ v)
        if cosine:
            norm = qn * float(np.linalg.norm(v))
            dense = dense / norm if norm else 0.0
        out.append(Hit(h.id, h.route, h.utterance, dense, float(h.score)))
    return out


def batch_dims(records: Sequence[Record]) -> int:
    """The dimension all `records` share (a ValueError naming the first that differs)."""
    dims = records[0].dense.shape[0]
    for r in records:
        if r.dense.shape[0] != dims:
            raise ValueError(f"record {r.id} for route {r.route!r} has dimension {r.dense.shape[0]}, batch has {dims}")
    return dims


def query_matrix(dense: np.ndarray, sparse: Sequence[SparseVector] | None) -> np.ndarray:
    """The B query vectors as a (B, d) float32 matrix, checking that `sparse` has B entries too."""
    q = np.asarray(dense, dtype=np.float32)
    q = q[None, :] if q.ndim == 1 else q
    if sparse is not None and len(sparse) != q.shape[0]:
        raise ValueError(f"got {q.shape[0]} dense and {len(sparse)} sparse query vectors")
    return q


def json_size(obj: Any) -> int:
    """Bytes `obj` takes as compact JSON (to keep requests under a size limit)."""
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def size_batches(items: Sequence[dict[str, Any]], max_bytes: int, max_count: int) -> list[list[dict[str, Any]]]:
    """Split items into consecutive batches of at most `max_count` items and `max_bytes` of JSON."""
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = 0
    for item in items:
        size = json_size(item) + 1
        if size > max_bytes:
            raise ValueError(f"record {item.get('id')!r} alone is {size} bytes, over the {max_bytes}-byte limit")
        if current and (used + size > max_bytes or len(current) >= max_count):
            batches.append(current)
            current, used = [], 0
        current.append(item)
        used += size
    if current:
        batches.append(current)
    return batches


def finite(values: np.ndarray) -> list[float]:
    """A float32 vector as JSON-ready floats rounded to 9 significant digits: enough to give back
    the same float32 (so nothing is lost) in ~40% less JSON than float64 digits. NaN/inf refused."""
    arr = np.asarray(values, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError("vector holds NaN or infinite values")
    x = arr.astype(np.float64)
    k = 8 - np.floor(np.log10(np.where(x == 0, 1.0, np.abs(x)))).astype(np.int64)
    scale = 10.0 ** np.abs(k)  # an exact power of ten, so one correctly rounded division/product
    out = np.where(k >= 0, np.round(x * scale) / scale, np.round(x / scale) * scale)
    return out.tolist()


@dataclass(frozen=True)
class PreparedSearch:
    """A batched search ready to send: the request(s), how to read the answer, and the empty
    answer (for an index that does not exist yet or vanished meanwhile)."""

    requests: Any
    finish: Callable[[Any], HitBatch]
    empty: HitBatch


@dataclass(frozen=True)
class RetryPolicy:
    """Tenacity retries of transient faults (jittered exponential backoff), for the clients
    without their own retry policy (Qdrant, Pinecone's status-level faults)."""

    attempts: int
    is_transient: Callable[[BaseException], bool]

    def _options(self) -> dict[str, Any]:
        return {"stop": stop_after_attempt(max(1, self.attempts)), "reraise": True,
                "wait": wait_exponential(multiplier=0.1, max=2.0) + wait_random(0, 0.1),
                "retry": retry_if_exception(self.is_transient)}

    def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return Retrying(**self._options())(fn, *args, **kwargs)

    async def acall(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        return await AsyncRetrying(**self._options())(fn, *args, **kwargs)
