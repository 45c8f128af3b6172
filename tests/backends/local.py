"""LocalIndex factory for the contract suite."""

from semantic_router.index.local import LocalIndex


def make_index(name: str) -> LocalIndex:
    return LocalIndex()


def steal_lock(index: LocalIndex) -> None:
    """Make another writer the holder of the index lock, as if our lease had been taken over."""
    index._lease.holder = "intruder"
