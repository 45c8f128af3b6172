"""Refiner: finishes a snapshot's staged (`pending`) decision rule in one background thread.

A change whose rule is too slow to train in the change path publishes at once with a fast interim
rule; the Refiner then trains the full rule from that snapshot's own vectors, off the query path,
and hands it to `install`, which publishes it only if that snapshot is still the current one (a
newer change trains from the newest rule and queues its own refinement). `wait` blocks until the
current rule is final: for fitting, evaluation and saving, which must see the rule that will serve.

The worker runs BLAS single-threaded (see `semantic_router._blas`: queries would otherwise wait
behind its big products), and `close` stops it within one training step and joins it. At interpreter
exit every live refiner is stopped and joined the same way, closed or not: a daemon thread still
inside a BLAS call when the BLAS library shuts down hung the exit.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable

from semantic_router._blas import single_threaded_blas
from semantic_router.decision.rules import RefineCancelled, Rule
from semantic_router.router.snapshot import Snapshot, held_vectors

log = logging.getLogger(__name__)

#: seconds `close` waits for a running refinement to stop (it checks between L-BFGS evaluations, about a
#: second each at 100,000 utterances / 1,000 routes on one BLAS thread)
JOIN_TIMEOUT = 5.0


class Refiner:
    """One daemon worker that refines the current snapshot's pending rule until none is pending.

    The worker always takes the newest snapshot, so a burst of changes costs one refinement per
    rule that is still current when the previous one finishes, not one per change."""

    def __init__(self, current: Callable[[], Snapshot], install: Callable[[Snapshot, Rule], bool]) -> None:
        self.current = current
        self.install = install
        self.lock = threading.Lock()
        self.worker: threading.Thread | None = None
        self.stopped = threading.Event()  # set by `stop`: nothing new starts, the running refinement aborts
        self.refinements = 0  # rules refined and published (tests and benchmarks read it)
        LIVE.add(self)

    @property
    def closed(self) -> bool:
        return self.stopped.is_set()

    def submit(self, snap: Snapshot) -> None:
        """Start the worker if `snap`'s rule is pending and none runs (no-op once closed)."""
        if not snap.rule.pending:
            return
        with self.lock:
            if self.closed or self.worker is not None:
                return
            self.worker = threading.Thread(target=self.loop, name="semantic-router-refine", daemon=True)
            self.worker.start()

    def loop(self) -> None:
        name = "staged"  # the rule's name, for the log lines
        try:
            with single_threaded_blas():
                while True:
                    with self.lock:  # decide to stop under the lock, so a concurrent `submit` starts a new worker
                        snap = self.current()
                        if self.closed or not snap.rule.pending:
                            self.worker = None
                            return
                    name = snap.rule.name
                    self.publish(snap, self.stopped.is_set)
        except RefineCancelled:
            log.debug("background refinement of the %s rule stopped: the router is closing", name)
        except Exception as exc:  # the interim keeps serving; `wait` retries in the caller's thread
            log.warning("refining the %s rule failed; its interim keeps serving: %s", name, exc)
        with self.lock:  # no `submit` replaced this worker meanwhile: it starts one only when there is none
            self.worker = None

    def publish(self, snap: Snapshot, should_stop: Callable[[], bool] | None = None) -> bool:
        """Refine `snap`'s rule and install it; False when a newer snapshot replaced `snap` meanwhile."""
        refined = snap.rule.refine(held_vectors(snap.vectors, snap.table.names), should_stop=should_stop)
        installed = self.install(snap, refined)
        if installed:
            self.refinements += 1
        return installed

    def wait(self) -> Rule:
        """The current rule once it is final: waits for the worker, else refines in this thread."""
        while True:
            snap = self.current()
            if not snap.rule.pending:
                return snap.rule
            with self.lock:
                worker = self.worker
            if worker is not None:
                worker.join()
                continue
            self.publish(snap)  # no worker (closed, or it failed): errors reach the caller

    def stop(self) -> None:
        """Nothing new starts; a refinement in progress aborts at its next training step (its interim keeps serving)."""
        with self.lock:
            self.stopped.set()

    def join(self, timeout: float = JOIN_TIMEOUT) -> bool:
        """Wait up to `timeout` seconds for the worker to end; False (and a log line) if it still runs."""
        with self.lock:
            worker = self.worker
        if worker is None or worker is threading.current_thread():
            return True
        worker.join(timeout)
        if worker.is_alive():
            log.warning("the background rule refinement did not stop within %.1f s", timeout)
            return False
        return True

    def close(self, timeout: float = JOIN_TIMEOUT) -> None:
        """`stop`, then `join` the worker (bounded by `timeout` seconds)."""
        self.stop()
        self.join(timeout)


class LiveRefiners:
    """Every refiner not yet garbage-collected, so interpreter exit can stop and join their workers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.refiners: weakref.WeakSet[Refiner] = weakref.WeakSet()

    def add(self, refiner: Refiner) -> None:
        with self.lock:
            self.refiners.add(refiner)

    def close_all(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Stop every refiner at once, then join each within one shared `timeout`."""
        with self.lock:
            refiners = list(self.refiners)
        for refiner in refiners:
            refiner.stop()
        deadline = time.monotonic() + timeout
        for refiner in refiners:
            refiner.join(max(0.0, deadline - time.monotonic()))


LIVE = LiveRefiners()
atexit.register(LIVE.close_all)
