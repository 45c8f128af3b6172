"""PineconeIndex factory for the contract suite.

By default every index lives in one in-process Pinecone emulator (tests/emulators/pinecone_local),
started lazily once per process and stopped at exit; the real SDK talks to it over HTTP. With
PINECONE_API_KEY set, indexes are created on the real service instead (slow: one per test).
"""

from __future__ import annotations

import atexit
import os
import threading

from semantic_router.index.pinecone import PineconeIndex
from tests.emulators.pinecone_local import PineconeEmulator

_emulator: PineconeEmulator | None = None
_lock = threading.Lock()


def emulator() -> PineconeEmulator:
    """The process-wide emulator, started on first use."""
    global _emulator
    with _lock:
        if _emulator is None:
            _emulator = PineconeEmulator().start()
            atexit.register(_emulator.stop)
        return _emulator


def make_index(name: str, **kwargs) -> PineconeIndex:
    key = os.environ.get("PINECONE_API_KEY")
    if key:
        return PineconeIndex(api_key=key, name=name, **kwargs)
    return PineconeIndex(api_key="pclocal", control_host=emulator().url, name=name, **kwargs)


def steal_lock(index: PineconeIndex) -> None:
    """Overwrite the lease record with another owner's, as if ours expired and another writer took it."""
    import time

    lease = {"owner": "intruder", "expires": time.time() + 60, "version": 10**6}
    index._meta().update(id="sr-lock", set_metadata=lease, namespace=f"{index.name}__{index.namespace}")
