"""Plumbing shared by the remote index backends (Qdrant, Pinecone).

Each backend writes an operation once, as a *plan*: a generator that yields the client calls it
needs (`Call`, or a list of them to run concurrently, or `Sleep`) and receives their results. A
`Driver` runs a plan against the sync clients or, awaiting, against the async ones, retrying
transient failures with tenacity. So the sync methods and their async twins share every line of
request building and response parsing; only the driver differs.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

import numpy as np
from tenacity import AsyncRetrying, Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from semantic_router.vectors import SparseVector
from semantic_router.errors import SemanticRouterError
from semantic_router.index.base import Hit, HitBatch, Index, Record
from semantic_router.index.lease import LeaseLock

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One client call: `target` names a client object, `method` a dotted attribute path on it."""

    target: str
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sleep:
    """Wait between polls (time.sleep in the sync driver, asyncio.sleep in the async one)."""

    seconds: float


def call(target: str, method: str, *args: Any, **kwargs: Any) -> Call:
    return Call(target, method, args, kwargs)


Step = Union[Call, list[Call], Sleep]
Plan = Generator[Step, Any, T]

#: plain-usage errors a plan raises on purpose; the driver passes them through untouched
_PASS_THROUGH = (SemanticRouterError, ValueError, TypeError)


class Driver:
    """Runs plans. `resolve(target)` gives the sync client object; `aresolve(target)` the async one
    for the running loop, or None (that call then runs the sync client in a worker thread).
    `is_transient` picks errors worth retrying; `translate` turns the rest into package errors
    (a ValueError/TypeError passes through as a usage error unless `backend_error` claims it)."""

    def __init__(
        self,
        resolve: Callable[[str], Any],
        aresolve: Callable[[str], Any] | None,
        is_transient: Callable[[BaseException], bool],
        translate: Callable[[BaseException], BaseException],
        attempts: int = 3,
        max_workers: int = 8,
        backend_error: Callable[[BaseException], bool] = lambda _e: False,
    ) -> None:
        self._resolve, self._aresolve = resolve, aresolve
        self._backend_error = backend_error
        self._is_transient, self._translate = is_transient, translate
        self._attempts = max(1, attempts)
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _retry_args(self) -> dict[str, Any]:
        wait = wait_exponential(multiplier=0.1, max=2.0) + wait_random(0, 0.1)
        return dict(stop=stop_after_attempt(self._attempts), wait=wait, retry=retry_if_exception(self._is_transient),
                    reraise=True)

    def _error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, _PASS_THROUGH) and not self._backend_error(exc):
            return exc
        return self._translate(exc)

    def _advance(self, plan: Plan[Any], value: Any, error: BaseException | None) -> tuple[bool, Any]:
        """Feed the last result (or error) into `plan`: (True, its return value) or (False, next step)."""
        try:
            return False, (plan.send(value) if error is None else plan.throw(error))
        except StopIteration as stop:
            return True, stop.value
        except Exception as exc:
            mapped = self._error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    # -- sync ---------------------------------------------------------------------------------
    def run(self, plan: Plan[T]) -> T:
        """Drive `plan` to its return value with the sync clients."""
        value: Any = None
        error: BaseException | None = None
        while True:
            done, step = self._advance(plan, value, error)
            if done:
                return step
            value, error = None, None
            try:
                value = self._step(step)
            except Exception as exc:  # delivered into the plan, which may handle it
                error = exc

    def _step(self, step: Step) -> Any:
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            return None
        if isinstance(step, Call):
            return self._call(step)
        if len(step) <= 1:
            return [self._call(c) for c in step]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="sr-index")
        return [f.result() for f in [self._pool.submit(self._call, c) for c in step]]

    def _call(self, c: Call) -> Any:
        fn = _bind(self._resolve(c.target), c.method)
        return Retrying(**self._retry_args())(fn, *c.args, **c.kwargs)

    # -- async --------------------------------------------------------------------------------
    async def arun(self, plan: Plan[T]) -> T:
        """Drive `plan` with the async clients (calls in a list run concurrently)."""
        value: Any = None
        error: BaseException | None = None
        while True:
            done, step = self._advance(plan, value, error)
            if done:
                return step
            value, error = None, None
            try:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Call):
                    value = await self._acall(step)
                else:
                    value = list(await asyncio.gather(*(self._acall(c) for c in step)))
            except Exception as exc:
                error = exc

    async def _acall(self, c: Call) -> Any:
        client = self._aresolve(c.target) if self._aresolve is not None else None
        if client is None:  # no async client for this target: the sync one, off the event loop
            fn = _bind(self._resolve(c.target), c.method)
            return await AsyncRetrying(**self._retry_args())(asyncio.to_thread, fn, *c.args, **c.kwargs)
        return await AsyncRetrying(**self._retry_args())(_bind(client, c.method), *c.args, **c.kwargs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


def _bind(obj: Any, dotted: str) -> Callable[..., Any]:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


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


class PlannedIndex(Index):
    """An Index whose operations are plans: the sync methods run them with `_driver`, the async
    twins await them, so a backend only writes the `_*_plan` methods (and `drop`)."""

    _driver: Driver
    _lease: LeaseLock

    def _upsert_plan(self, records: Sequence[Record]) -> Plan[None]:
        raise NotImplementedError

    def _delete_plan(self, ids: Sequence[str] | None, route: str | None) -> Plan[int]:
        raise NotImplementedError

    def _records_plan(self, route: str | None) -> Plan[list[Record]]:
        raise NotImplementedError

    def _ids_plan(self, route: str | None) -> Plan[list[str]]:
        raise NotImplementedError

    def _count_plan(self) -> Plan[int]:
        raise NotImplementedError

    def _query_plan(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None, top_k: int,
                    routes: Sequence[str] | None) -> Plan[HitBatch]:
        raise NotImplementedError

    def _clear_plan(self) -> Plan[None]:
        raise NotImplementedError

    def _dims_plan(self) -> Plan[int | None]:
        raise NotImplementedError

    def _read_state_plan(self) -> Plan[dict[str, Any] | None]:
        raise NotImplementedError

    def _write_state_plan(self, state: dict[str, Any]) -> Plan[None]:
        raise NotImplementedError

    def upsert(self, records: Sequence[Record]) -> None:
        self._driver.run(self._upsert_plan(records))

    def delete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        return self._driver.run(self._delete_plan(ids, route))

    def records(self, route: str | None = None) -> list[Record]:
        return self._driver.run(self._records_plan(route))

    def ids(self, route: str | None = None) -> list[str]:
        return self._driver.run(self._ids_plan(route))

    def count(self) -> int:
        return self._driver.run(self._count_plan())

    def query_batch(self, dense: np.ndarray, sparse: Sequence[SparseVector] | None = None, top_k: int = 5,
                    routes: Sequence[str] | None = None) -> HitBatch:
        return self._driver.run(self._query_plan(dense, sparse, top_k, routes))

    def clear(self) -> None:
        self._driver.run(self._clear_plan())

    @property
    def dimensions(self) -> int | None:
        return self._driver.run(self._dims_plan())

    @property
    def is_remote(self) -> bool:
        return True

    def read_state(self) -> dict[str, Any] | None:
        return self._driver.run(self._read_state_plan())

    def write_state(self, state: dict[str, Any]) -> None:
        self._driver.run(self._write_state_plan(state))

    def lock(self, timeout: float = 10.0):
        return self._lease.hold(timeout)

    async def aupsert(self, records: Sequence[Record]) -> None:
        await self._driver.arun(self._upsert_plan(records))

    async def adelete(self, ids: Sequence[str] | None = None, route: str | None = None) -> int:
        return await self._driver.arun(self._delete_plan(ids, route))

    async def arecords(self, route: str | None = None) -> list[Record]:
        return await self._driver.arun(self._records_plan(route))

    async def acount(self) -> int:
        return await self._driver.arun(self._count_plan())

    async def aquery_batch(self, dense, sparse=None, top_k: int = 5, routes=None) -> HitBatch:
        return await self._driver.arun(self._query_plan(dense, sparse, top_k, routes))

    async def aquery(self, dense, sparse=None, top_k: int = 5, routes=None) -> list[Hit]:
        vec = np.asarray(dense, dtype=np.float32).reshape(1, -1)
        return (await self.aquery_batch(vec, None if sparse is None else [sparse], top_k, routes)).row(0)

    async def aread_state(self) -> dict[str, Any] | None:
        return await self._driver.arun(self._read_state_plan())

    async def awrite_state(self, state: dict[str, Any]) -> None:
        await self._driver.arun(self._write_state_plan(state))


__all__ = ["PlannedIndex", "Call", "Candidate", "Driver", "Plan", "Sleep", "batch_dims", "call", "chunked", "finite",
           "merge_hybrid", "query_matrix", "size_batches"]
