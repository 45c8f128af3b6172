"""LocalIndex factory for the contract suite."""

from semantic_router.index.local import LocalIndex


def make_index(name: str) -> LocalIndex:
    return LocalIndex()
