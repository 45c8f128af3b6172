"""Shared route sets lose nothing: publish then collect garbage, fenced retries, validated states,
lost remote data noticed (issue 8 B, router side)."""

from __future__ import annotations

import uuid

import pytest

from semantic_router import Route, RouteLayer
from semantic_router.errors import ConfigError, RemoteStateLost, StateConflict
from semantic_router.index.local import LocalIndex
from semantic_router.index.redis import RedisIndex

ROUTES = [
    Route(name="x", utterances=["tell me about the stock market", "how are my shares doing"]),
    Route(name="chitchat", utterances=["how's the weather today?", "lovely weather today"]),
]
X_QUERY = "how is the stock market doing"


@pytest.fixture()
def redis_index(redis_url):
    made = []

    def make() -> RedisIndex:
        idx = RedisIndex(redis_url, name=made[0].name if made else f"st{uuid.uuid4().hex[:8]}")
        made.append(idx)
        return idx

    yield make
    made[0].drop()


def test_a_failed_state_write_leaves_the_router_and_its_replicas_as_they_were(encoder, redis_index):
    a = RouteLayer(encoder=encoder, routes=ROUTES, index=redis_index(), auto_sync="local", rule="knn")
    b = RouteLayer(encoder=encoder, index=redis_index(), auto_sync="remote", rule="knn", refresh_interval=3600)
    count = a.index.count()

    def failing_write(*args, **kwargs):
        raise ConnectionError("state write failed")

    a.index.write_state = failing_write
    with pytest.raises(ConnectionError):
        a.update("x", utterances=["x new"])
    assert a.get("x").utterances == ROUTES[0].utterances  # the local router is unchanged
    assert a.index.count() == count  # the record the change wrote was taken back; nothing deleted
    assert b(X_QUERY).name == "x" and a(X_QUERY).name == "x"  # the replica still matches x
    del a.index.write_state
    a.update("x", utterances=["x new"])
    assert b.refresh() and b.get("x").utterances == ["x new"]
    a.close()
    b.close()


def test_a_conflicting_write_is_retried_on_the_latest_state(encoder):
    index = LocalIndex()
    a = RouteLayer(encoder=encoder, routes=ROUTES, index=index, auto_sync="local", refresh_interval=3600)
    b = RouteLayer(encoder=encoder, index=index, auto_sync="remote", refresh_interval=3600)
    v1 = index.read_state()
    b.add(Route(name="theirs", utterances=["their own topic"]))
    v2 = index.read_state()
    index.write_state(v1)  # a has not seen v2 yet: b's write lands between a's read and a's write
    real = index.write_state
    raced = []

    def racing_write(state, **kwargs):
        if not raced:
            raced.append(1)
            real(v2)  # the other writer commits first
        return real(state, **kwargs)

    index.write_state = racing_write
    a.add(Route(name="mine", utterances=["my own topic"]))
    assert raced and sorted(r["name"] for r in index.read_state()["routes"]) == ["chitchat", "mine", "theirs", "x"]
    assert index.read_state()["version"] == v2["version"] + 1
    assert sorted(a.list_route_names()) == ["chitchat", "mine", "theirs", "x"]


def test_endless_conflicts_end_in_a_clear_error(encoder):
    index = LocalIndex()
    a = RouteLayer(encoder=encoder, routes=ROUTES, index=index, auto_sync="local", refresh_interval=3600)

    def always_conflicts(state, **kwargs):
        raise StateConflict("moved on")

    index.write_state = always_conflicts
    with pytest.raises(Exception, match="gave up after 5 conflicting writes"):
        a.add(Route(name="mine", utterances=["my own topic"]))
    assert "mine" not in a.list_route_names()
    assert {r.route for r in index.records()} == {"x", "chitchat"}  # nothing left behind


@pytest.mark.parametrize("field,value,expected", [
    ("score_threshold", 5, "settings.score_threshold"),
    ("top_k", 0, "settings.top_k"),
    ("top_k", "abc", "settings.top_k"),
    ("aggregation", "median", "settings.aggregation"),
])
def test_a_bad_shared_state_is_refused_naming_the_field(encoder, field, value, expected):
    index = LocalIndex()
    a = RouteLayer(encoder=encoder, routes=ROUTES, index=index, auto_sync="local", refresh_interval=3600)
    b = RouteLayer(encoder=encoder, index=index, auto_sync="remote", refresh_interval=3600)
    state = index.read_state()
    state["settings"][field] = value
    state["version"] += 1
    index.write_state(state)
    with pytest.raises(ConfigError, match=expected):
        b.refresh()
    assert b.top_k == 5 and b.aggregation == "max" and b.score_threshold is None  # never adopted
    with pytest.raises(ConfigError, match=expected):
        RouteLayer.from_index(index, encoder=encoder)
    assert a(X_QUERY).name == "x"


def test_top_k_must_be_positive(encoder):
    rl = RouteLayer(encoder=encoder, routes=ROUTES, rule="knn")
    for bad in (0, -1, 1.5, "3", True):
        with pytest.raises(ValueError, match="top_k"):
            rl.top_k = bad
    rl.top_k = 2
    assert rl.top_k == 2 and rl(X_QUERY).name == "x"


def test_a_restarted_empty_redis_is_noticed(encoder, private_redis):
    a = RouteLayer(encoder=encoder, routes=ROUTES, index=RedisIndex(private_redis.url, name="lost"),
                   auto_sync="merge", rule="knn", refresh_interval=3600)
    assert a(X_QUERY).name == "x"
    private_redis.restart()
    with pytest.raises(RemoteStateLost):
        a(X_QUERY)  # never a silent None
    with pytest.raises(RemoteStateLost):
        a.add(Route(name="food", utterances=["I want a pizza"]))
    assert a.index.read_state() is None  # no state listing routes whose records are gone
    a.close()


def test_a_router_whose_copy_is_the_truth_repairs_a_restarted_redis(encoder, private_redis):
    a = RouteLayer(encoder=encoder, routes=ROUTES, index=RedisIndex(private_redis.url, name="lost"),
                   auto_sync="local", rule="knn", refresh_interval=3600)
    private_redis.restart()
    a.add(Route(name="food", utterances=["I want a pizza"]))
    assert sorted(r.route for r in a.index.records()) == ["chitchat", "chitchat", "food", "x", "x"]
    b = RouteLayer.from_index(RedisIndex(private_redis.url, name="lost"), encoder=encoder, rule="knn")
    assert b(X_QUERY).name == "x" and b("a pizza please").name == "food"
    a.close()
    b.close()


def test_a_legacy_shared_index_is_rekeyed_under_the_lock(encoder):
    """An index written before collision-free ids (its state has no `id_scheme`): the next writer
    re-keys its records (upsert under the new ids, publish, then delete the old), encoding nothing."""
    from semantic_router import ids
    from semantic_router.index.base import Record

    index = LocalIndex()
    RouteLayer(encoder=encoder, routes=ROUTES, index=index, auto_sync="local", refresh_interval=3600).close()
    legacy = [Record(r.route, r.utterance, r.dense, id=ids.legacy_record_id(r.route, r.utterance))
              for r in index.records()]
    old_state = index.read_state()
    old_state.pop("id_scheme")  # as a router before id schemes wrote it
    index.clear()
    index.upsert(legacy)
    index.write_state(old_state)
    before = encoder.calls
    b = RouteLayer(encoder=encoder, index=index, auto_sync="merge", refresh_interval=3600)
    assert encoder.calls == before  # re-keyed from stored vectors: nothing encoded
    new_ids = {ids.record_id(r.name, u) for r in ROUTES for u in r.utterances}
    assert set(index.ids()) == new_ids and new_ids.isdisjoint(r.id for r in legacy)
    assert index.read_state()["id_scheme"] == 2
    assert b(X_QUERY).name == "x"
    b.close()


def test_extra_items_set_on_one_router_are_committed_and_shared(encoder):
    index = LocalIndex()
    a = RouteLayer(encoder=encoder, routes=ROUTES, index=index, auto_sync="local", refresh_interval=3600)
    v = a.version
    a.extra["app"] = {"owner": "search"}
    assert a.extra["app"] == {"owner": "search"} and a.version == v + 1
    assert index.read_state()["extra"]["app"] == {"owner": "search"}
    b = RouteLayer.from_index(index, encoder=encoder)
    assert b.extra["app"] == {"owner": "search"}
    del a.extra["app"]
    assert "app" not in a.extra and b.refresh() and "app" not in b.extra
