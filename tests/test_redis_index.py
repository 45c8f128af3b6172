"""RedisIndex beyond the shared contract: key isolation, sharing between clients, the lease
lock, connection failures and restarts, HNSW, RESP3 clients and the native async path."""

from __future__ import annotations

import json
import threading
import time
import uuid

import numpy as np
import pytest
import redis
import redis.asyncio

from semantic_router.encoders.base import SparseVector
from semantic_router.errors import IndexBackendError, LockTimeout
from semantic_router.index.base import Record
from semantic_router.index.redis import RedisIndex, route_tag, strip_password
from tests.backends import dropped_after

DIM = 8


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def records(route: str, n: int = 3, seed: int = 0) -> list[Record]:
    return [Record(route, f"{route} says {i}", unit(seed + i), SparseVector.from_dict({i: 1.0})) for i in range(n)]


@pytest.fixture()
def make(redis_url):
    """RedisIndex factory on the session server; everything made is dropped afterwards."""
    def open_index(name: str, **kw) -> RedisIndex:
        return RedisIndex(kw.pop("url", redis_url), name=name, **kw)

    with dropped_after(open_index) as factory:
        yield factory


def test_prefix_isolation(make):
    base = uuid.uuid4().hex[:6]
    a, ab, ax = make(base), make(f"{base}-b"), make(f"{base}:rec:x")
    a.upsert(records("ra"))
    ab.upsert(records("rab", 4))
    ax.upsert(records("rax", 5))
    assert (a.count(), ab.count(), ax.count()) == (3, 4, 5)
    assert {r.route for r in a.records()} == {"ra"}
    assert sorted(a.ids()) == sorted(r.id for r in records("ra"))
    assert {h.route for h in a.query(unit(0), top_k=10)} == {"ra"}
    a.write_state({"v": 1})
    assert ab.read_state() is None
    a.clear()
    assert (a.count(), ab.count(), ax.count()) == (0, 4, 5)


def test_custom_prefix_with_glob_characters(make):
    odd = make(prefix=f"t[{uuid.uuid4().hex[:4]}]*")
    odd.upsert(records("r"))
    assert odd.prefix.endswith("*:") and len(odd.ids()) == 3
    assert odd.spec()["prefix"] == odd.prefix


def test_two_objects_on_one_name_share_records_and_state(make, redis_url):
    a = make()
    b = RedisIndex(redis_url, name=a.name)
    a.upsert(records("r1") + records("r2", seed=10))
    assert b.count() == 6
    assert b.query(unit(10), top_k=1)[0].route == "r2"
    b.write_state({"hash": "abc", "routes": ["r1", "r2"]})
    assert a.read_state() == {"hash": "abc", "routes": ["r1", "r2"]}
    assert b.delete(route="r1") == 3
    assert {r.route for r in a.records()} == {"r2"}


def test_lock_excludes_a_writer_on_another_client(make, redis_url):
    a = make()
    b = RedisIndex(redis_url, name=a.name)
    with a.lock(timeout=1.0):
        t0 = time.monotonic()
        with pytest.raises(LockTimeout, match=a.name), b.lock(timeout=0.3):
            pass
        assert 0.25 <= time.monotonic() - t0 < 1.5
    with b.lock(timeout=1.0):
        pass


def test_lease_of_a_dead_holder_expires(make, redis_url):
    a = make()
    raw = redis.Redis.from_url(redis_url)
    raw.set(a.lock_key, "token-of-a-crashed-process", px=400)  # holder died, never releases
    t0 = time.monotonic()
    with a.lock(timeout=5.0):
        assert time.monotonic() - t0 >= 0.2
        a.write_state({"writer": "survivor"})
    assert raw.get(a.lock_key) is None  # released by compare-and-delete


def test_live_holder_renews_its_lease(make, redis_url):
    a = make(lock_lease=0.3)
    b = RedisIndex(redis_url, name=a.name, lock_lease=0.3)
    with a.lock(timeout=1.0):
        time.sleep(0.8)  # longer than the lease: renewals keep it
        with pytest.raises(LockTimeout), b.lock(timeout=0.1):
            pass


def test_release_never_deletes_another_owners_lock(make, redis_url):
    a = make(lock_lease=0.2)
    raw = redis.Redis.from_url(redis_url)
    with a.lock(timeout=1.0):
        raw.set(a.lock_key, "someone-else", px=5000)  # as if our lease had been lost
        time.sleep(0.1)
    assert raw.get(a.lock_key) == b"someone-else"
    raw.delete(a.lock_key)


def test_server_down_at_construction_names_the_url():
    from tests.redis_server import (
        free_port,  # a plugin module: imported by pytest first
    )

    url = f"redis://user:secret@127.0.0.1:{free_port()}/0"
    t0 = time.monotonic()
    with pytest.raises(IndexBackendError, match="127.0.0.1") as err:
        RedisIndex(url, name="nothing-there")
    assert time.monotonic() - t0 < 3.0
    assert "secret" not in str(err.value) and strip_password(url) in str(err.value)


def test_wrong_password_fails_fast_without_leaking_it(private_redis):
    redis.Redis.from_url(private_redis.url).config_set("requirepass", "right")
    url = private_redis.url.replace("//", "//:n0t-th1s-0ne@")
    t0 = time.monotonic()
    with pytest.raises(IndexBackendError, match=private_redis.url.split("//")[1]) as err:
        RedisIndex(url, name="auth")
    assert "n0t-th1s-0ne" not in str(err.value) and time.monotonic() - t0 < 2.0
    assert RedisIndex(private_redis.url.replace("//", "//:right@"), name="auth").count() == 0


def test_restarted_server_serves_the_next_upsert(private_redis):
    idx = RedisIndex(private_redis.url, name="restart", retries=6)
    idx.upsert(records("before"))
    private_redis.restart()  # an empty server on the same port; pooled connections are stale
    idx.upsert(records("after"))
    assert {r.route for r in idx.records()} == {"after"}
    assert idx.query(unit(0), top_k=1)[0].route == "after"


def test_transient_outage_is_retried(private_redis):
    idx = RedisIndex(private_redis.url, name="outage", retries=6)
    idx.upsert(records("r"))
    private_redis.kill()
    restarter = threading.Thread(target=private_redis.restart, kwargs={"delay": 0.3})
    restarter.start()
    try:
        assert idx.read_state() is None  # fails while down, succeeds after the restart
    finally:
        restarter.join()
    idx.upsert(records("r"))
    assert idx.count() == 3


def test_server_gone_for_good_raises_backend_error(private_redis):
    idx = RedisIndex(private_redis.url, name="gone", retries=1)
    private_redis.kill()
    with pytest.raises(IndexBackendError, match=private_redis.url.split("//")[1]):
        idx.upsert(records("r"))


def test_hnsw_algorithm(make):
    idx = make(algorithm="hnsw")
    recs = [Record(f"r{i % 4}", f"text {i}", unit(i)) for i in range(60)]
    idx.upsert(recs)
    hits = idx.query(recs[17].dense, top_k=3)
    assert hits[0].id == recs[17].id and hits[0].dense_score == pytest.approx(1.0, abs=1e-4)
    assert idx.describe() | {"count": 60} == {"type": "redis", "dimensions": DIM, "count": 60,
                                             "name": idx.name, "algorithm": "hnsw", "dtype": "float32"}
    assert idx.spec() == {"type": "redis", "url": idx.url, "name": idx.name, "algorithm": "hnsw"}


def test_spec_strips_the_password(redis_url):
    port = redis_url.rsplit(":", 1)[1]
    url = f"redis://admin:s3cret@127.0.0.1:{port}/0?password=s3cret&health_check_interval=2"
    idx = RedisIndex(url, name="spec", client=redis.Redis.from_url(redis_url))
    assert idx.spec()["url"] == f"redis://admin@127.0.0.1:{port}/0?health_check_interval=2"
    assert "s3cret" not in repr(idx.spec())


def test_resp3_client_is_understood(make, redis_url):
    idx = make(client=redis.Redis.from_url(redis_url, protocol=3))
    idx.upsert(records("a:b") + records("c", seed=5))
    assert idx.count() == 6 and len(idx.records("a:b")) == 3
    hits = idx.query(unit(5), SparseVector.from_dict({1: 2.0}), top_k=1, routes=["c"])
    assert hits[0].route == "c" and hits[0].sparse_score == pytest.approx(0.0)


def test_requests_are_pipelined(make, monkeypatch):
    idx = make()
    idx.upsert([Record(f"r{i % 3}", f"t{i}", unit(i)) for i in range(1200)])
    calls: list[int] = []
    real = idx._send
    monkeypatch.setattr(idx, "_send", lambda cmds: calls.append(len(cmds)) or real(cmds))
    batch = idx.query_batch(np.stack([unit(i) for i in range(16)]), top_k=3)
    assert len(batch) == 16 and len(calls) == 1  # 16 searches, one round trip
    scans: list[int] = []
    real_scan = idx._client.scan
    monkeypatch.setattr(idx._client, "scan", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    assert len(idx.ids()) == 1200 and 1 <= len(scans) < 10  # SCAN pages, not one call per id
    calls.clear()
    assert idx.delete(route="r1") == 400 and len(calls) <= 3


def test_route_names_that_tags_would_mangle(make):
    names = [" a", "a", "A", "a,b", "tab\there", "back\\slash", "天气", "(x)*$y"]
    idx = make()
    idx.upsert([Record(n, f"text {i}", unit(i)) for i, n in enumerate(names)])
    for i, n in enumerate(names):
        assert [r.route for r in idx.records(n)] == [n]
        assert [h.route for h in idx.query(unit(i), top_k=3, routes=[n])] == [n]
    assert idx.delete(route="a") == 1 and idx.count() == len(names) - 1


def test_route_tag_is_plain_hex_per_name():
    tags = {route_tag(n) for n in ["a", " a", "A", "a\u00a0", "a\u3000", "a\x1f", "\ud800"]}
    assert len(tags) == 7 and all(len(t) == 32 and set(t) <= set("0123456789abcdef") for t in tags)


def test_schema_1_index_is_migrated_on_open(make, redis_url):
    """An index written before route tags (a `route` TAG, no `rt` field) filters right once reopened."""
    idx = make()
    raw = redis.Redis.from_url(redis_url)
    raw.execute_command("FT.CREATE", idx.index_name, "ON", "HASH", "PREFIX", 1, idx.record_prefix, "SCHEMA",
                        "route", "TAG", "SEPARATOR", "\x1f", "CASESENSITIVE", "dense", "VECTOR", "FLAT", 6,
                        "TYPE", "FLOAT32", "DIM", DIM, "DISTANCE_METRIC", "COSINE")
    raw.set(idx.meta_key, json.dumps({"dims": DIM, "algorithm": "flat"}))
    for i, route in enumerate(["a b", "a\u3000b", "a b"]):
        rid = f"old-{i}"
        raw.hset(idx.record_prefix + rid, mapping={"id": rid, "route": route, "utterance": f"u{i}",
                                                   "dense": unit(i).tobytes()})
    reopened = RedisIndex(redis_url, name=idx.name)
    assert sorted(reopened.ids("a b")) == ["old-0", "old-2"] and reopened.ids("a\u3000b") == ["old-1"]
    assert [h.route for h in reopened.query(unit(1), top_k=3, routes=["a\u3000b"])] == ["a\u3000b"]
    assert reopened.delete(route="a b") == 2 and reopened.count() == 1
    assert json.loads(raw.get(idx.meta_key))["schema"] == 2


async def test_async_path_uses_redis_asyncio(make):
    idx = make()
    await idx.aupsert(records("r1") + records("r2", seed=10))
    assert await idx.acount() == 6
    batch = await idx.aquery_batch(np.stack([unit(0), unit(10)]), top_k=2)
    assert [h.route for h in batch.row(1)][0] == "r2"
    hits = await idx.aquery(unit(0), SparseVector.from_dict({2: 1.0}), top_k=1)
    assert hits[0].id == records("r1")[0].id and hits[0].sparse_score == 0.0
    assert len(hits) == 2 and hits[1].sparse_score == pytest.approx(1.0)  # sparse top-1 joins
    await idx.awrite_state({"v": 2})
    assert await idx.aread_state() == {"v": 2}
    assert await idx.adelete(route="r2") == 3
    assert len(await idx.arecords()) == 3
    assert isinstance(idx._async_client(), redis.asyncio.Redis)
    await idx.aclose()


async def test_concurrent_async_queries_wait_for_a_connection_instead_of_failing(make, redis_url):
    """200 concurrent `acall`s: redis-py's async pool raised MaxConnectionsError past 100 connections
    (half of them failed); the index's pool makes them wait for one (bounded), and all succeed."""
    import asyncio

    from semantic_router import Route, RouteLayer
    from tests.hash_encoder import HashEncoder

    routes = [Route(name="greet", utterances=["hello there", "good morning"])]
    for name, options in ((f"pool{uuid.uuid4().hex[:8]}", {}), (f"pool{uuid.uuid4().hex[:8]}", {"max_connections": 8})):
        rl = RouteLayer(encoder=HashEncoder(), routes=routes, index=make(name, **options), rule="knn")
        answers = await asyncio.gather(*[rl.acall("hello there") for _ in range(200)], return_exceptions=True)
        assert [getattr(a, "name", a) for a in answers] == ["greet"] * 200
        ours = [c for c in redis.Redis.from_url(redis_url).client_list() if c["name"] == f"semantic-router:{name}"]
        assert len(ours) <= options.get("max_connections", 64) + 1  # the async pool's cap, plus the sync client
        await rl.aclose()
    with pytest.raises(ValueError, match="max_connections"):
        RedisIndex(redis_url, name=name, max_connections=0)


@pytest.mark.parametrize("dtype,width", [("float16", 2), ("bfloat16", 2), ("float64", 8)])
def test_vectors_are_stored_in_the_given_dtype(make, redis_url, dtype, width):
    idx = make(f"dt-{uuid.uuid4().hex[:6]}", dtype=dtype)
    recs = records("r", 6)
    idx.upsert(recs)
    raw = redis.Redis.from_url(redis_url)
    assert len(raw.hget(idx.record_prefix + recs[0].id, "dense")) == DIM * width
    hit = idx.query(recs[2].dense, top_k=1)[0]
    assert hit.id == recs[2].id and hit.dense_score == pytest.approx(1.0, abs=1e-2)
    assert idx.describe()["dtype"] == idx.spec()["dtype"] == dtype
    reopened = RedisIndex(redis_url, name=idx.name)  # no dtype: the stored one
    assert reopened.dtype == dtype and reopened.query(recs[4].dense, top_k=1)[0].id == recs[4].id
    stored = {r.id: r.dense for r in reopened.records("r")}
    np.testing.assert_allclose(stored[recs[0].id], recs[0].dense, atol=1e-2)
    other = RedisIndex(redis_url, name=idx.name, dtype="float32")  # a mismatch is refused, never misread
    with pytest.raises(ValueError, match=f"stored as {dtype}, not of dimension {DIM} stored as float32 "
                                         f"\\(open it with dtype='{dtype}'"):
        other.query(unit(0))
    with pytest.raises(ValueError, match="dimension"):
        other.upsert(records("s"))
    assert len(other.records()) == 6  # read as stored
    other.clear()
    other.upsert(records("s"))  # an empty index is remade in the new type
    assert other.describe()["dtype"] == "float32" and other.query(unit(1), top_k=1)[0].route == "s"
    raw.set(idx.meta_key, json.dumps({"dims": DIM, "algorithm": "flat", "schema": 2, "dtype": "int7"}))
    with pytest.raises(IndexBackendError, match="is corrupt"):  # a layout naming no known type
        RedisIndex(redis_url, name=idx.name)


def test_unknown_dtype_is_refused_before_connecting():
    with pytest.raises(ValueError, match="vector dtype must be one of .*'float16'.*got 'int8'"):
        RedisIndex("redis://127.0.0.1:1", name="x", dtype="int8")
