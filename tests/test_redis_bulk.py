"""RedisIndex bulk writes: records streamed chunk by chunk on one connection (semantic_router.index._redis_stream),
written by one script call per batch of records, an HDEL only for hashes that existed, error replies kept
in place (a refused record stops no other), and a dropped connection re-sent."""

from __future__ import annotations

import numpy as np
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from semantic_router.encoders.base import SparseVector
from semantic_router.errors import IndexBackendError
from semantic_router.index import _redis_stream
from semantic_router.index._redis_stream import CHUNK, WINDOW, stream
from semantic_router.index._redis_wire import WRITE_BATCH
from semantic_router.index.base import Record
from semantic_router.index.redis import RedisIndex

DIM = 8
N = (WINDOW + 2) * CHUNK + CHUNK // 2  # more chunks than the window, the last one partial


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def plain(n: int, seed: int = 0) -> list[Record]:
    return [Record(f"r{i % 7}", f"text {i}", unit(seed + i)) for i in range(n)]


def calls(client: redis.Redis, command: str) -> int:
    return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def test_overwriting_drops_optional_fields_only_where_a_hash_existed(private_redis):
    raw = redis.Redis.from_url(private_redis.url)
    idx = RedisIndex(private_redis.url, name="bulk")
    records = plain(N)
    old = [Record(r.route, r.utterance, unit(9000 + i), SparseVector.from_dict({i: 1.0}), {"n": i})
           for i, r in enumerate(records[:5])]
    idx.upsert(old)
    raw.config_resetstat()
    idx.upsert(records)  # 5 of them overwrite hashes holding sparse and metadata
    assert calls(raw, "hset") == N and calls(raw, "hdel") == 5
    assert calls(raw, "eval") == -(-N // WRITE_BATCH)  # one call (one reply) per batch, not per record
    got = {r.id: r for r in idx.records()}
    assert len(got) == N == idx.count()
    for r in records:
        g = got[r.id]
        assert (g.route, g.utterance, g.sparse, g.metadata) == (r.route, r.utterance, None, None)
        assert np.array_equal(g.dense, r.dense)
    raw.config_resetstat()
    idx.upsert(old[:2])  # optional fields come back; nothing to delete
    got = {r.id: r for r in idx.records()}
    assert calls(raw, "hdel") == 0 and got[old[1].id].metadata == {"n": 1} and got[old[1].id].sparse is not None


def test_an_error_reply_mid_stream_keeps_the_others_in_place(private_redis):
    raw = redis.Redis.from_url(private_redis.url)
    bad = CHUNK + 3  # in the second chunk
    raw.set(f"k:{bad}", "a string, not a hash")
    replies = stream(raw, list(range(N)), lambda i: ("HSET", f"k:{i}", "f", str(i)))
    assert isinstance(replies[bad], redis.exceptions.ResponseError) and "WRONGTYPE" in str(replies[bad])
    assert [r for i, r in enumerate(replies) if i != bad] == [1] * (N - 1)
    assert raw.hget(f"k:{N - 1}", "f") == str(N - 1).encode()

    idx = RedisIndex(private_redis.url, name="wrongtype")
    records = plain(N)
    raw.set(idx.record_prefix + records[CHUNK + 1].id, "not a hash")
    with pytest.raises(IndexBackendError, match="refused HSET.*WRONGTYPE"):
        idx.upsert(records)
    assert idx.count() == N - 1  # every other record landed (the store takes back a failed write)


def test_a_connection_dropped_mid_stream_is_re_sent(private_redis):
    client = redis.Redis.from_url(private_redis.url, retry=Retry(NoBackoff(), 3))
    killer = redis.Redis.from_url(private_redis.url)
    killed: list[int] = []

    def command(i: int) -> tuple:
        if i == CHUNK + 10 and not killed:  # building the 2nd chunk, the 1st sent
            killed.append(killer.client_kill_filter(_type="normal", skipme=True))
        return ("HSET", f"k:{i}", "f", str(i))

    killer.config_resetstat()
    replies = stream(client, list(range(N)), command)
    assert killed == [1] and calls(killer, "hset") > N  # the first attempt's chunks were sent again
    # the replies are the finishing attempt's: 0 for a hash the dropped one had written, else 1
    assert len(replies) == N and set(replies) <= {0, 1} and replies[-1] == 1
    assert all(killer.hget(f"k:{i}", "f") == str(i).encode() for i in (0, CHUNK, N - 1))


@pytest.mark.parametrize("hiredis", [True, False], ids=["hiredis", "redis-py packer"])
def test_both_packers_store_the_same_hashes(private_redis, monkeypatch, hiredis):
    if hiredis:  # declared in the redis extra, so always there
        assert _redis_stream.HIREDIS_AVAILABLE
    monkeypatch.setattr(_redis_stream, "HIREDIS_AVAILABLE", hiredis)
    idx = RedisIndex(private_redis.url, name="packers")
    records = [Record("天气 route", f"utterance {i} ü", unit(i), SparseVector.from_dict({i: 0.5}), {"i": [i]})
               for i in range(N)]
    idx.upsert(records)
    got = {r.id: r for r in idx.records()}
    assert len(got) == N
    for r in records:
        g = got[r.id]
        assert (g.route, g.utterance, g.metadata) == (r.route, r.utterance, r.metadata)
        assert g.sparse is not None and g.sparse.to_dict() == r.sparse.to_dict()
        assert np.array_equal(g.dense, r.dense)
    assert [h.id for h in idx.query(records[7].dense, top_k=1, routes=["天气 route"])] == [records[7].id]


def test_a_failure_mid_stream_leaves_no_pending_replies_on_a_pooled_connection(private_redis):
    client = redis.Redis.from_url(private_redis.url)
    client.set("marker", "value")

    def command(i: int) -> tuple:
        if i == 2 * CHUNK:  # two chunks sent, their replies unread
            raise ValueError("bad record")
        return ("HSET", f"k:{i}", "f", str(i))

    with pytest.raises(ValueError, match="bad record"):
        stream(client, list(range(N)), command)
    assert client.get("marker") == b"value"  # not a stale HSET reply
    assert client.hget(f"k:{CHUNK}", "f") == str(CHUNK).encode()
