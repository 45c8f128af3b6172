"""A writers' lock for remote indexes: a lease record (owner, expiry, version) changed only by
compare-and-set on its version.

The backend supplies the store: `read()` the current lease and `swap(expected, new)`, which writes
`new` only if the stored version still equals `expected.version` (or no lease exists when
`expected` is None) and says whether it did. How strong the lock is depends on that swap:

- Qdrant (server >= 1.16): a conditional upsert (`update_filter` on the version) that the server
  applies in order with every other write of the shard, then read back; a real compare-and-set.
- Pinecone: an update-by-filter on the version that reports how many records matched. Pinecone
  applies writes asynchronously, so within its replication lag two processes can both win.

So across processes the lock keeps well-behaved writers apart, and a lease expires after `ttl`
seconds if its holder dies (renewed in the background while held). The lock alone is no fence: a
frozen holder may resume after its lease expired, so state writes are also conditioned on the
stored version (see each backend's `write_state`), and `holds()` re-checks the lease before them.
Expiry uses wall-clock time, so hosts need roughly synchronised clocks.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_result, wait_exponential, wait_random

from semantic_router.errors import LockTimeout
from semantic_router.index.coordination import LeaseToken

log = logging.getLogger(__name__)
T = TypeVar("T")


def poll_until(attempt: Callable[[], T | None], timeout: float, failure: Callable[[], str],
               poll: float = 0.05, max_delay: float = 1.0) -> T:
    """Call `attempt` until it returns something, backing off exponentially with jitter (tenacity),
    never sleeping past `timeout` (one last try at it); LockTimeout with `failure()` after that."""
    deadline = time.monotonic() + max(timeout, 0.0)
    backoff = wait_exponential(multiplier=poll, max=max_delay, exp_base=1.5) + wait_random(0, poll)

    def wait(state: RetryCallState) -> float:
        return max(0.0, min(deadline - time.monotonic(), backoff(state)))

    def give_up(state: RetryCallState) -> T:
        raise LockTimeout(failure())

    retrying = Retrying(retry=retry_if_result(lambda got: got is None), wait=wait,
                        stop=lambda state: time.monotonic() >= deadline, retry_error_callback=give_up)
    return retrying(attempt)


@contextlib.contextmanager
def renewed(renew: Callable[[], bool], release: Callable[[], None], interval: float, what: str) -> Iterator[None]:
    """Hold a taken lease: `renew()` every `interval` s in the background (it returns False once the
    lease was lost), and `release()` on exit; a failed release just lets the lease expire."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                if not renew():
                    log.warning("lost %s: its lease was taken over or expired before renewal", what)
                    return
            except Exception:
                log.warning("could not renew %s", what, exc_info=True)

    renewer = threading.Thread(target=loop, daemon=True, name="sr-lease-renew")
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        try:
            release()
        except Exception:  # the lease then simply expires
            log.warning("could not release %s; it expires on its own", what, exc_info=True)


@dataclass(frozen=True)
class Lease:
    """The stored lock record; an empty owner or a past expiry means free."""

    owner: str
    expires: float
    version: int

    def free(self, now: float) -> bool:
        return not self.owner or self.expires <= now


class LeaseStore(Protocol):
    def read(self) -> Lease | None:
        """The stored lease, or None if none was ever written."""

    def swap(self, expected: Lease | None, new: Lease) -> bool:
        """Store `new` iff the stored lease is still `expected` (same version); True if it did."""


class LeaseLock:
    """Acquire by swapping a free (or expired) lease for one we own; renew it while held; free it
    on exit. Each `hold()` is a new owner, so a second `hold()` waits even in the same object."""

    def __init__(self, store: LeaseStore, ttl: float = 30.0, poll: float = 0.05) -> None:
        if ttl <= 0:
            raise ValueError(f"lock ttl must be positive, got {ttl}")
        self._store, self._ttl, self._poll = store, ttl, poll

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[LeaseToken]:
        """Hold the lock, yielding the owner's `LeaseToken` (for fenced state writes)."""
        owner = uuid.uuid4().hex
        box = [self._acquire(owner, timeout)]

        def renew() -> bool:
            new = Lease(owner, time.time() + self._ttl, box[0].version + 1)
            if not self._store.swap(box[0], new):
                return False
            box[0] = new
            return True

        with renewed(renew, lambda: self._store.swap(box[0], Lease("", 0.0, box[0].version + 1)),
                     self._ttl / 3, "the index lock"):
            yield LeaseToken(owner)

    def holds(self, lease: LeaseToken) -> bool:
        """Whether `lease` still holds the lock right now (its owner's lease stored and unexpired)."""
        current = self._store.read()
        return current is not None and current.owner == lease.token and not current.free(time.time())

    def _acquire(self, owner: str, timeout: float) -> Lease:
        """Take the lease for `owner` (no renewal, no release: what a crashed holder leaves behind)."""
        seen: list[tuple[Lease | None, float]] = [(None, time.time())]
        return poll_until(lambda: self._try(owner, seen), timeout, lambda: self._busy(seen[0]), self._poll)

    def _try(self, owner: str, seen: list[tuple[Lease | None, float]]) -> Lease | None:
        current = self._store.read()
        now = time.time()
        seen[0] = (current, now)
        if current is None or current.free(now):
            mine = Lease(owner, now + self._ttl, (current.version if current else 0) + 1)
            if self._store.swap(current, mine):
                return mine
        return None

    @staticmethod
    def _busy(last: tuple[Lease | None, float]) -> str:
        current, now = last
        who = "" if current is None else f" (held by {current.owner[:8]}, {current.expires - now:.1f}s left)"
        return f"could not take the index lock{who}"
