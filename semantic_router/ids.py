"""Stable utterance ids shared by the router and every index backend.

`record_id` (id scheme 2) hashes an unambiguous encoding of (route, utterance), so no two
different pairs share an id. `legacy_record_id` is scheme 1, kept to find the records that
shared indexes written before scheme 2 still hold (they are migrated by the router's syncer).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring_ascii as quoted  # what json.dumps uses (ensure_ascii)

#: the id scheme `record_id` implements (stored in shared router states as ``id_scheme``)
ID_SCHEME = 2
#: (route, utterance) -> record id, and its batch form (route, utterances) -> ids in order
RecordId = Callable[[str, str], str]
RecordIds = Callable[[str, Iterable[str]], list[str]]

_ID_NAMESPACE = uuid.UUID("5b1f3f0e-8f0a-4a8e-9a55-6a1d2c1c0b7e")


def record_id(route: str, utterance: str) -> str:
    """A UUID (RFC 9562 version 8) made of the SHA-256 of the JSON array ``[route, utterance]``.

    The same utterance of the same route always gets this id, so it is never stored twice; JSON
    quoting keeps every pair distinct (no separator character a name could contain), lone
    surrogates included, and the UUID form suits every backend (Qdrant wants UUIDs)."""
    return record_ids(route, [utterance])[0]


def record_ids(route: str, utterances: Iterable[str]) -> list[str]:
    """`record_id(route, u)` for each of `utterances`, in order: the route's part of the hash is
    computed once (a build hashes 100,000 utterances; this is several times faster than per pair)."""
    if not isinstance(route, str):
        raise TypeError(f"route and utterance must be strings, got {type(route).__name__} for the route")
    # exactly the bytes of json.dumps([route, utterance], ensure_ascii=True): its own string escaper
    # and its default ", " separator, so ids stay those of every saved file and shared index
    head = hashlib.sha256(b"[" + quoted(route).encode("ascii") + b", ")
    out = []
    for utterance in utterances:
        if not isinstance(utterance, str):
            raise TypeError(f"route and utterance must be strings, got str and {type(utterance).__name__} "
                            f"for an utterance of route {route!r:.80}")
        h = head.copy()
        h.update((quoted(utterance) + "]").encode("ascii"))
        out.append(_uuid8(h.hexdigest()))
    return out


def _uuid8(hexdigest: str) -> str:
    """``str(uuid.UUID(bytes=digest[:16]))`` with the version (8) and RFC variant bits set, on hex text."""
    x = hexdigest
    return f"{x[:8]}-{x[8:12]}-8{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


# the variant nibble keeps its two low bits under the bits 10: 0..3 -> 8..b, 4..7 -> 8..b, ...
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def legacy_record_id(route: str, utterance: str) -> str:
    """Id scheme 1: a UUID5 of ``route + "\\x1f" + utterance``. Ambiguous (route ``a`` with
    utterance ``"b\\x1fc"`` and route ``"a\\x1fb"`` with ``"c"`` collide); only for migration."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{route}\x1f{utterance}"))


def legacy_record_ids(route: str, utterances: Iterable[str]) -> list[str]:
    """`legacy_record_id(route, u)` for each of `utterances`, in order (the batch form of scheme 1)."""
    return [legacy_record_id(route, u) for u in utterances]
