"""Single-threaded BLAS while a block runs, shared safely by overlapping threads.

OpenBLAS runs one threaded call at a time per process: while a big product (a background refinement's
L-BFGS pass over 100,000 utterances) holds its thread pool, a query's tiny product waits behind it
(measured: single queries up to 1.3 s, p99 13-110 ms during a 100k refinement). Running such work on
one BLAS thread bounded the worst query at 3 ms and made the refinement itself no slower; small
products (the LDA head's) are also faster single-threaded on a busy machine.

The limit is process-global, so concurrent users (several routers' refiners, a change training an LDA
head meanwhile) share one: the first to enter sets it, the last to leave restores the thread counts
from before, never earlier, never forgotten, whichever threads they are.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController, threadpool_limits

T = TypeVar("T")


class SharedLimit:
    """A reference-counted `threadpool_limits(1, "blas")`: limited while at least one user is inside."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: threadpool_limits | None = None  # set by the first user, restored by the last

    @property
    def users(self) -> int:
        """Blocks inside the limit right now (all threads)."""
        return self._users

    @contextmanager
    def single_threaded(self) -> Iterator[None]:
        """BLAS on one thread until this block and every overlapping one have left."""
        with self._lock:
            if self._users == 0:
                self._limiter = in_control(lambda: controller().limit(limits=1, user_api="blas"))
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    limiter, self._limiter = self._limiter, None
                    if limiter is not None:
                        in_control(limiter.restore_original_limits)


_CONTROLLER: tuple[int, ThreadpoolController] | None = None


def controller() -> ThreadpoolController:
    """threadpoolctl's view of the loaded thread pools, kept while no module was imported since.

    Building one scans every loaded library (5-50 ms, measured: a tenth of an `add` at 1,000 utterances);
    a BLAS library only arrives with an import, so the number of imported modules says when to rescan."""
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    modules = len(sys.modules)
    if _CONTROLLER is None or _CONTROLLER[0] != modules:
        _CONTROLLER = (modules, ThreadpoolController())
    return _CONTROLLER[1]


def in_control(change: Callable[[], T]) -> T:
    """Run a thread-count `change` from any thread, then give up control again.

    threadpoolctl (3.8+) lets only one "controlling" thread change OpenBLAS's shared pool and silently
    ignores the others, while the first and the last user of the shared limit are often different
    threads (a refiner sets it, a change path restores it). The caller holds `SharedLimit`'s lock."""
    import threadpoolctl

    release = getattr(getattr(threadpoolctl, "OpenBLASController", None), "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
    try:
        return change()
    finally:
        if release is not None:
            release(force=True)


#: the process's one limit (BLAS thread pools are per process)
LIMIT = SharedLimit()


def single_threaded_blas() -> AbstractContextManager[None]:
    """Context manager: BLAS calls in the process run on one thread while the block runs (see the module doc)."""
    return LIMIT.single_threaded()
