"""Stable utterance ids shared by the layer and every index backend."""

from __future__ import annotations

import uuid

_ID_NAMESPACE = uuid.UUID("5b1f3f0e-8f0a-4a8e-9a55-6a1d2c1c0b7e")


def record_id(route: str, utterance: str) -> str:
    """A UUID5 of route name and text: the same utterance of the same route always has this id,
    so it is never stored twice, and the form is valid for every backend (Qdrant wants UUIDs)."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{route}\x1f{utterance}"))
