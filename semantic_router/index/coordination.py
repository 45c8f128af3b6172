"""Coordination of the writers of a shared index: the versioned state blob, fenced writes, the lock.

A separate small interface from records and search (`index/base.py`): a backend implements
`Coordinator` or does not, and `Index.coordination` says which (the router never guesses from a
method's signature). Plain data across it: state blobs are JSON-ready dicts, a lease is a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from semantic_router.errors import LockTimeout, StateConflict


@dataclass(frozen=True)
class LeaseToken:
    """Proof of holding an index's writers' lock: fenced state writes check it is still current."""

    token: str


class Coordinator(ABC):
    """Versioned shared state with fenced writes, and the writers' lease lock."""

    #: True when `write_state` honours `expected_version` and `lease` (the fence); a coordinator
    #: that cannot fence declares False, and writers then rely on the lock alone
    fences: ClassVar[bool] = True

    @abstractmethod
    def read_state(self) -> dict[str, Any] | None:
        """The stored router state blob, or None if none was written."""

    @abstractmethod
    def write_state(self, state: dict[str, Any], *, expected_version: int | None = None,
                    lease: LeaseToken | None = None) -> None:
        """Replace the stored router state blob, atomically and fenced.

        With `expected_version` the write happens only if the stored state's "version" is that
        number (0: no state stored yet); with `lease`, only while that lease still holds the
        writers' lock. Otherwise nothing is written and `StateConflict` is raised. Both None: an
        unconditional write (single-writer tools)."""

    @abstractmethod
    def lock(self, timeout: float = 10.0) -> contextlib.AbstractContextManager[LeaseToken]:
        """Context manager holding the writers' lock, yielding its `LeaseToken`; raises
        LockTimeout after `timeout` s."""

    # -- async twins: a worker thread unless the backend has a native async client -------------
    async def aread_state(self) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.read_state)

    async def awrite_state(self, state: dict[str, Any], *, expected_version: int | None = None,
                           lease: LeaseToken | None = None) -> None:
        await asyncio.to_thread(lambda: self.write_state(state, expected_version=expected_version, lease=lease))


@dataclass
class ThreadLock:
    """The writers' lock of an in-process index: a thread lock with a timeout.

    `holder` is the token of the current holder (None when free), for fenced state writes."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    holder: str | None = None

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[LeaseToken]:
        if not self._lock.acquire(timeout=max(timeout, 0.0)):
            raise LockTimeout(f"could not take the index lock within {timeout:.1f}s")
        self.holder = uuid.uuid4().hex
        try:
            yield LeaseToken(self.holder)
        finally:
            self.holder = None
            self._lock.release()


def check_fence(stored: dict[str, Any] | None, expected_version: int | None, holder: str | None,
                lease: LeaseToken | None) -> None:
    """Raise StateConflict unless a fenced write may replace `stored` (see `Coordinator.write_state`)."""
    if lease is not None and holder != lease.token:
        raise StateConflict("the index lock was lost (lease expired or taken over) before the state write")
    if expected_version is not None:
        found = 0 if stored is None else int(stored.get("version", 0))
        if found != expected_version:
            raise StateConflict(f"the shared state moved on: expected version {expected_version}, found {found}")
