"""The build path of a router (ids, vectors, records, index rows) gives the same result per route
however its vectors were found: encoded in one batch, kept from the last snapshot, or read back."""

from __future__ import annotations

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router.ids import record_id
from semantic_router.index.base import Record
from semantic_router.index.local import LocalIndex
from semantic_router.router.snapshot import unit_rows
from tests.hash_encoder import HashEncoder

ROUTES = [
    Route(name="weather", utterances=["will it rain today", "how hot is it", "is it sunny"]),
    Route(name="music", utterances=["play some jazz", "next song please"]),
    Route(name="emoji \U0001F600", utterances=["a\x00b", "c\x1fd", "\U0001D11E clef"]),
]


class CountingIndex(LocalIndex):
    """A LocalIndex that counts the per-route reads (each is a round trip on a remote index)."""

    def __init__(self) -> None:
        super().__init__()
        self.route_reads = 0

    def records(self, route=None):
        self.route_reads += route is not None
        return super().records(route)


def reference_unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    x = x / np.max(np.abs(x), axis=1, keepdims=True)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def check_router(rl: RouteLayer, encoder: HashEncoder) -> None:
    """Ids, snapshot vectors and index rows of every route are what each utterance alone gives."""
    snap = rl.snapshot
    stored = {r.id: r for r in rl.index.records()}
    for route in rl.routes:
        utterances = route.utterances
        assert list(snap.ids[route.name]) == utterances
        assert list(snap.ids[route.name].values()) == [record_id(route.name, u) for u in utterances]
        expected = reference_unit_rows(encoder.encode(utterances))
        np.testing.assert_allclose(snap.vectors[route.name], expected, atol=1e-6)
        assert not snap.vectors[route.name].flags.writeable
        for u, i in snap.ids[route.name].items():
            assert (stored[i].route, stored[i].utterance) == (route.name, u)
            np.testing.assert_allclose(stored[i].dense, encoder.encode([u])[0], atol=1e-6)
    assert len(stored) == sum(len(r.utterances) for r in rl.routes)


def test_a_build_encodes_once_and_never_reads_an_empty_index():
    encoder, index = HashEncoder(), CountingIndex()
    rl = RouteLayer(encoder=encoder, routes=ROUTES, index=index)
    assert encoder.calls == sum(len(r.utterances) for r in ROUTES)
    assert index.route_reads == 0  # nothing to read back: a remote index is spared one round trip per route
    check_router(rl, encoder)
    rl.close()


def test_edits_keep_or_encode_only_what_they_must():
    encoder, index = HashEncoder(), CountingIndex()
    rl = RouteLayer(encoder=encoder, routes=ROUTES, index=index)
    untouched = rl.snapshot.vectors["music"]
    calls = encoder.calls
    rl.add_utterances("weather", ["storm tonight", "will it rain today"])  # one new, one already there
    rl.delete_utterances("emoji \U0001F600", [record_id("emoji \U0001F600", "c\x1fd")])
    assert encoder.calls == calls + 1
    assert rl.snapshot.vectors["music"] is untouched
    check_router(rl, encoder)
    calls = encoder.calls
    rl.add(Route(name="food", utterances=["order a pizza", "burger please"]))
    assert encoder.calls == calls + 2
    check_router(rl, encoder)
    rl.close()


def test_a_router_over_an_index_holding_its_records_reads_them_instead_of_encoding():
    encoder = HashEncoder()
    first = RouteLayer(encoder=encoder, routes=ROUTES)
    calls = encoder.calls
    second = RouteLayer(encoder=encoder, routes=ROUTES, index=first.index)
    assert encoder.calls == calls
    check_router(second, encoder)
    first.close()
    second.close()


@pytest.mark.parametrize(("dtype", "scale"), [
    (np.float32, 1.0), (np.float32, 1e-30), (np.float32, 1e30), (np.float32, 1e-43), (np.float32, 1e37),
    (np.float64, 1e-300), (np.float64, 1e300), (np.float16, 1e-4), (np.float16, 1e4),
])
def test_unit_rows_normalise_huge_and_tiny_rows_of_any_float_type(dtype, scale):
    x = (np.random.default_rng(3).standard_normal((50, 24)) * scale).astype(dtype)
    assert np.isfinite(x).all() and np.abs(x).max(axis=1).all()  # representable: the test means something
    out = unit_rows(x)
    assert out.dtype == np.float32 and not out.flags.writeable
    np.testing.assert_allclose(np.linalg.norm(out.astype(np.float64), axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(out, reference_unit_rows(x))


def test_unit_rows_leave_their_input_alone_and_refuse_bad_rows():
    x = np.array([[3.0, 4.0]], dtype=np.float32)
    assert unit_rows(x).tolist() == [[pytest.approx(0.6), pytest.approx(0.8)]]
    assert x.tolist() == [[3.0, 4.0]]
    for bad in ([[0.0, 0.0]], np.float32([[np.inf, 1.0]]), np.float32([[np.nan, 1.0]]), [[np.inf, 0.0]]):
        with pytest.raises(ValueError, match="finite and non-zero"):
            unit_rows(bad)
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\)"):
        unit_rows(np.zeros((2, 3, 4)))


def test_records_keep_float32_rows_and_convert_anything_else():
    row = np.ones(4, dtype=np.float32)
    assert Record("r", "u", row).dense is row
    for given in ([1, 2, 3, 4], np.ones((1, 4)), np.ones(4, dtype=np.float64)):
        dense = Record("r", "u", given).dense
        assert dense.dtype == np.float32 and dense.shape == (4,)


def test_local_index_upsert_appends_or_replaces_rows():
    index = LocalIndex()
    index.upsert([Record("a", "x", [1.0, 0.0]), Record("a", "y", [0.0, 1.0])])
    index.upsert([Record("b", "z", [1.0, 1.0])])  # nothing replaced: appended
    index.upsert([Record("a", "x", [0.5, 0.5])])  # same id: replaced
    got = {(r.route, r.utterance): r.dense.tolist() for r in index.records()}
    assert got == {("a", "y"): [0.0, 1.0], ("b", "z"): [1.0, 1.0], ("a", "x"): [0.5, 0.5]}
    hits = index.query_batch(np.array([[0.0, 1.0]], np.float32), top_k=1)
    assert hits.routes[0, 0] == "a" and hits.utterances[0, 0] == "y"



class GatedIndex(LocalIndex):
    """A LocalIndex posing as a remote one (the store overlaps only remote writes with training) whose
    upsert meets the rule's training at `gate` (a 2-party barrier): both pass only if they run at the
    same time; one after the other, the barrier breaks after 5 s."""

    def __init__(self, gate, fail: bool = False) -> None:
        super().__init__()
        self.gate, self.fail = gate, fail

    @property
    def is_remote(self) -> bool:
        return True

    def upsert(self, records):
        self.gate.wait()
        if self.fail:
            raise ConnectionError("index down")
        super().upsert(records)


@pytest.mark.parametrize("fails", [None, "training", "writing"])
def test_records_are_written_while_the_rule_trains_and_a_failure_of_either_takes_them_back(monkeypatch, fails):
    import threading

    from semantic_router.decision.rules import CentroidRule

    gate = threading.Barrier(2, timeout=5)
    train = CentroidRule.train

    def gated_train(self, *args, **kwargs):
        gate.wait()  # passes only while the records are being written
        if fails == "training":
            raise RuntimeError("training failed")
        return train(self, *args, **kwargs)

    monkeypatch.setattr(CentroidRule, "train", gated_train)
    index = GatedIndex(gate, fail=fails == "writing")
    if fails is None:
        rl = RouteLayer(encoder=HashEncoder(), routes=ROUTES, index=index, rule="centroid")
        check_router(rl, HashEncoder())
        assert rl("play some jazz").name == "music"
        return
    with pytest.raises(RuntimeError if fails == "training" else ConnectionError, match="failed|down"):
        RouteLayer(encoder=HashEncoder(), routes=ROUTES, index=index, rule="centroid")
    assert index.records() == []  # what the failed change wrote was taken back
