"""PineconeIndex against the Pinecone emulator over real HTTP (the real `pinecone` SDK throughout)."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest
from pinecone import Pinecone
from pinecone._internal import http_client
from pinecone.errors.exceptions import PayloadTooLargeError

from semantic_router.encoders.base import SparseVector
from semantic_router.errors import IndexBackendError, LockTimeout
from semantic_router.index._pinecone_wire import to_vector
from semantic_router.index.base import Record
from semantic_router.index.local import LocalIndex
from semantic_router.index.pinecone import PineconeIndex
from tests.backends import dropped_after
from tests.backends.pinecone import emulator

DIM = 16


@pytest.fixture()
def emu():
    e = emulator()
    e.faults.clear()
    e.log.clear()
    http_client.get_budget_registry()._reset()  # the SDK's per-host retry budget is process-global
    yield e
    e.faults.clear()


@pytest.fixture()
def make(emu):
    def open_index(name: str, **kw) -> PineconeIndex:
        kw.setdefault("api_key", "pclocal")
        return PineconeIndex(name=name, control_host=emu.url, **kw)

    with dropped_after(open_index, prefix="p") as factory:
        yield factory


def unit(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def corpus(n_routes: int = 4, per_route: int = 6, sparse: bool = True, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    out = []
    for r in range(n_routes):
        for u in range(per_route):
            picks = rng.choice(40, 3, replace=False)
            sv = SparseVector.from_dict({int(i): float(rng.uniform(0.1, 2.0)) for i in picks})
            out.append(Record(f"route{r}", f"text {r}-{u}", unit(rng)[0], sv if sparse else None, {"n": u}))
    return out


def test_hybrid_creates_dotproduct_index_and_scores_like_local(make, emu):
    idx, local = make(), LocalIndex()
    records = corpus()
    idx.upsert(records)
    local.upsert(records)
    state = emu.indexes[idx.name]
    assert (state.metric, state.sparse) == ("dotproduct", True)
    assert idx.spec()["metric"] == "dotproduct" and idx.describe()["dimensions"] == DIM
    rng = np.random.default_rng(7)
    qs = unit(rng, 3)
    sparse = [SparseVector.from_dict({int(i): float(rng.uniform(0.5, 3.0)) for i in rng.choice(40, 4, replace=False)})
              for _ in range(3)]
    got, want = idx.query_batch(qs, sparse, top_k=4), local.query_batch(qs, sparse, top_k=4)
    for i in range(3):
        g, w = got.row(i), want.row(i)
        assert [h.id for h in g] == [h.id for h in w]
        assert [h.dense_score for h in g] == pytest.approx([h.dense_score for h in w], abs=1e-5)
        assert [h.sparse_score for h in g] == pytest.approx([h.sparse_score for h in w], abs=1e-5)
    assert len(got.row(0)) > 4, "the sparse top-k adds hits beyond the dense top-k"
    routed = idx.query(qs[0], sparse[0], top_k=3, routes=["route2"])
    assert routed and {h.route for h in routed} == {"route2"}


def test_dense_only_index_is_cosine_and_refuses_sparse_later(make, emu):
    idx = make()
    idx.upsert(corpus(sparse=False))
    assert emu.indexes[idx.name].metric == "cosine"
    hits = idx.query(corpus(sparse=False)[3].dense, SparseVector.from_dict({1: 1.0}), top_k=2)
    assert hits[0].id == corpus(sparse=False)[3].id and hits[0].sparse_score == 0.0
    with pytest.raises(ValueError, match="sparse"):
        idx.upsert(corpus()[:1])


def test_namespaces_isolate_tenants(make, emu):
    name = f"p{uuid.uuid4().hex[:10]}"
    a, b = make(name, namespace="tenant-a"), make(name, namespace="tenant-b")
    ra, rb = corpus(2, 3, seed=1), corpus(3, 3, seed=2)
    a.upsert(ra)
    b.upsert(rb)
    a.write_state({"who": "a"})
    b.write_state({"who": "b"})
    assert (a.count(), b.count()) == (6, 9)
    assert sorted(a.ids()) == sorted(r.id for r in ra)
    assert {h.id for h in a.query(rb[0].dense, top_k=20)} <= {r.id for r in ra}
    assert (a.read_state(), b.read_state()) == ({"who": "a"}, {"who": "b"})
    a.clear()
    assert (a.count(), a.read_state(), b.count(), b.read_state()) == (0, None, 9, {"who": "b"})
    a.drop()  # a tenant's drop leaves the shared index and the other tenant alone
    assert name in emu.indexes and b.count() == 9
    whole = make(name)
    whole.drop()  # the default namespace owns the index: dropping it deletes the index
    assert name not in emu.indexes
    b.upsert(rb[:2])  # b's cached host is stale now: it creates the index again
    assert b.count() == 2


def test_upserts_are_batched_under_the_request_limit(make, emu):
    idx = make()
    rng = np.random.default_rng(3)
    big = [Record("r", f"u{i}", unit(rng)[0], metadata={"blob": "x" * 15_000}) for i in range(200)]  # ~3 MB
    idx.upsert(big)
    sizes = [r["bytes"] for r in emu.log.requests if r["path"].endswith("/vectors/upsert")]
    assert len(sizes) >= 2 and max(sizes) <= 2 * 1024 * 1024
    assert idx.count() == 200
    assert {r.metadata["blob"] for r in idx.records()} == {"x" * 15_000}
    raw = Pinecone(api_key="pclocal", host=emu.url).index(host=emu.indexes[idx.name].host)
    with pytest.raises(PayloadTooLargeError):  # one request with everything: the service refuses it
        raw.upsert(vectors=[to_vector(r) for r in big])


def test_listing_is_paged_and_fetched_in_batches(make, emu):
    idx = make()
    rng = np.random.default_rng(4)
    records = [Record(f"r{i % 3}", f"u{i}", unit(rng)[0]) for i in range(250)]
    idx.upsert(records)
    emu.log.clear()
    assert sorted(idx.ids()) == sorted(r.id for r in records)
    assert len(emu.paths("/vectors/list")) == 3  # 100 ids per page
    emu.log.clear()
    assert len(idx.records()) == 250
    assert len(emu.paths("/vectors/fetch")) == 3  # fetched in batches, never one id at a time
    assert sorted(idx.ids("r1")) == sorted(r.id for r in records if r.route == "r1")
    assert idx.delete(route="r1") == len([r for r in records if r.route == "r1"])
    assert idx.count() == 250 - 83


def test_retries_injected_server_errors(make, emu, monkeypatch):
    monkeypatch.setattr(http_client, "_retry_sleep", lambda _s: None)
    idx = make()
    idx.upsert(corpus(1, 2))
    emu.log.clear()
    emu.faults.fail(500, times=5)  # more than the SDK's own 4 attempts: our retry layer is needed too
    idx.upsert(corpus(2, 3, seed=9))
    assert emu.faults.pending == 0 and len(emu.paths("/vectors/upsert")) == 6
    assert idx.count() == 6
    emu.faults.fail(429, times=2)
    assert idx.count() == 6
    emu.faults.fail(500, times=100)
    with pytest.raises(IndexBackendError, match="500"):
        idx.count()
    emu.faults.clear()


def test_bad_and_missing_api_key_give_clear_errors(make, emu, monkeypatch):
    idx = make(api_key="wrong-secret-key")
    emu.log.clear()
    with pytest.raises(IndexBackendError, match="401") as err:
        idx.upsert(corpus(1, 1))
    assert "API key" in str(err.value) and "wrong-secret-key" not in str(err.value)
    assert len(emu.log) == 1, "a 401 is not retried"
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    with pytest.raises(IndexBackendError, match="PINECONE_API_KEY"):
        PineconeIndex(name="x")


def test_spec_has_no_secret(make):
    idx = make(api_key="pclocal", dimensions=DIM, namespace="t1")
    spec = idx.spec()
    assert "pclocal" not in json.dumps(spec)
    assert spec == {"type": "pinecone", "name": idx.name, "namespace": "t1", "cloud": "aws", "region": "us-east-1",
                    "dimensions": DIM, "control_host": idx._control_host}


def test_lock_excludes_a_second_object_and_expires(make):
    name = f"p{uuid.uuid4().hex[:10]}"
    a, b = make(name), make(name, lock_ttl=1.0)
    with a.lock(timeout=1.0):
        t0 = time.monotonic()
        with pytest.raises(LockTimeout), b.lock(timeout=0.3):
            pass
        assert time.monotonic() - t0 < 2.0
    with b.lock(timeout=1.0):
        pass
    b._lease._acquire("crashed-holder", 1.0)  # a holder that never releases: its lease runs out
    with pytest.raises(LockTimeout), a.lock(timeout=0.2):
        pass
    with a.lock(timeout=3.0):
        pass


def test_state_larger_than_one_record_round_trips(make, emu):
    idx = make()
    state = {"routes": [{"name": f"r{i}", "utterances": [f"utterance number {j} of {i}" for j in range(50)]}
                        for i in range(100)]}
    assert len(json.dumps(state)) > 100_000
    idx.write_state(state)
    assert idx.read_state() == state
    idx.write_state({"small": True})
    assert idx.read_state() == {"small": True}
    meta = emu.indexes["semantic-router-meta"].namespaces[f"{idx.name}__"]
    assert len([i for i in meta if i.startswith("sr-state:")]) == 1, "old chunks are removed"


def test_state_and_lock_need_no_records_index(make, emu):
    idx = make()
    assert idx.read_state() is None and idx.count() == 0 and idx.records() == []
    other = make(idx.name)
    with idx.lock(timeout=1.0), pytest.raises(LockTimeout), other.lock(timeout=0.2):
        pass
    idx.write_state({"a": 1})
    assert other.read_state() == {"a": 1}
    assert idx.name not in emu.indexes, "state and lease live in the shared meta index"
    idx.upsert(corpus(1, 1))
    assert idx.name in emu.indexes and other.read_state() == {"a": 1}
    with pytest.raises(ValueError, match="configured for"):
        make(dimensions=DIM + 1).upsert(corpus(1, 1))


def async_clients(idx: PineconeIndex) -> int:
    return sum(len(per_loop) for per_loop in idx._aclients.values())


async def test_async_path_uses_the_async_client(make, emu):
    idx = make()
    records = corpus()
    await idx.aupsert(records)
    assert not async_clients(idx), "writes run the sync client in a worker thread"
    assert await idx.acount() == len(records)
    hits = await idx.aquery(records[5].dense, records[5].sparse, top_k=2)
    assert async_clients(idx) == 1, "queries went through the SDK's IndexAsyncio"
    assert hits[0].id == records[5].id
    assert hits[0].sparse_score == pytest.approx(records[5].sparse.dot(records[5].sparse))
    batch = await idx.aquery_batch(np.stack([r.dense for r in records[:3]]), top_k=1)
    assert [batch.row(i)[0].id for i in range(3)] == [r.id for r in records[:3]]
    await idx.awrite_state({"v": 1})
    assert await idx.aread_state() == {"v": 1}
    assert len(await idx.arecords("route1")) == 6
    emu.faults.fail(503, times=1)
    assert await idx.adelete(route="route1") == 6
    assert idx.count() == len(records) - 6
    await idx.aclose()
    assert not async_clients(idx)
