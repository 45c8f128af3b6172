"""RedisVL's semantic router user guide, run end to end through semantic_router.compat.redisvl.

The guide's routes and distance thresholds, on a real redis-server and on the in-memory index;
answers checked against what the guide shows (with the bundled all-MiniLM-L6-v2)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from pydantic import ValidationError

from semantic_router.compat.redisvl import (
    DistanceAggregationMethod,
    HFTextVectorizer,
    Route,
    RouteMatch,
    RoutingConfig,
    SemanticRouter,
)
from semantic_router.compat.redisvl_schema import DEFAULT_MODEL, as_encoder
from semantic_router.encoders import DenseEncoder, HuggingFaceEncoder

AI = "Can you tell me about the latest in artificial intelligence?"
BASKETBALL = "How is AI used in basketball?"


def guide_routes() -> list[Route]:
    technology = Route(name="technology",
                       references=["what are the latest advancements in AI?", "tell me about the newest gadgets",
                                   "what's trending in tech?"],
                       metadata={"category": "tech", "priority": 1}, distance_threshold=0.71)
    sports = Route(name="sports",
                   references=["who won the game last night?", "tell me about the upcoming sports events",
                               "what's the latest in the world of sports?", "sports", "basketball and football"],
                   metadata={"category": "sports", "priority": 2}, distance_threshold=0.72)
    entertainment = Route(name="entertainment",
                          references=["what are the top movies right now?", "who won the best actor award?",
                                      "what's new in the entertainment industry?"],
                          metadata={"category": "entertainment", "priority": 3}, distance_threshold=0.7)
    return [technology, sports, entertainment]


@pytest.fixture(params=["local", "redis"])
def where(request, redis_url) -> dict:
    """Constructor arguments: the in-memory index, or a real Redis."""
    return {} if request.param == "local" else {"redis_url": redis_url}


def make(encoder, where: dict, **kwargs) -> SemanticRouter:
    return SemanticRouter(name=f"topic-router-{uuid.uuid4().hex[:8]}", vectorizer=encoder, routes=guide_routes(),
                          overwrite=True, **where, **kwargs)


def test_guide_flow(encoder, where, tmp_path):
    # on Redis the guide's code exactly (its own vectorizer, from_dict/from_yaml without one); in memory
    # the shared encoder, so the copies need not encode with a model of their own
    vectorizer = HFTextVectorizer() if where else encoder
    again = {} if where else {"vectorizer": encoder}
    router = make(vectorizer, where)
    try:
        # simple routing
        match = router(AI)
        assert match.name == "technology" and 0.0 < match.distance < 0.71
        assert router("are aliens real?") == RouteMatch(name=None, distance=None)
        many = router.route_many(BASKETBALL, max_k=3)
        assert [m.name for m in many] == ["technology", "sports"]
        assert many[0].distance < many[1].distance < 0.72  # nearest first, each within its own threshold
        by_min = router.route_many(BASKETBALL, aggregation_method=DistanceAggregationMethod.min, max_k=3)
        assert [m.name for m in by_min] == ["technology", "sports"]
        assert by_min[1].distance < many[1].distance  # min of the distances <= their average
        # update the routing config: min aggregation, max_k 3
        router.update_routing_config(RoutingConfig(aggregation_method=DistanceAggregationMethod.min, max_k=3))
        assert [m.name for m in router.route_many("Lebron James")] == ["sports"]
        # serialisation
        data = router.to_dict()
        assert data["vectorizer"] == {"type": "hf", "model": DEFAULT_MODEL}
        assert data["routing_config"] == {"max_k": 3, "aggregation_method": "min"}
        assert [(r["name"], r["distance_threshold"]) for r in data["routes"]] == [
            ("technology", 0.71), ("sports", 0.72), ("entertainment", 0.7)]
        assert data["routes"][0]["metadata"] == {"category": "tech", "priority": 1}
        router2 = SemanticRouter.from_dict(router.to_dict(), **again, **where)
        assert router2.to_dict() == data
        path = tmp_path / "router.yaml"
        router.to_yaml(path, overwrite=True)
        with pytest.raises(FileExistsError):
            router.to_yaml(path, overwrite=False)
        router3 = SemanticRouter.from_yaml(path, **again, **where)
        assert router3.to_dict() == router2.to_dict() == data
        assert router3.route_many("Lebron James")[0].name == "sports"
        # add, get and delete route references
        keys = router.add_route_references(route_name="technology", references=["latest AI trends", "new tech gadgets"])
        assert len(keys) == 2 and all(k.startswith(f"{router.name}:technology:") for k in keys)
        refs = router.get_route_references(route_name="technology")
        assert len(refs) == 5
        assert {"latest AI trends", "new tech gadgets"} <= {r["reference"] for r in refs}
        assert all(r["id"] == f"{router.name}:technology:{r['reference_id']}" for r in refs)
        one = router.get_route_references(reference_ids=[refs[0]["reference_id"]])
        assert one == [refs[0]]
        assert router.get_route_references(keys=[refs[1]["id"]]) == [refs[1]]
        assert router.delete_route_references(route_name="sports") == 5
        assert router.route_names == ["technology", "sports", "entertainment"]  # kept, empty, as in RedisVL
        assert router.get("sports").references == [] and router.to_dict()["routes"][1]["references"] == []
        assert router.delete_route_references(reference_ids=[one[0]["reference_id"]]) == 1
        assert len(router.get_route_references(route_name="technology")) == 4
        assert router("Lebron James").name is None  # sports has no references left
        # clean up
        router.clear()
        assert router.route_names == [] and router(AI) == RouteMatch()
    finally:
        router.delete()


def test_from_existing_sees_the_same_routes(encoder, redis_url):
    router = make(encoder, {"redis_url": redis_url}, routing_config=RoutingConfig(max_k=2))
    other = SemanticRouter.from_existing(router.name, redis_url=redis_url)
    try:
        assert other.route_names == router.route_names
        assert other.route_thresholds == {"technology": 0.71, "sports": 0.72, "entertainment": 0.7}
        assert other.routing_config == RoutingConfig(max_k=2)
        assert other.get("technology") == router.get("technology")
        assert other.vectorizer.name == DEFAULT_MODEL
        assert [m.name for m in other.route_many(BASKETBALL)] == ["technology", "sports"]  # max_k 2 from Redis
        # changes by one instance are seen by the other
        keys = router.add_route_references("technology", "quantum computing breakthroughs")
        found = other.get_route_references(keys=keys)
        assert [r["reference"] for r in found] == ["quantum computing breakthroughs"]
        router.remove_route("entertainment")
        assert other.add_route(Route(name="greetings", references=["hello there"], distance_threshold=0.3)) == "greetings"
        with pytest.raises(ValueError, match="already exists"):
            other.add_route({"name": "greetings", "references": ["hi"]})
        router.layer.refresh()
        assert router.route_names == ["technology", "sports", "greetings"]
        assert router("hello there").name == "greetings"
    finally:
        router.delete()
    with pytest.raises(ValueError, match="no router named"):
        SemanticRouter.from_existing(router.name, redis_url=redis_url)


def test_existing_name_without_overwrite_takes_the_given_routes(encoder, redis_url):
    name = f"shared-{uuid.uuid4().hex[:8]}"
    first = SemanticRouter(name=name, routes=guide_routes(), vectorizer=encoder, redis_url=redis_url)
    try:
        calls = encoder.calls
        again = SemanticRouter(name=name, routes=guide_routes()[:2], vectorizer=encoder, redis_url=redis_url)
        assert encoder.calls == calls  # the stored references are not encoded again
        assert again.route_names == ["technology", "sports"]
        first.layer.refresh()
        assert first.route_names == ["technology", "sports"]
        fresh = SemanticRouter(name=name, routes=guide_routes()[2:], vectorizer=encoder, redis_url=redis_url,
                               overwrite=True)
        assert fresh.route_names == ["entertainment"]
        assert len(fresh.layer.index.ids()) == 3
    finally:
        first.delete()


class TinyEncoder(DenseEncoder):
    """8 dimensions from character counts: another vector space than the bundled model's."""

    type, name = "tiny", "tiny-8"

    @property
    def dimensions(self) -> int:
        return 8

    def _encode(self, texts, input_type):
        return np.array([[t.count(c) + 1.0 for c in "aeiou tsr"[:8]] for t in texts], dtype=np.float32)


def test_another_encoder_under_the_same_name_needs_overwrite(encoder, redis_url):
    first = make(encoder, {"redis_url": redis_url})
    try:
        with pytest.raises(ValueError, match="tiny-8.*overwrite=True"):
            SemanticRouter(name=first.name, routes=guide_routes(), vectorizer=TinyEncoder(), redis_url=redis_url)
        assert SemanticRouter.from_existing(first.name, redis_url=redis_url).vectorizer.name == DEFAULT_MODEL
        class Broken(TinyEncoder):
            def _encode(self, texts, input_type):
                raise RuntimeError("model unavailable")

        with pytest.raises(RuntimeError, match="model unavailable"):
            SemanticRouter(name=first.name, routes=guide_routes(), vectorizer=Broken(), redis_url=redis_url,
                           overwrite=True)
        assert SemanticRouter.from_existing(first.name, redis_url=redis_url).route_names == first.route_names
        replaced = SemanticRouter(name=first.name, routes=guide_routes()[:1], vectorizer=TinyEncoder(),
                                  redis_url=redis_url, overwrite=True)
        assert replaced.route_names == ["technology"]
        assert SemanticRouter.from_existing(first.name, redis_url=redis_url, encoder=TinyEncoder()).route_names == [
            "technology"]
    finally:
        first.delete()


def test_update_route_thresholds(encoder):
    router = make(encoder, {})
    assert router(AI).name == "technology"
    router.update_route_thresholds({"technology": 0.3})
    assert router.route_thresholds["technology"] == 0.3
    # RedisVL's order: the max_k (1) nearest routes by aggregated distance, then each route's own
    # threshold: technology (avg ~0.5) is nearest and no longer within 0.3, so nothing matches
    assert router(AI).name is None
    assert [m.name for m in router.route_many(AI, max_k=2)] == ["sports"]
    with pytest.raises(ValueError, match="unknown route"):
        router.update_route_thresholds({"sports": 0.1, "sprots": 0.5})
    assert router.route_thresholds["sports"] == 0.72  # nothing was changed
    with pytest.raises(ValueError, match="distance_threshold"):
        router.update_route_thresholds({"sports": 2.5})
    with pytest.raises(TypeError, match="distance_threshold"):
        router.update_route_thresholds({"sports": None})


def test_vector_input_matches_statement(encoder):
    router = make(encoder, {})
    vec = encoder.encode([BASKETBALL])[0]
    by_vector, by_text = router(vector=vec.tolist()), router(BASKETBALL)
    assert by_vector.name == by_text.name == "technology"
    assert by_vector.distance == pytest.approx(by_text.distance, abs=1e-5)
    assert [m.name for m in router.route_many(vector=vec, max_k=3)] == ["technology", "sports"]


def test_bad_input_is_refused_clearly(encoder, tmp_path):
    router = make(encoder, {})
    with pytest.raises(ValueError, match="Must provide a vector or statement"):
        router()
    with pytest.raises(ValueError, match="not both"):
        router(AI, vector=np.ones(384))
    with pytest.raises(ValueError, match="max_k"):
        router.route_many(AI, max_k=0)
    with pytest.raises(ValueError, match="'sum' is not supported"):
        router.route_many(AI, aggregation_method=DistanceAggregationMethod.sum)
    with pytest.raises(ValueError, match="'sum' is not supported"):
        router.update_routing_config(RoutingConfig(aggregation_method="sum"))
    with pytest.raises(ValueError, match="'sum' is not supported"):
        SemanticRouter(name="x", routes=guide_routes(), vectorizer=encoder,
                       routing_config={"aggregation_method": "sum"})
    with pytest.raises(ValueError, match="aggregation_method must be one of"):
        router(AI, aggregation_method="median")
    with pytest.raises(ValueError, match="not found"):
        router.add_route_references("nope", ["x"])
    with pytest.raises(ValueError, match="No references found for route nope"):
        router.delete_route_references(route_name="nope")
    with pytest.raises(ValueError, match="No references found for ids/keys \\['absent'\\]"):
        router.delete_route_references(reference_ids=["absent"])
    with pytest.raises(ValueError, match="Must provide a route name"):
        router.get_route_references()
    assert router.get_route_references(route_name="nope") == []
    assert router.get("nope") is None
    router.remove_route("nope")  # logged, as in RedisVL
    assert len(router.route_names) == 3
    with pytest.raises(TypeError, match="connection_kwargs"):
        SemanticRouter(name="x", routes=[], vectorizer=encoder, connection_kwargs={"ssl": True})
    with pytest.raises(ValueError, match="router name"):
        SemanticRouter(name=" ", routes=[], vectorizer=encoder)
    with pytest.raises(ValueError, match="needs redis_url"):
        SemanticRouter.from_existing("topic-router")
    with pytest.raises(ValueError, match="missing \\['vectorizer', 'routing_config'\\]"):
        SemanticRouter.from_dict({"name": "x", "routes": []})
    with pytest.raises(FileNotFoundError):
        SemanticRouter.from_yaml(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        SemanticRouter.from_yaml(tmp_path / "bad.yaml")


def test_route_and_config_validation():
    with pytest.raises(ValidationError, match="distance_threshold"):
        Route(name="a", references=["x"], distance_threshold=0)
    # RedisVL's own messages (its tests match them)
    with pytest.raises(ValidationError, match="References must not be empty"):
        Route(name="a", references=[])
    with pytest.raises(ValidationError, match="All references must be non-empty strings"):
        Route(name="a", references=["x", " "])
    with pytest.raises(ValidationError, match="Route name must not be empty"):
        Route(name=" ", references=["x"])
    with pytest.raises(ValidationError, match="Route name must not be empty"):
        Route(name="", references=["x"])
    with pytest.raises(ValidationError):
        RoutingConfig(max_k=0)
    with pytest.raises(ValidationError, match="default_route"):
        RoutingConfig(default_route="technology")  # a later RedisVL setting the shim does not implement
    with pytest.warns(DeprecationWarning, match="per Route"):
        assert RoutingConfig.model_validate({"distance_threshold": 0.3, "max_k": 2}) == RoutingConfig(max_k=2)
    assert Route(name="a", references=["x"]).distance_threshold == 0.5  # RedisVL's default
    assert RoutingConfig() == RoutingConfig(max_k=1, aggregation_method=DistanceAggregationMethod.avg)


def test_vectorizers_map_to_encoders(encoder):
    assert HFTextVectorizer().name == DEFAULT_MODEL
    assert isinstance(HFTextVectorizer(model="all-MiniLM-L6-v2"), HuggingFaceEncoder)
    assert as_encoder(encoder) is encoder
    assert as_encoder({"type": "hf", "model": DEFAULT_MODEL}).name == DEFAULT_MODEL

    class RedisVLStyle:  # what a RedisVL HFTextVectorizer exposes
        type, model = "hf", "sentence-transformers/all-MiniLM-L6-v2"

    assert as_encoder(RedisVLStyle()).name == DEFAULT_MODEL
    with pytest.raises(TypeError, match="unsupported vectorizer .*openai"):
        as_encoder({"type": "openai", "model": "text-embedding-3-small"})
    with pytest.raises(TypeError, match="unsupported vectorizer"):
        SemanticRouter(name="x", routes=[], vectorizer="sentence-transformers/all-MiniLM-L6-v2")


def test_opens_a_router_built_with_the_native_api(encoder, redis_url):
    from semantic_router import Route as NativeRoute
    from semantic_router import RouteLayer
    from semantic_router.index import RedisIndex

    name = f"native-{uuid.uuid4().hex[:8]}"
    index = RedisIndex(url=redis_url, name=name)
    native = RouteLayer(encoder=encoder, index=index, auto_sync="local", routes=[
        NativeRoute(name="sports", utterances=["who won the game last night?", "basketball and football"]),
        NativeRoute(name="tech", utterances=["what's trending in tech?"], score_threshold=0.4)])
    try:
        router = SemanticRouter.from_existing(name, redis_url=redis_url)
        # a route without its own threshold shows the effective one: the encoder's 0.45 similarity
        assert router.route_thresholds == {"sports": pytest.approx(0.55), "tech": pytest.approx(0.6)}
        assert router.routing_config == RoutingConfig()  # nothing stored by the native router: RedisVL's defaults
        assert router("Lebron James and basketball").name == "sports"
    finally:
        native.index.drop()


def test_from_yaml_refuses_a_yaml_alias_bomb(tmp_path):
    from tests.test_config_validation import BOMB

    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    with pytest.raises(ValueError, match=r"not valid YAML: YAML aliases \(\*a\) are not allowed"):
        SemanticRouter.from_yaml(path)


def test_avg_averages_only_references_within_reach(encoder):
    # RedisVL's range query: a route's references farther than the largest threshold are not averaged in,
    # so one of the route's own references (distance 0) matches it
    politics = Route(name="politics", references=["are you liberal or conservative?", "who will you vote for?",
                                                  "political speech"], distance_threshold=0.3)
    router = SemanticRouter(name=f"avg-{uuid.uuid4().hex[:6]}", routes=[politics], vectorizer=encoder)
    match = router("political speech")
    assert match.name == "politics" and match.distance == pytest.approx(0.0, abs=1e-5)
    assert router("political speech", aggregation_method="min").name == "politics"
    with pytest.warns(DeprecationWarning, match="distance_threshold"):
        assert router("political speech", distance_threshold=0.3).name == "politics"


def test_vectorizer_api_and_vector_queries():
    router = SemanticRouter(name=f"vec-{uuid.uuid4().hex[:6]}", routes=guide_routes())  # default: HFTextVectorizer
    vec = router.vectorizer
    assert vec.type == router.to_dict()["vectorizer"]["type"] == "hf" and vec.dims == 384
    one = vec.embed("goodbye")
    assert isinstance(one, list) and len(one) == 384 and vec.embed_many(["goodbye"]) == [one]
    assert router(vector=vec.embed(AI)).name == "technology"
    assert router(vector=[0.0] * vec.dims).name is None  # a zero vector matches nothing


def test_bad_redis_url_raises_redis_pys_connection_error(encoder):
    import redis

    from semantic_router.errors import IndexBackendError

    with pytest.raises(redis.exceptions.ConnectionError) as caught:
        SemanticRouter(name="bad-url", routes=guide_routes(), vectorizer=encoder, redis_url="redis://127.0.0.1:1")
    assert isinstance(caught.value, IndexBackendError) and "unreachable" in str(caught.value)


def test_a_local_model_folder_round_trips_through_to_dict(tmp_path):
    # RedisVL keeps the model string it was given: a folder (e.g. a local all-mpnet-base-v2) loads again from it
    from semantic_router.encoders.huggingface import bundled_model_path

    folder = tmp_path / "my-model"
    folder.symlink_to(bundled_model_path(), target_is_directory=True)
    router = SemanticRouter(name="local-model", routes=guide_routes(), vectorizer=HFTextVectorizer(str(folder)))
    data = router.to_dict()
    assert data["vectorizer"] == {"type": "hf", "model": str(folder)}
    again = SemanticRouter.from_dict(data)
    assert again.vectorizer.name == str(folder) and again(AI) == router(AI) and router(AI).name == "technology"
