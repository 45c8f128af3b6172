"""One router's records in Pinecone's shared meta index: the chunked router state and the lease.

The meta index (1-d, one per project) needs no dimension, so state and lock work before any
record exists. State is split into chunks under the 40 KB metadata cap, written first, then
switched on by a header record (generation, chunk count, SHA-256, version); stale chunks go last.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from semantic_router.errors import IndexBackendError
from semantic_router.index._common import decode_state
from semantic_router.index.lease import Lease

STATE_ID, LOCK_ID = "sr-state", "sr-lock"
_CHUNK = 30_000  # characters of state JSON per meta record


def meta_vector(vid: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {"id": vid, "values": [1.0], "metadata": metadata}


class MetaNamespace:
    """State and lease records of one router, under namespace `namespace` of the meta index.

    The owning index supplies the plumbing: `client(create)` gives the meta index's data-plane
    client (None if it does not exist and `create` is False), `call` runs one SDK call with
    retries, `fetch(ids, namespace, client)` and `write(vectors, namespace, client)` batch."""

    def __init__(self, label: str, namespace: str, client: Callable[[bool], Any], call: Callable[..., Any],
                 fetch: Callable[[Sequence[str], str, Any], dict[str, Any]],
                 write: Callable[[list[dict[str, Any]], str, Any], None]) -> None:
        self.label, self.namespace = label, namespace
        self._client, self._call, self._fetch, self._write = client, call, fetch, write

    def _get(self, vid: str) -> Any:
        client = self._client(False)
        return None if client is None else self._fetch([vid], self.namespace, client).get(vid)

    # -- state ----------------------------------------------------------------------------------
    def read_state(self) -> dict[str, Any] | None:
        for _ in range(3):
            head = self._get(STATE_ID)
            if head is None:
                return None
            meta = head.metadata
            names = [f"{STATE_ID}:{meta['gen']}:{i}" for i in range(int(meta["chunks"]))]
            parts = self._fetch(names, self.namespace, self._client(False))
            if len(parts) == len(names):
                text = "".join(parts[n].metadata["text"] for n in names)
                if hashlib.sha256(text.encode()).hexdigest() == meta["sha256"]:
                    return decode_state(text, f"Pinecone index {self.label!r}")
            time.sleep(0.2)  # a writer replaced the state meanwhile: read the new header
        raise IndexBackendError(f"the router state of Pinecone index {self.label!r} is incomplete (missing chunks)",
                                retryable=True)

    def stored_version(self) -> int:
        """The stored state's version (0 without a state)."""
        head = self._get(STATE_ID)
        if head is None:
            return 0
        if "version" in head.metadata:
            return int(head.metadata["version"])
        return int((self.read_state() or {}).get("version", 0))  # written before versions were in the header

    def write_state(self, state: dict[str, Any]) -> None:
        text = json.dumps(state)
        client = self._client(True)
        gen = uuid.uuid4().hex[:12]
        pieces = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
        chunks = [meta_vector(f"{STATE_ID}:{gen}:{i}", {"kind": "state_chunk", "gen": gen, "seq": i, "text": p})
                  for i, p in enumerate(pieces)]
        self._write(chunks, self.namespace, client)
        head = {"kind": "state", "gen": gen, "chunks": len(pieces), "sha256": hashlib.sha256(text.encode()).hexdigest()}
        if isinstance(state.get("version"), int):
            head["version"] = state["version"]
        self._call(client.upsert, vectors=[meta_vector(STATE_ID, head)], namespace=self.namespace)
        self._call(client.delete, filter={"kind": {"$eq": "state_chunk"}, "gen": {"$ne": gen}}, namespace=self.namespace)

    # -- lease store (see `lease.LeaseStore`) -------------------------------------------------------
    def read(self) -> Lease | None:
        got = self._get(LOCK_ID)
        if got is None:
            return None
        m = got.metadata
        return Lease(str(m["owner"]), float(m["expires"]), int(m["version"]))

    def swap(self, expected: Lease | None, new: Lease) -> bool:
        """An update-by-filter on the lease's version (Pinecone reports how many records matched).
        The first lease ever is seeded free by a plain upsert, which can race with another
        process's first lock: best effort, see `lease`."""
        client = self._client(True)
        if expected is None:
            expected = Lease("", 0.0, 0)
            seed = meta_vector(LOCK_ID, {"kind": "lock", "owner": "", "expires": 0.0, "version": 0})
            self._call(client.upsert, vectors=[seed], namespace=self.namespace)
        resp = self._call(client.update, filter={"kind": {"$eq": "lock"}, "version": {"$eq": expected.version}},
                          set_metadata={"owner": new.owner, "expires": new.expires, "version": new.version},
                          namespace=self.namespace)
        if resp.matched_records is not None:
            return resp.matched_records == 1
        got = self.read()
        return got is not None and (got.owner, got.version) == (new.owner, new.version)
