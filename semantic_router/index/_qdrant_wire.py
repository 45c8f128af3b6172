"""Qdrant wire format for QdrantIndex: points, route filters, conditions, query results."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from qdrant_client import models

from semantic_router.index._common import Candidate, finite
from semantic_router.index.base import Record
from semantic_router.vectors import SparseVector

DENSE, SPARSE = "dense", "sparse"  # the collection's named vectors


def valid_id(value: str) -> bool:
    """Whether `value` can be a point id (Qdrant wants UUIDs or integers; records use UUIDs)."""
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def route_filter(routes: Sequence[str] | str | None) -> models.Filter | None:
    """Points of one route (a str) or of any of `routes`; None: no filter."""
    if routes is None:
        return None
    match: Any = models.MatchValue(value=routes) if isinstance(routes, str) else models.MatchAny(any=list(routes))
    return models.Filter(must=[models.FieldCondition(key="route", match=match)])


def equals(key: str, value: Any) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def sparse_of(vectors: Any) -> SparseVector | None:
    """The sparse vector among a point's named vectors, if any."""
    sv = vectors.get(SPARSE) if isinstance(vectors, dict) else None
    return None if sv is None else SparseVector(tuple(sv.indices), tuple(float(v) for v in sv.values))


def candidate(p: Any) -> Candidate:
    """A scored point as a hybrid-merge candidate."""
    vec = p.vector if isinstance(p.vector, dict) else {}
    return Candidate(str(p.id), p.payload["route"], p.payload["utterance"], float(p.score), vec.get(DENSE),
                     sparse_of(vec))


def to_point(r: Record) -> models.PointStruct:
    """The point stored for a record: named dense (+ sparse) vectors, payload {route, utterance, metadata}."""
    vector: dict[str, Any] = {DENSE: finite(r.dense)}
    if r.sparse is not None and len(r.sparse):
        vector[SPARSE] = models.SparseVector(indices=list(r.sparse.indices), values=list(r.sparse.values))
    payload = {"route": r.route, "utterance": r.utterance, "metadata": r.metadata}
    return models.PointStruct(id=r.id, vector=vector, payload=payload)
