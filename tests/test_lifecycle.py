"""close() / aclose() release every client an index or encoder opened; nothing leaks at exit."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import redis

from semantic_router.index.base import Record
from semantic_router.index.redis import RedisIndex

ROOT = Path(__file__).resolve().parent.parent


def test_qdrant_path_index_exits_without_noise(tmp_path):
    code = ("import numpy as np\n"
            "from semantic_router.index.qdrant import QdrantIndex\n"
            "from semantic_router.index.base import Record\n"
            f"idx = QdrantIndex(path={str(tmp_path)!r}, name='x')\n"
            "idx.upsert([Record('a', 'b', np.ones(4))])\n"
            "QdrantIndex(path=" + repr(str(tmp_path)) + ", name='y').count()\n"
            "print(idx.count())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (out.returncode, out.stdout.strip(), out.stderr) == (0, "1", "")


def test_qdrant_path_client_closes_with_its_last_index(tmp_path):
    from semantic_router.index.qdrant import QdrantIndex

    a, b = QdrantIndex(path=str(tmp_path), name="a"), QdrantIndex(path=str(tmp_path), name="b")
    a.upsert([Record("r", "u", np.ones(4))])
    a.close()
    assert b.count() == 0  # the shared store stays open for b
    b.close()
    again = QdrantIndex(path=str(tmp_path), name="a")  # the folder is free again: a new store opens it
    assert again.count() == 1
    again.close()


def _connections(raw: redis.Redis, name: str) -> int:
    return sum(1 for c in raw.client_list() if c.get("name") == f"semantic-router:{name}")


async def test_redis_close_and_aclose_release_every_connection(redis_url):
    name = f"life{uuid.uuid4().hex[:8]}"
    raw = redis.Redis.from_url(redis_url)
    idx = RedisIndex(redis_url, name=name)
    idx.upsert([Record("r", "u", np.ones(4, dtype=np.float32))])
    await idx.aquery(np.ones(4, dtype=np.float32))  # opens the async client of this loop
    assert _connections(raw, name) >= 2
    await idx.aclose()
    assert _connections(raw, name) == 0
    idx.drop()  # a later call reconnects
    idx.close()
    assert _connections(raw, name) == 0


async def test_local_index_and_encoders_close_as_no_ops(encoder):
    from semantic_router.encoders import BM25Encoder
    from semantic_router.index.local import LocalIndex

    for thing in (LocalIndex(), encoder, BM25Encoder()):
        thing.close()
        await thing.aclose()
    assert encoder.encode(["still works"]).shape == (1, 384)
