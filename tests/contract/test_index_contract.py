"""What every Index backend must get right about records and search (plain data in, plain data out)."""

from __future__ import annotations

import numpy as np
import pytest

from semantic_router.encoders.base import SparseVector
from semantic_router.ids import record_id
from semantic_router.index.base import HitBatch, Record
from semantic_router.index.coordination import Coordinator

DIM = 8


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def rec(route: str, text: str, seed: int, sparse: dict | None = None, **kw) -> Record:
    return Record(route, text, unit(seed), None if sparse is None else SparseVector.from_dict(sparse), **kw)


def fill(index, n_routes=3, per_route=4, sparse=False):
    records = []
    for r in range(n_routes):
        for u in range(per_route):
            seed = r * 100 + u
            records.append(rec(f"route{r}", f"utterance {r}-{u}", seed, {r * 10 + u: 1.0} if sparse else None))
    index.upsert(records)
    return records


def test_upsert_is_idempotent_and_counts(index):
    records = fill(index)
    assert index.count() == len(records)
    index.upsert(records[:5])  # same ids again: nothing duplicated
    assert index.count() == len(records)
    assert sorted(index.ids()) == sorted(r.id for r in records)
    assert index.describe()["count"] == len(records)
    assert index.describe()["dimensions"] == DIM


def test_ids_are_stable_hashes_of_route_and_text(index):
    r = rec("a", "hello", 1)
    assert r.id == record_id("a", "hello") == rec("a", "hello", 2).id
    assert r.id != rec("b", "hello", 1).id


def test_upsert_replaces_vector_of_same_id(index):
    index.upsert([rec("a", "x", 1)])
    index.upsert([rec("a", "x", 2)])
    (stored,) = index.records()
    assert np.allclose(stored.dense, unit(2), atol=1e-5)


def test_records_round_trip_plain_data(index):
    records = fill(index, sparse=True)
    got = {r.id: r for r in index.records()}
    for r in records:
        g = got[r.id]
        assert (g.route, g.utterance) == (r.route, r.utterance)
        assert np.allclose(g.dense, r.dense, atol=1e-5)
        assert g.sparse is not None and g.sparse.to_dict() == pytest.approx(r.sparse.to_dict())
    assert {r.route for r in index.records("route1")} == {"route1"}
    assert len(index.records("route1")) == 4


def test_delete_by_ids_and_by_route(index):
    records = fill(index)
    assert index.delete(ids=[records[0].id, records[1].id]) == 2
    assert index.count() == len(records) - 2
    assert index.delete(route="route2") == 4
    assert {r.route for r in index.records()} == {"route0", "route1"}
    assert index.delete(ids=["no-such-id"]) == 0


def test_query_ranks_by_cosine(index):
    records = fill(index)
    q = records[5].dense
    hits = index.query(q, top_k=3)
    assert len(hits) == 3
    assert hits[0].id == records[5].id
    assert hits[0].dense_score == pytest.approx(1.0, abs=1e-4)
    expected = sorted(((float(r.dense @ q), r.id) for r in records), reverse=True)[:3]
    assert [h.id for h in hits] == [i for _, i in expected]
    assert [h.dense_score for h in hits] == pytest.approx([s for s, _ in expected], abs=1e-4)
    assert hits[0].route == records[5].route and hits[0].utterance == records[5].utterance


def test_query_route_filter(index):
    records = fill(index)
    hits = index.query(records[0].dense, top_k=5, routes=["route2"])
    assert hits and {h.route for h in hits} == {"route2"}


def test_query_batch_matches_single_queries(index):
    records = fill(index)
    qs = np.stack([records[i].dense for i in (0, 6, 11)])
    batch = index.query_batch(qs, top_k=4)
    assert isinstance(batch, HitBatch) and len(batch) == 3
    for i, q in enumerate(qs):
        single = index.query(q, top_k=4)
        assert [h.id for h in batch.row(i)] == [h.id for h in single]


def test_hybrid_scores_are_sparse_dot_products(index):
    records = fill(index, sparse=True)
    # a query whose dense vector is far from route1-2 but whose sparse vector matches it only
    q_sparse = SparseVector.from_dict({12: 0.5, 999: 3.0})
    hits = index.query(records[0].dense, q_sparse, top_k=2)
    by_id = {h.id: h for h in hits}
    target = records[4 + 2].id
    assert target in by_id, "the sparse top-k must be searched too"
    assert by_id[target].sparse_score == pytest.approx(0.5, abs=1e-5)
    assert by_id[target].dense_score == pytest.approx(float(records[6].dense @ records[0].dense), abs=1e-4)
    assert by_id[records[0].id].sparse_score == pytest.approx(0.0, abs=1e-6)


def test_wrong_dimension_is_refused(index):
    fill(index)
    with pytest.raises(ValueError, match="dimension"):
        index.query(np.ones(DIM + 1, dtype=np.float32))
    with pytest.raises(ValueError, match="dimension"):
        index.upsert([Record("a", "b", np.ones(DIM + 2, dtype=np.float32))])


def test_awkward_route_names(index):
    names = ['say "hi"', "a:b", "with space", "a-b", "x|y{z}"]
    index.upsert([rec(n, f"text {i}", i) for i, n in enumerate(names)])
    for i, n in enumerate(names):
        assert [r.route for r in index.records(n)] == [n]
        hits = index.query(unit(i), top_k=1, routes=[n])
        assert hits[0].route == n
    assert index.delete(route="a:b") == 1
    assert "a:b" not in {r.route for r in index.records()}


def test_coordination_is_declared_not_guessed(index):
    """`coordination` is a Coordinator or None: what the router shares through, declared by the backend."""
    assert index.coordination is None or isinstance(index.coordination, Coordinator)
    assert isinstance(index, Coordinator) == (index.coordination is not None)


def test_clear_removes_every_record(index):
    fill(index)
    index.clear()
    assert index.count() == 0 and index.records() == [] and index.ids() == []


def test_empty_index_queries_return_nothing(index):
    assert index.count() == 0
    assert index.query(unit(1), top_k=3) == []
    assert len(index.query_batch(np.stack([unit(1), unit(2)]), top_k=3)) == 2


async def test_async_twins(index):
    records = fill(index)
    await index.aupsert([rec("extra", "more", 77)])
    assert await index.acount() == len(records) + 1
    hits = await index.aquery(records[2].dense, top_k=1)
    assert hits[0].id == records[2].id
    assert await index.adelete(route="extra") == 1


async def test_close_and_aclose_release_clients_safely(index):
    fill(index)
    await index.aquery(unit(1), top_k=1)  # the native async path may open an async client
    await index.aclose()
    index.close()  # closing twice is harmless
