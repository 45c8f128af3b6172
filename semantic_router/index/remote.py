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


from semantic_router.index._common import (Candidate, batch_dims, chunked, finite, json_size,  # noqa: E402,F401
                                          merge_hybrid, query_matrix, size_batches)


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
