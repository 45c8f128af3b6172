"""QdrantIndex on in-process Qdrant (qdrant-client local mode), plus failure paths over HTTP."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from semantic_router.encoders.base import SparseVector
from semantic_router.errors import IndexBackendError, LockTimeout
from semantic_router.index.base import Record
from semantic_router.index.local import LocalIndex
from semantic_router.index.qdrant import QdrantIndex
from tests.test_pinecone_index import corpus, unit


def mem(**kw) -> QdrantIndex:
    return QdrantIndex(location=":memory:", name=kw.pop("name", f"q{uuid.uuid4().hex[:8]}"), **kw)


class Flaky:
    """Wraps a client; its next `failures` calls raise `error` (a dropped connection by default)."""

    def __init__(self, client: QdrantClient, failures: int, error: Exception | None = None) -> None:
        self._c, self.failures, self.calls = client, failures, 0
        self.error = error or ResponseHandlingException(httpx.ConnectError("connection reset"))

    def __getattr__(self, name: str):
        attr = getattr(self._c, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def wrapper(*args, **kwargs):
            self.calls += 1
            if self.failures > 0:
                self.failures -= 1
                raise self.error
            return attr(*args, **kwargs)

        return wrapper


class AsyncFace:
    """An async client over a sync in-process one, so the async driver runs on shared storage."""

    def __init__(self, client: QdrantClient) -> None:
        self._c, self.calls = client, 0

    def __getattr__(self, name: str):
        fn = getattr(self._c, name)

        async def wrapper(*args, **kwargs):
            self.calls += 1
            return fn(*args, **kwargs)

        return wrapper


def test_hybrid_matches_local_in_one_request():
    idx, local = mem(), LocalIndex()
    records = corpus()
    idx.upsert(records)
    local.upsert(records)
    rng = np.random.default_rng(11)
    qs = unit(rng, 5)
    sparse = [SparseVector.from_dict({int(i): float(rng.uniform(0.5, 3.0)) for i in rng.choice(40, 4, replace=False)})
              for _ in range(5)]
    calls = []
    real = idx._client.query_batch_points
    idx._client.query_batch_points = lambda *a, **k: calls.append(1) or real(*a, **k)
    got, want = idx.query_batch(qs, sparse, top_k=4), local.query_batch(qs, sparse, top_k=4)
    assert len(calls) == 1, "B hybrid queries travel as one batched request"
    for i in range(5):
        g, w = got.row(i), want.row(i)
        assert [h.id for h in g] == [h.id for h in w]
        assert [h.dense_score for h in g] == pytest.approx([h.dense_score for h in w], abs=1e-5)
        assert [h.sparse_score for h in g] == pytest.approx([h.sparse_score for h in w], abs=1e-5)
    routed = idx.query(qs[0], sparse[0], top_k=3, routes=["route1", "route3"])
    assert routed and {h.route for h in routed} <= {"route1", "route3"}
    assert idx.query(qs[0], top_k=3, routes=[]) == []


def test_paged_records_metadata_and_counted_deletes():
    idx = mem()
    rng = np.random.default_rng(5)
    records = [Record(f"r{i % 3}", f"u{i}", unit(rng)[0], metadata={"i": i, "nested": {"k": [i]}}) for i in range(600)]
    idx.upsert(records)
    assert idx.count() == 600 and idx.describe() == {"type": "qdrant", "dimensions": 16, "count": 600}
    got = {r.id: r for r in idx.records()}
    assert len(got) == 600 and got[records[7].id].metadata == {"i": 7, "nested": {"k": [7]}}
    assert sorted(idx.ids("r2")) == sorted(r.id for r in records if r.route == "r2")
    ids = [records[0].id, records[1].id, records[3].id, "not-a-uuid"]  # 0 and 3 are in r0
    assert idx.delete(ids=ids, route="r0") == 200 + 1
    assert idx.count() == 399
    with pytest.raises(ValueError, match="UUID"):
        idx.upsert([Record("a", "b", unit(rng)[0], id="plain-id")])


def test_state_lives_beside_the_records_and_drop_removes_everything():
    idx = mem()
    idx.write_state({"v": 1})
    idx.upsert(corpus(1, 2, sparse=False))
    names = {c.name for c in idx._client.get_collections().collections}
    assert {idx.name, f"{idx.name}__state"} <= names
    with idx.lock(timeout=1):
        pass
    idx.drop()
    left = {c.name for c in idx._client.get_collections().collections}
    assert not left & {idx.name, f"{idx.name}__state", f"{idx.name}__lock"}
    assert idx.count() == 0 and idx.read_state() is None


def test_two_objects_on_one_path_share_records_and_lock(tmp_path):
    a = QdrantIndex(path=str(tmp_path), name="shared")
    b = QdrantIndex(path=str(tmp_path), name="shared")
    assert a._client is b._client
    a.upsert(corpus(2, 2, sparse=False))
    assert b.count() == 4
    with a.lock(timeout=1.0), pytest.raises(LockTimeout), b.lock(timeout=0.2):
        pass
    with b.lock(timeout=1.0):
        pass
    a.drop()  # b's cached view is stale now: it recreates what it needs
    b.upsert(corpus(1, 1, sparse=False))
    b.write_state({"again": True})
    with b.lock(timeout=1.0):
        pass
    assert (a.count(), a.read_state()) == (1, {"again": True})


def test_lock_is_exclusive_across_threads_and_objects():
    client = QdrantClient(location=":memory:")
    objs = [QdrantIndex(client=client, name="locked") for _ in range(3)]
    inside, worst, errors = [0], [0], []
    guard = threading.Lock()

    def work(idx: QdrantIndex) -> None:
        try:
            for _ in range(3):
                with idx.lock(timeout=20):
                    with guard:
                        inside[0] += 1
                        worst[0] = max(worst[0], inside[0])
                    time.sleep(0.01)
                    with guard:
                        inside[0] -= 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(o,)) for o in objs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and worst[0] == 1


def test_expired_lease_is_taken_over():
    client = QdrantClient(location=":memory:")
    a, b = QdrantIndex(client=client, name="exp", lock_ttl=0.5), QdrantIndex(client=client, name="exp")
    a._lease._acquire("crashed-holder", 1.0)  # never released
    with pytest.raises(LockTimeout, match="held by"), b.lock(timeout=0.1):
        pass
    with b.lock(timeout=3.0):
        pass


def test_transient_errors_are_retried_and_others_reported():
    flaky = Flaky(QdrantClient(location=":memory:"), failures=2)
    idx = QdrantIndex(client=flaky, name="flaky")
    idx.upsert(corpus(1, 2))
    assert idx.count() == 2 and flaky.failures == 0
    flaky.error, flaky.failures = UnexpectedResponse(503, "Service Unavailable", b"busy", httpx.Headers()), 2
    assert idx.count() == 2
    flaky.error, flaky.failures, flaky.calls = UnexpectedResponse(400, "Bad Request", b"bad", httpx.Headers()), 1, 0
    with pytest.raises(IndexBackendError, match="400"):
        idx.count()
    assert flaky.calls == 1, "a 400 is not retried"


def test_dead_server_fails_fast_naming_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.warns(UserWarning, match="insecure"):  # qdrant-client's warning for an api key over http
        idx = QdrantIndex(url=url, api_key="very-secret", name="nowhere")
    t0 = time.monotonic()
    with pytest.raises(IndexBackendError, match=f"127.0.0.1:{port}"):
        idx.upsert(corpus(1, 1))
    assert time.monotonic() - t0 < 3.0
    assert idx.spec() == {"type": "qdrant", "name": "nowhere", "url": url}


async def test_dead_server_fails_fast_on_the_async_client_too():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    idx = QdrantIndex(url=f"http://127.0.0.1:{port}", name="nowhere")
    idx._dims_cache = 4  # as if the collection were known: the query goes straight to the async client
    t0 = time.monotonic()
    with pytest.raises(IndexBackendError, match=f"127.0.0.1:{port}") as err:
        await idx.aquery(np.ones(4, dtype=np.float32))
    assert time.monotonic() - t0 < 3.0 and idx._aclients, "the URL client's async twin was used"
    assert err.value.retryable and err.value.status is None
    await idx.aclose()
    assert not idx._aclients


async def test_queries_await_the_async_client_other_calls_run_in_threads():
    client = QdrantClient(location=":memory:")
    face = AsyncFace(client)
    idx = QdrantIndex(client=client, aclient=face, name="asy")
    records = corpus()
    await idx.aupsert(records)
    assert await idx.acount() == len(records) and face.calls == 0
    hit = (await idx.aquery(records[4].dense, records[4].sparse, top_k=1))[0]
    assert face.calls == 1, "one batched query request on the async client"
    assert hit.id == records[4].id and hit.sparse_score == pytest.approx(records[4].sparse.dot(records[4].sparse))
    await idx.awrite_state({"s": 1})
    assert await idx.aread_state() == {"s": 1} == idx.read_state()
    assert len(await idx.arecords("route2")) == 6
    assert await idx.adelete(route="route2") == 6
    plain = mem()  # in-process storage without an async client: the sync client in a worker thread
    await plain.aupsert(records[:3])
    assert await plain.acount() == 3
