"""Pinecone wire format for PineconeIndex: records <-> vectors with metadata, query matches."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from semantic_router.index._common import Candidate, finite
from semantic_router.index.base import Record
from semantic_router.vectors import SparseVector


def sparse_of(raw: Any) -> SparseVector | None:
    """An SDK sparse-values object as a SparseVector (None when empty)."""
    if raw is None or not raw.indices:
        return None
    return SparseVector(tuple(int(i) for i in raw.indices), tuple(float(v) for v in raw.values))


def to_vector(r: Record) -> dict[str, Any]:
    """The upsert payload of a record: values, sparse values, metadata {route, utterance, sr_metadata}."""
    meta: dict[str, Any] = {"route": r.route, "utterance": r.utterance}
    if r.metadata is not None:
        meta["sr_metadata"] = json.dumps(r.metadata)
    out: dict[str, Any] = {"id": r.id, "values": finite(r.dense), "metadata": meta}
    if r.sparse is not None and len(r.sparse):
        out["sparse_values"] = {"indices": list(r.sparse.indices), "values": list(r.sparse.values)}
    return out


def to_record(v: Any) -> Record:
    """The record a fetched vector holds."""
    meta = v.metadata or {}
    extra = json.loads(meta["sr_metadata"]) if "sr_metadata" in meta else None
    return Record(meta["route"], meta["utterance"], np.asarray(v.values, dtype=np.float32),
                  sparse_of(v.sparse_values), extra, v.id)


def candidate(m: Any, score: float) -> Candidate:
    """A query match as a hybrid-merge candidate scored `score`."""
    meta = m.metadata or {}
    return Candidate(m.id, meta.get("route", ""), meta.get("utterance", ""), score, m.values or None,
                     sparse_of(m.sparse_values))
