"""Route management at runtime keeps the index and the config consistent; failures change nothing."""

from __future__ import annotations

import pytest

from semantic_router import Route, RouteLayer
from semantic_router.encoders import BM25Encoder
from semantic_router.errors import RouteNotFoundError
from semantic_router.ids import record_id


def consistent(rl: RouteLayer) -> None:
    """The index holds exactly the routes' utterances, once each."""
    stored = sorted((r.route, r.utterance) for r in rl.index.records())
    expected = sorted((r.name, u) for r in rl.routes for u in r.utterances)
    assert stored == expected


@pytest.fixture()
def rl(encoder, politics_chitchat):
    return RouteLayer(encoder=encoder, routes=politics_chitchat)


def test_add_and_route_without_rebuilding(rl):
    rl.add(Route(name="food", utterances=["what's for dinner", "I love pizza"]))
    assert rl.list_route_names() == ["politics", "chitchat", "food"]
    assert rl("I really love pizza").name == "food"
    consistent(rl)


def test_add_several_and_duplicates_refused(rl):
    rl.add([Route(name="a", utterances=["alpha"]), Route(name="b", utterances=["beta"])])
    with pytest.raises(ValueError, match="'a' already exists"):
        rl.add(Route(name="a", utterances=["again"]))
    with pytest.raises(ValueError, match="'c' already exists|duplicate"):
        rl.add([Route(name="c", utterances=["x"]), Route(name="c", utterances=["y"])])
    assert "c" not in rl.list_route_names()
    consistent(rl)


def test_failed_add_leaves_layer_as_it_was(rl, encoder):
    before_names, before_count, version = rl.list_route_names(), rl.index.count(), rl.version
    with pytest.raises(TypeError):
        rl.add([Route(name="ok", utterances=["fine"]), "not a route"])
    assert rl.list_route_names() == before_names and rl.index.count() == before_count and rl.version == version

    class Boom(Exception):
        pass

    original = rl.index.upsert
    failures = [Boom("index went away")]

    def broken_upsert(*a, **k):
        if failures:
            raise failures.pop()
        return original(*a, **k)

    rl.index.upsert = broken_upsert  # the index fails in the middle of an update: nothing changes
    try:
        with pytest.raises(Boom):
            rl.update("politics", utterances=["a brand new utterance about elections"])
    finally:
        rl.index.upsert = original
    assert rl.get("politics").utterances == ["isn't politics the best thing ever", "don't you just love the president"]
    assert rl.version == version
    consistent(rl)
    # an encoder failure: nothing reaches the index
    with pytest.raises(TypeError):
        rl.add(Route(name="bad", utterances=["fine"]).model_copy(update={"utterances": [42]}))
    assert "bad" not in rl.list_route_names()
    consistent(rl)


def test_a_failing_garbage_collection_keeps_the_published_change(rl):
    """Records are deleted only after the new snapshot is published: a failing delete leaves strays
    the router ignores, never a half-applied change."""
    original = rl.index.delete

    def broken_delete(*a, **k):
        raise RuntimeError("index went away")

    rl.index.delete = broken_delete
    try:
        rl.update("politics", utterances=["a brand new utterance about elections"])
    finally:
        rl.index.delete = original
    assert rl.get("politics").utterances == ["a brand new utterance about elections"]
    assert rl("a brand new utterance about elections").name == "politics"
    stale = {r.utterance for r in rl.index.records(route="politics")}
    assert "a brand new utterance about elections" in stale and len(stale) == 3  # two strays left behind
    rl.sync("local") if rl.auto_sync else None


def test_delete_route(rl):
    rl.delete("politics")
    assert rl.list_route_names() == ["chitchat"]
    assert rl("don't you love politics?").name is None
    consistent(rl)
    with pytest.raises(RouteNotFoundError, match="unknown route 'politics'"):
        rl.delete("politics")
    with pytest.raises(KeyError):
        rl.get("nope")


def test_update_fields(rl, encoder):
    before = encoder.calls
    rl.update("chitchat", score_threshold=0.9, metadata={"team": "ops"})
    assert encoder.calls == before  # no utterance changed, nothing encoded
    assert rl.get("chitchat").score_threshold == 0.9
    assert rl("how's the weather today?").metadata == {"team": "ops"}
    rl.update("chitchat", score_threshold=None)  # back to the default
    assert rl.get("chitchat").score_threshold is None
    before = encoder.calls
    rl.update("chitchat", utterances=["how's the weather today?", "is it sunny outside"])
    assert encoder.calls == before + 1  # only the new utterance
    consistent(rl)
    with pytest.raises(ValueError, match="score_threshold"):
        rl.update("chitchat", score_threshold=3)
    with pytest.raises(ValueError, match="at least one utterance"):
        rl.update("chitchat", utterances=[])
    assert rl.get("chitchat").utterances == ["how's the weather today?", "is it sunny outside"]


def test_utterance_crud_with_stable_ids(rl):
    ids = rl.add_utterances("politics", ["elections are coming", "vote for me"])
    assert ids == [record_id("politics", "elections are coming"), record_id("politics", "vote for me")]
    assert rl.add_utterances("politics", ["vote for me"]) == [ids[1]]  # never stored twice
    assert len(rl.get("politics").utterances) == 4
    consistent(rl)
    got = rl.get_utterances(ids=ids)
    assert [(u.route, u.utterance) for u in got] == [("politics", "elections are coming"), ("politics", "vote for me")]
    assert {u.route for u in rl.get_utterances("chitchat")} == {"chitchat"}
    assert len(rl.get_utterances()) == 6
    assert rl.delete_utterances(ids=[ids[0]]) == 1
    assert "elections are coming" not in rl.get("politics").utterances
    consistent(rl)
    assert rl.delete_utterances(route_name="chitchat") == 2
    assert "chitchat" not in rl.list_route_names()  # a route left empty is removed
    consistent(rl)
    with pytest.raises(KeyError, match="unknown utterance"):
        rl.get_utterances(ids=["nope"])
    with pytest.raises(ValueError, match="route_name and/or ids"):
        rl.delete_utterances()
    with pytest.raises(RouteNotFoundError):
        rl.add_utterances("missing", ["x"])


def test_clear(rl):
    rl.clear()
    assert rl.list_route_names() == [] and rl.index.count() == 0
    assert rl("don't you love politics?").name is None


def test_routes_returned_are_copies(rl):
    r = rl.get("politics")
    r.utterances.append("sneaky")
    assert "sneaky" not in rl.get("politics").utterances


def test_crud_in_hybrid_mode_keeps_sparse_vectors(encoder, politics_chitchat):
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat, sparse_encoder=BM25Encoder())
    rl.add_utterances("politics", ["the senate passed the bill"])
    rl.delete_utterances(ids=[record_id("chitchat", "lovely weather today")])
    consistent(rl)
    assert all(r.sparse is not None and len(r.sparse) for r in rl.index.records())
    assert rl("the senate passed a bill").name == "politics"
