"""Refiner: finishes a snapshot's staged (`pending`) decision rule in one background thread.

A change whose rule is too slow to train in the change path publishes at once with a fast interim
rule; the Refiner then trains the full rule from that snapshot's own vectors, off the query path,
and hands it to `install`, which publishes it only if that snapshot is still the current one (a
newer change trains from the newest rule and queues its own refinement). `wait` blocks until the
current rule is final: for fitting, evaluation and saving, which must see the rule that will serve.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from semantic_router.decision.rules import Rule
from semantic_router.router.snapshot import Snapshot

log = logging.getLogger(__name__)


class Refiner:
    """One daemon worker that refines the current snapshot's pending rule until none is pending.

    The worker always takes the newest snapshot, so a burst of changes costs one refinement per
    rule that is still current when the previous one finishes, not one per change."""

    def __init__(self, current: Callable[[], Snapshot], install: Callable[[Snapshot, Rule], bool]) -> None:
        self.current = current
        self.install = install
        self.lock = threading.Lock()
        self.worker: threading.Thread | None = None
        self.closed = False
        self.refinements = 0  # rules refined and published (tests and benchmarks read it)

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
        while True:
            with self.lock:  # decide to stop under the lock, so a concurrent `submit` starts a new worker
                snap = self.current()
                if self.closed or not snap.rule.pending:
                    self.worker = None
                    return
            try:
                self.publish(snap)
            except Exception as exc:  # the interim keeps serving; `wait` retries in the caller's thread
                log.warning("refining the %s rule failed; its interim keeps serving: %s", snap.rule.name, exc)
                with self.lock:
                    self.worker = None
                return

    def publish(self, snap: Snapshot) -> bool:
        """Refine `snap`'s rule and install it; False when a newer snapshot replaced `snap` meanwhile."""
        refined = snap.rule.refine({n: snap.vectors[n] for n in snap.table.names})
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

    def close(self) -> None:
        """Stop after the refinement in progress (if any); nothing new starts."""
        with self.lock:
            self.closed = True
