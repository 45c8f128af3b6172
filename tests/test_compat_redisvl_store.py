"""RedisVL's storage behaviour through semantic_router.compat.redisvl (issue 20): vectors stored in
the vectorizer's dtype, routes emptied of their references kept, and RedisVL's
`<name>:route_config` key, on a real redis-server (and the in-memory index where it applies)."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import redis

from semantic_router.compat.redisvl import HFTextVectorizer, Route, SemanticRouter
from tests.redis_server import RedisServer

DIMS = 384  # the bundled all-MiniLM-L6-v2


def routes() -> list[Route]:
    """RedisVL's own test routes, plus a third."""
    return [
        Route(name="greeting", references=["hello", "hi"], metadata={"type": "greeting"}, distance_threshold=0.3),
        Route(name="farewell", references=["bye", "goodbye"], metadata={"type": "farewell"}, distance_threshold=0.2),
        Route(name="weather", references=["will it rain today?"], distance_threshold=0.4),
    ]


def new_name() -> str:
    return f"store-{uuid.uuid4().hex[:8]}"


def stored_vector(raw: redis.Redis, name: str) -> bytes:
    key = next(raw.scan_iter(match=f"sr:{name}:rec:*"))
    return raw.hget(key, "dense")


def test_dtype_stores_the_vectors_in_that_type(redis_url):
    name, raw = new_name(), redis.Redis.from_url(redis_url)
    with pytest.warns(DeprecationWarning, match="Argument dtype is deprecated .* Use vectorizer instead"):
        router = SemanticRouter(name=name, routes=routes(), dtype="float16", redis_url=redis_url)
    try:
        assert router.vectorizer.dtype == "float16" and len(stored_vector(raw, name)) == DIMS * 2
        assert [m.name for m in router.route_many("hello", max_k=5)] == ["greeting"]
        again = SemanticRouter.from_existing(name, redis_url=redis_url)  # the stored type comes back
        assert again.vectorizer.dtype == "float16" and again("goodbye").name == "farewell"
        assert SemanticRouter(name=name, routes=routes(), vectorizer=HFTextVectorizer(dtype="float16"),
                              redis_url=redis_url).route_names == ["greeting", "farewell", "weather"]
        mismatch = r"Existing index .* schema does not match .* overwrite=True .*stored vectors: float16, dtype given: "
        with pytest.raises(ValueError, match=mismatch + "float64"), pytest.warns(DeprecationWarning):
            SemanticRouter(name=name, routes=routes(), dtype="float64", redis_url=redis_url)
        with pytest.raises(ValueError, match=mismatch + "float32"):  # the default vectorizer's float32
            SemanticRouter(name=name, routes=routes(), redis_url=redis_url)
        replaced = SemanticRouter(name=name, routes=routes(), vectorizer=HFTextVectorizer(dtype="bfloat16"),
                                  redis_url=redis_url, overwrite=True)
        assert len(stored_vector(raw, name)) == DIMS * 2 and replaced.layer.index.describe()["dtype"] == "bfloat16"
        assert replaced("hi").name == "greeting" and replaced("will it rain today?").name == "weather"
    finally:
        router.delete()


def test_dtype_is_checked_as_redisvl_checks_it(encoder):
    with pytest.raises(ValueError, match=r"Invalid data type: float17\. Supported types are: \['bfloat16', 'float16'"):
        HFTextVectorizer(dtype="float17")
    with pytest.raises(ValueError, match="'int8' is not supported: normalised embeddings cast to integers"):
        HFTextVectorizer(dtype="int8")
    float16 = HFTextVectorizer(dtype="float16")
    with pytest.raises(ValueError, match="Provided dtype float32 does not match vectorizer dtype float16"), \
            pytest.warns(DeprecationWarning):
        SemanticRouter(name="x", routes=routes(), dtype="float32", vectorizer=float16)
    with pytest.raises(ValueError, match="Provided dtype float16 does not match vectorizer dtype float32"), \
            pytest.warns(DeprecationWarning):
        SemanticRouter(name="x", routes=routes(), dtype="float16", vectorizer=encoder)  # this library's: float32
    # buffers in the vectorizer's dtype, or (deprecated) the call's
    assert len(float16.embed("hello", as_buffer=True)) == DIMS * 2
    with pytest.warns(DeprecationWarning, match="dtype is deprecated"):
        assert len(float16.embed_many(["hello"], as_buffer=True, dtype="float64")[0]) == DIMS * 8
    with pytest.warns(DeprecationWarning):  # in memory the vectors stay float32; the vectorizer keeps the dtype
        assert SemanticRouter(name="x", routes=routes(), dtype="float64").vectorizer.dtype == "float64"


@pytest.fixture(params=["local", "redis"])
def where(request, redis_url) -> dict:
    return {} if request.param == "local" else {"redis_url": redis_url}


def test_a_route_emptied_of_its_references_stays(encoder, where):
    router = SemanticRouter(name=new_name(), routes=routes(), vectorizer=encoder, overwrite=True, **where)
    try:
        assert router(vector=[0.0] * DIMS).name is None  # no cosine distance: no match, as in RedisVL (not an error)
        assert router.delete_route_references(route_name="greeting") == 2
        assert router.route_names == ["greeting", "farewell", "weather"]  # in its place, as in RedisVL
        assert router.to_dict()["routes"][0] == {"name": "greeting", "references": [],
                                                 "metadata": {"type": "greeting"}, "distance_threshold": 0.3}
        assert router("hello").name is None and router.get_route_references(route_name="greeting") == []
        with pytest.raises(ValueError, match="No references found for route greeting"):
            router.delete_route_references(route_name="greeting")
        router.update_route_thresholds({"greeting": 0.35, "farewell": 0.25})
        assert router.route_thresholds == {"greeting": 0.35, "farewell": 0.25, "weather": 0.4}
        if where:  # another instance sees the empty route
            other = SemanticRouter.from_existing(router.name, **where)
            assert other.to_dict()["routes"] == router.to_dict()["routes"]
        keys = router.add_route_references("greeting", ["hey there", "hello"])
        assert len(keys) == 2 and all(k.startswith(f"{router.name}:greeting:") for k in keys)
        assert router.route_names == ["farewell", "weather", "greeting"]  # back, listed last (RedisVL: in place)
        assert router.get("greeting").distance_threshold == 0.35 and router.get("greeting").metadata == {
            "type": "greeting"}
        assert router("hey there").name == "greeting"
        router.delete_route_references(keys=keys)
        router.remove_route("greeting")
        assert router.route_names == ["farewell", "weather"]
        router.delete_route_references(route_name="weather")
        router.clear()
        assert router.route_names == [] and router.to_dict()["routes"] == []
    finally:
        router.delete()


def test_a_router_built_again_forgets_its_emptied_routes(encoder, redis_url):
    name = new_name()
    first = SemanticRouter(name=name, routes=routes(), vectorizer=encoder, redis_url=redis_url)
    try:
        first.delete_route_references(route_name="greeting")
        again = SemanticRouter(name=name, routes=routes()[1:], vectorizer=encoder, redis_url=redis_url)
        assert again.route_names == ["farewell", "weather"]  # the given routes are the route set
    finally:
        first.delete()


@pytest.fixture(params=[b"string", b"ReJSON-RL"])
def server(request, redis_url):
    """(url, type of the config key): the session Redis, without RedisJSON, or one with RedisJSON."""
    if request.param == b"string":
        yield redis_url, request.param
        return
    with RedisServer(modules=("rejson",)) as private:
        yield private.url, request.param


def read_config(raw: redis.Redis, key: str) -> dict:
    return json.loads(raw.execute_command("JSON.GET", key) if raw.type(key) == b"ReJSON-RL" else raw.get(key))


def test_route_config_key_holds_the_router_as_redisvl_keeps_it(encoder, server):
    server_url, kind = server
    name, raw = new_name(), redis.Redis.from_url(server_url)
    key = f"{name}:route_config"
    router = SemanticRouter(name=name, routes=routes(), vectorizer=encoder, redis_url=server_url)
    assert raw.type(key) == kind and read_config(raw, key) == router.to_dict()
    router.add_route_references("greeting", "hey there")
    assert "hey there" in read_config(raw, key)["routes"][0]["references"]
    router.delete()
    assert not raw.exists(key)
    with pytest.raises(ValueError, match="no router named"):
        SemanticRouter.from_existing(name, redis_url=server_url)
    # a router only RedisVL stored (its config key, written as RedisVL writes it) opens from that config
    config = {"name": name, "routes": [r.model_dump(mode="json") for r in routes()],
              "vectorizer": {"type": "hf", "model": "sentence-transformers/all-MiniLM-L6-v2"},
              "routing_config": {"max_k": 2, "aggregation_method": "min"}}
    if kind == b"ReJSON-RL":
        raw.execute_command("JSON.SET", key, "$", json.dumps(config))
    else:
        raw.set(key, json.dumps(config))
    opened = SemanticRouter.from_existing(name, redis_url=server_url, encoder=encoder)
    try:
        assert opened.to_dict() == config and opened("hello").name == "greeting"
        assert SemanticRouter.from_existing(name, redis_url=server_url).route_names == ["greeting", "farewell", "weather"]
    finally:
        opened.delete()


def test_route_config_key_holding_something_else_is_left_alone(encoder, redis_url, caplog):
    name, raw = new_name(), redis.Redis.from_url(redis_url)
    key = f"{name}:route_config"
    raw.hset(key, "mine", "1")
    with caplog.at_level(logging.WARNING, logger="semantic_router.compat.redisvl_store"):
        router = SemanticRouter(name=name, routes=routes(), vectorizer=encoder, redis_url=redis_url)
    try:
        assert raw.hgetall(key) == {b"mine": b"1"} and "holds a hash, not a router config" in caplog.text
        assert router("hello").name == "greeting"
    finally:
        router.delete()
        raw.delete(key)
    raw.set(key, "not json")
    with pytest.raises(ValueError, match="no router named"):
        SemanticRouter.from_existing(name, redis_url=redis_url)
    raw.delete(key)
