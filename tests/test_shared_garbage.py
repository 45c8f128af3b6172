"""Garbage in a shared Redis index is a clear error, never a raw traceback or a silent wrong answer
(issue 16 D): a corrupt state or meta key, and records whose vector is truncated, NaN or zero or
whose route field was renamed or edited. Running replicas keep serving their last good snapshot."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import redis

from semantic_router import Route, RouteLayer
from semantic_router.errors import ConfigError, IndexBackendError, RemoteStateLost
from semantic_router.index.redis import RedisIndex
from tests.hash_encoder import HashEncoder

ROUTES = [
    Route(name="greet", utterances=["hello there", "good morning"]),
    Route(name="bye", utterances=["goodbye friend", "see you later"]),
]
NEW = Route(name="new", utterances=["brand new topic"])


@pytest.fixture()
def shared(redis_url):
    """(raw redis client, name, writer, replica) over one fresh shared Redis index."""
    name = f"garbage{uuid.uuid4().hex[:8]}"
    made: list[RouteLayer] = []

    def make(rule: str, *replica_rules: str) -> tuple[RouteLayer, ...]:
        """A writer with `rule`, then one replica per rule (`rule` if none is given)."""
        made.append(RouteLayer(encoder=HashEncoder(), routes=ROUTES, index=RedisIndex(redis_url, name=name),
                               auto_sync="local", rule=rule, refresh_interval=float("inf")))
        for r in replica_rules or (rule,):
            made.append(RouteLayer(encoder=HashEncoder(), index=RedisIndex(redis_url, name=name), auto_sync="remote",
                                   rule=r, refresh_interval=float("inf")))
        return tuple(made[-1 - len(replica_rules or (rule,)):])

    client = redis.Redis.from_url(redis_url)
    yield client, name, make
    made[0].index.drop()
    for rl in made:
        rl.close()
    client.close()


def record_key(client, name: str, utterance: str) -> str:
    return next(k.decode() for k in client.scan_iter(f"sr:{name}:rec:*") if client.hget(k, "utterance") == utterance.encode())


@pytest.mark.parametrize("rule", ["knn", "classifier"])
def test_a_corrupt_state_key_is_a_clear_error_and_replicas_keep_serving(shared, redis_url, rule):
    client, name, make = shared
    writer, replica = make(rule)
    client.set(f"sr:{name}:state", b"{not json")
    for call in (lambda: RouteLayer.from_index(RedisIndex(redis_url, name=name), encoder=HashEncoder()),
                 lambda: writer.add(NEW), replica.refresh):
        with pytest.raises(ConfigError, match=f"sr:{name}:state.*corrupt.*not JSON"):
            call()
    assert replica("hello there").name == "greet" and replica.version == 1


def test_a_corrupt_meta_key_is_a_clear_error(shared, redis_url):
    client, name, make = shared
    writer, replica = make("knn")
    client.set(f"sr:{name}:meta", b"\xff garbage")
    for call in (lambda: writer.add(NEW), lambda: replica("hello there"),
                 lambda: RouteLayer.from_index(RedisIndex(redis_url, name=name), encoder=HashEncoder())):
        with pytest.raises(IndexBackendError, match=f"sr:{name}:meta.*corrupt"):
            call()


@pytest.mark.parametrize("vector", [np.full(32, np.nan, np.float32), np.zeros(32, np.float32)])
def test_a_nan_or_zero_vector_is_detected_not_served_as_no_route(shared, vector):
    client, name, make = shared
    writer, knn, vectors = make("knn", "knn", "classifier")
    key = record_key(client, name, "hello there")
    client.hset(key, "dense", vector.tobytes())
    with pytest.raises(IndexBackendError, match=f"{key}.*vector is NaN, infinite or zero"):
        knn("hello there")  # before issue 16: the record was dropped silently, the query answered without it
    assert vectors("hello there").name == "greet"  # the vector rule serves its snapshot
    writer.add_utterances("greet", ["hiya"])
    with pytest.raises(IndexBackendError, match=f"{key}.*vector"):
        vectors.refresh()  # adopting the changed route reads its records: refused
    assert vectors("hello there").name == "greet"


def test_a_truncated_vector_is_noticed_as_missing_records(shared):
    client, name, make = shared
    _, replica = make("knn")
    key = record_key(client, name, "hello there")
    client.hset(key, "dense", client.hget(key, "dense")[:10])  # Redis leaves it out of the search index
    assert replica.refresh() is False
    with pytest.raises(RemoteStateLost, match="corrupt"):
        replica("hello there")


def test_a_renamed_route_field_is_detected(shared, redis_url):
    client, name, make = shared
    _, replica = make("knn")
    key = record_key(client, name, "hello there")
    client.hset(key, "y", client.hget(key, "route"))
    client.hdel(key, "route")
    with pytest.raises(IndexBackendError, match=f"{key}.*route"):
        replica("hello there")  # before issue 16: a raw KeyError
    with pytest.raises(IndexBackendError, match=f"{key}.*route"):
        RouteLayer.from_index(RedisIndex(redis_url, name=name), encoder=HashEncoder(), rule="classifier")


def test_an_edited_route_field_never_moves_a_record_to_another_route(shared, redis_url):
    client, name, make = shared
    _, replica = make("knn")
    key = record_key(client, name, "hello there")
    client.hset(key, "route", b"bye")  # the record now names another route
    choice = replica("hello there")
    assert (choice.name, round(choice.similarity_score, 4)) == ("greet", 1.0)  # counted by its id, as published
    with pytest.raises(IndexBackendError, match=f"{key}.*does not match its route tag"):
        RouteLayer.from_index(RedisIndex(redis_url, name=name), encoder=HashEncoder(), rule="classifier")


def test_a_replica_that_lost_its_index_recovers_once_a_writer_republishes(private_redis):
    """After the shared Redis restarts empty (or FLUSHALL), replicas raise RemoteStateLost; once a
    writer whose copy is the truth republishes, their next refresh adopts the new state, even when
    it reuses the version they had."""
    def replica(rule: str) -> RouteLayer:
        return RouteLayer(encoder=HashEncoder(), index=RedisIndex(private_redis.url, name="lost"), auto_sync="remote",
                          rule=rule, refresh_interval=float("inf"))

    writer = RouteLayer(encoder=HashEncoder(), routes=ROUTES, index=RedisIndex(private_redis.url, name="lost"),
                        auto_sync="local", rule="knn", refresh_interval=float("inf"))
    knn = replica("knn")
    assert knn.version == 1 and knn("hello there").name == "greet"
    private_redis.restart()
    assert knn.refresh() is False
    with pytest.raises(RemoteStateLost):
        knn("hello there")
    writer.sync()  # the writer's copy is the truth: it rewrites the index, publishing version 1 again
    assert writer.index.read_state()["version"] == 1
    assert knn.refresh() is True  # before issue 16: the same version looked current, the replica stayed lost
    assert knn("hello there").name == "greet"

    private_redis.restart()  # another lineage of the same version but other content: adopted too
    knn.refresh()
    other = RouteLayer(encoder=HashEncoder(), routes=[Route(name="food", utterances=["a pizza please"])],
                       index=RedisIndex(private_redis.url, name="lost"), auto_sync="local", rule="knn",
                       refresh_interval=float("inf"))
    assert other.index.read_state()["version"] == 1
    assert knn.refresh() is True and knn.list_route_names() == ["food"]
    assert knn("a pizza please").name == "food" and knn("hello there").name is None
    for rl in (writer, knn, other):
        rl.close()
