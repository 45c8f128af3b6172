"""Stable utterance ids shared by the router and every index backend.

`record_id` (id scheme 2) hashes an unambiguous encoding of (route, utterance), so no two
different pairs share an id. `legacy_record_id` is scheme 1, kept to find the records that
shared indexes written before scheme 2 still hold (they are migrated by the router's syncer).
"""

from __future__ import annotations

import hashlib
import json
import uuid

#: the id scheme `record_id` implements (stored in shared router states as ``id_scheme``)
ID_SCHEME = 2

_ID_NAMESPACE = uuid.UUID("5b1f3f0e-8f0a-4a8e-9a55-6a1d2c1c0b7e")


def record_id(route: str, utterance: str) -> str:
    """A UUID (RFC 9562 version 8) made of the SHA-256 of the JSON array ``[route, utterance]``.

    The same utterance of the same route always gets this id, so it is never stored twice; JSON
    quoting keeps every pair distinct (no separator character a name could contain), lone
    surrogates included, and the UUID form suits every backend (Qdrant wants UUIDs)."""
    if not isinstance(route, str) or not isinstance(utterance, str):
        raise TypeError(f"route and utterance must be strings, got {type(route).__name__} and "
                        f"{type(utterance).__name__}")
    digest = bytearray(hashlib.sha256(json.dumps([route, utterance], ensure_ascii=True).encode("ascii")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8: custom
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(digest)))


def legacy_record_id(route: str, utterance: str) -> str:
    """Id scheme 1: a UUID5 of ``route + "\\x1f" + utterance``. Ambiguous (route ``a`` with
    utterance ``"b\\x1fc"`` and route ``"a\\x1fb"`` with ``"c"`` collide); only for migration."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{route}\x1f{utterance}"))
