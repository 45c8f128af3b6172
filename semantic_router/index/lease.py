"""A writers' lock for remote indexes: a lease record (owner, expiry, version) changed only by
compare-and-set on its version.

The backend supplies the store: `read()` the current lease and `swap(expected, new)`, which writes
`new` only if the stored version still equals `expected.version` (or no lease exists when
`expected` is None) and says whether it did. How strong the lock is depends on that swap:

- Qdrant (server >= 1.16): a conditional upsert (`update_filter` on the version) that the server
  applies in order with every other write of the shard, then read back; a real compare-and-set.
- Pinecone: an update-by-filter on the version that reports how many records matched. Pinecone
  applies writes asynchronously, so within its replication lag two processes can both win.

So across processes the lock is best effort: it keeps well-behaved writers apart, and a lease
expires after `ttl` seconds if its holder dies (renewed in the background while held), but it is
not a fencing token. Expiry uses wall-clock time, so hosts need roughly synchronised clocks.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from semantic_router.errors import LockTimeout

log = logging.getLogger(__name__)


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
    def hold(self, timeout: float) -> Iterator[None]:
        owner = uuid.uuid4().hex
        held = self._acquire(owner, timeout)
        box = [held]
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(box, stop), daemon=True, name="sr-lease-renew")
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            try:
                self._store.swap(box[0], Lease("", 0.0, box[0].version + 1))
            except Exception:  # the lease then simply expires after ttl
                log.warning("could not release the index lock; it expires in %.0fs", self._ttl, exc_info=True)

    def _acquire(self, owner: str, timeout: float) -> Lease:
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = self._poll
        while True:
            current = self._store.read()
            now = time.time()
            if current is None or current.free(now):
                mine = Lease(owner, now + self._ttl, (current.version if current else 0) + 1)
                if self._store.swap(current, mine):
                    return mine
            left = deadline - time.monotonic()
            if left <= 0:
                who = "" if current is None else f" (held by {current.owner[:8]}, {current.expires - now:.1f}s left)"
                raise LockTimeout(f"could not take the index lock within {timeout:.1f}s{who}")
            time.sleep(min(left, delay * random.uniform(0.5, 1.5)))
            delay = min(delay * 1.5, 1.0)

    def _renew(self, box: list[Lease], stop: threading.Event) -> None:
        while not stop.wait(self._ttl / 3):
            held = box[0]
            new = Lease(held.owner, time.time() + self._ttl, held.version + 1)
            try:
                if self._store.swap(held, new):
                    box[0] = new
                else:
                    log.warning("index lock lease was taken over by another writer")
                    return
            except Exception:
                log.warning("could not renew the index lock lease", exc_info=True)
