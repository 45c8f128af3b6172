"""Reading a shared route set's state from an index, validated: for code above the router (compat faces,
tools) that needs what the replicas share without reaching into the router's sync machinery."""

from __future__ import annotations

import typing

from semantic_router.router import sync
from semantic_router.router.sync import SharedState

if typing.TYPE_CHECKING:
    from semantic_router.index.base import Index

__all__ = ["SharedState", "read_shared_state"]


def read_shared_state(index: Index) -> SharedState | None:
    """The index's shared state, validated (`ConfigError`/`SyncError` naming the bad field), or None when the
    index holds none or cannot coordinate writers at all."""
    coordination = index.coordination
    raw = coordination.read_state() if coordination is not None else None
    return None if raw is None else sync.check_state(raw, "the index")
