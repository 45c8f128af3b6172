"""Routing behaviour on the real bundled model: answers, thresholds, route_many, batch, hybrid."""

from __future__ import annotations

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router.encoders import BM25Encoder
from semantic_router.face import RouteLayer as LayerFromModule
from semantic_router.router.layer import CoreRouteLayer
from semantic_router.routers import HybridRouter, SemanticRouter


@pytest.fixture()
def rl(encoder, politics_chitchat):
    return RouteLayer(encoder=encoder, routes=politics_chitchat)


def test_import_paths_name_the_same_class():
    assert LayerFromModule is RouteLayer
    assert issubclass(RouteLayer, CoreRouteLayer)  # the face: the router plus fit/evaluate from quality/
    assert not hasattr(CoreRouteLayer, "fit") and not hasattr(CoreRouteLayer, "evaluate")
    # semantic_router.routers is aurelio's import path: its faces are RouteLayers with aurelio's conventions
    assert issubclass(SemanticRouter, RouteLayer) and issubclass(HybridRouter, SemanticRouter)


def test_issue_examples_route_on_defaults(rl):
    assert rl("don't you love politics?").name == "politics"
    assert rl("how's the weather today?").name == "chitchat"
    assert rl("I'm interested in learning about llama 2").name is None
    assert rl("are aliens real?").name is None


def test_route_choice_carries_metadata_and_score(rl):
    choice = rl("lovely weather we are having")
    assert choice.name == "chitchat"
    assert choice.metadata == {"team": "bot"}
    assert 0.4 <= choice.similarity_score <= 1.0
    assert choice.function_call is None
    assert choice.scores is None


def test_explain_gives_per_route_scores(rl):
    choice = rl("don't you love politics?", explain=True)
    assert set(choice.scores) == {"politics", "chitchat"}
    assert choice.scores["politics"] == pytest.approx(choice.similarity_score)
    assert choice.scores["politics"] > choice.scores["chitchat"]
    none = rl("are aliens real?", explain=True)
    assert none.name is None and none.scores and max(none.scores.values()) < 0.45


def test_default_threshold_comes_from_the_encoder(rl, encoder):
    assert rl.score_threshold is None
    table = rl.snapshot.table
    assert table.thresholds[table.code["politics"]] == encoder.score_threshold
    assert table.thresholds[table.code["chitchat"]] == 0.4


def test_route_by_precomputed_vector(rl, encoder):
    vec = encoder.encode(["don't you love politics?"], "query")[0]
    assert rl(vector=vec).name == "politics"
    assert rl(vector=vec * 3.0).name == "politics"  # scale does not matter
    assert rl(vector=vec.tolist()).similarity_score == pytest.approx(rl("don't you love politics?").similarity_score,
                                                                      abs=1e-5)


def test_zero_threshold_is_a_real_threshold(encoder, politics_chitchat):
    strict = RouteLayer(encoder=encoder, routes=politics_chitchat, score_threshold=0.99)
    assert strict("don't you love politics?").name is None
    zero = RouteLayer(encoder=encoder, routes=politics_chitchat, score_threshold=0.0)
    # every unrelated query with a positive cosine now passes the politics route
    assert zero("are aliens real?").name is not None
    strict.update("politics", score_threshold=0.0)
    assert strict.get("politics").score_threshold == 0.0
    assert strict("are aliens real?").name == "politics"


def test_distance_threshold_is_one_minus_similarity(encoder, politics_chitchat):
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat, distance_threshold=0.3)
    assert rl.score_threshold == pytest.approx(0.7)
    r = Route(name="x", utterances=["a"], distance_threshold=0.25)
    assert r.score_threshold == pytest.approx(0.75)


def test_route_many_applies_each_routes_threshold_first(encoder):
    near = Route(name="near", utterances=["tell me about basketball players"], score_threshold=0.99)
    far = Route(name="far", utterances=["artificial intelligence in sports"], score_threshold=0.3)
    other = Route(name="other", utterances=["recipes for pasta"], score_threshold=0.3)
    rl = RouteLayer(encoder=encoder, routes=[near, far, other], top_k=1)
    many = rl.route_many("how is AI used in basketball?", max_k=3)
    assert [c.name for c in many] == ["far"]
    # the single best route is also not hidden by a nearer route that fails its threshold
    assert rl("how is AI used in basketball?").name == "far"


def test_route_many_orders_best_first_and_limits(encoder):
    routes = [
        Route(name="sports", utterances=["who won the basketball game", "football scores"]),
        Route(name="ai", utterances=["machine learning models", "artificial intelligence research"]),
        Route(name="cooking", utterances=["how to bake bread", "pasta recipes"]),
    ]
    rl = RouteLayer(encoder=encoder, routes=routes, score_threshold=0.2)
    many = rl.route_many("how is AI used in basketball?", max_k=3, aggregation="max")
    names = [c.name for c in many]
    assert set(names) >= {"sports", "ai"} and "cooking" not in names
    scores = [c.similarity_score for c in many]
    assert scores == sorted(scores, reverse=True)
    assert len(rl.route_many("how is AI used in basketball?", max_k=1)) == 1


@pytest.mark.parametrize("aggregation", ["max", "mean", "sum", "min"])
def test_every_aggregation(encoder, aggregation):
    routes = [
        Route(name="weather", utterances=["is it raining", "how hot is it outside", "weather forecast please"]),
        Route(name="music", utterances=["play some jazz", "put on a song", "next track"]),
    ]
    rl = RouteLayer(encoder=encoder, routes=routes, aggregation=aggregation, score_threshold=0.0, top_k=6)
    choice = rl("will it rain tomorrow?", explain=True)
    assert choice.name == "weather"
    # check the aggregate against the hits directly
    vec = encoder.encode_queries(["will it rain tomorrow?"])[0]
    sims = [float(vec @ encoder.encode([u])[0]) for u in routes[0].utterances]
    expected = {"max": max(sims), "mean": np.mean(sims), "sum": sum(sims), "min": min(sims)}[aggregation]
    assert choice.scores["weather"] == pytest.approx(expected, abs=1e-4)


def test_route_own_aggregation_overrides_layer(encoder):
    a = Route(name="a", utterances=["is it raining", "play some jazz"], aggregation="min", score_threshold=0.0)
    rl = RouteLayer(encoder=encoder, routes=[a], aggregation="max", top_k=4)
    s = rl("is it raining", explain=True).scores["a"]
    assert s < 0.5  # min of a close and a far utterance


def test_route_batch_matches_single_calls(rl):
    texts = ["don't you love politics?", "lovely weather today", "are aliens real?", "the president is great"]
    batch = rl.route_batch(texts)
    assert [c.name for c in batch] == [rl(t).name for t in texts]
    assert [c.similarity_score for c in batch] == pytest.approx(
        [rl(t).similarity_score for t in texts], nan_ok=True, abs=1e-5
    ) if all(c.similarity_score is not None for c in batch) else True


def test_route_batch_with_vectors(rl, encoder):
    texts = ["don't you love politics?", "lovely weather today", "are aliens real?"]
    vecs = encoder.encode(texts, "query")
    assert [c.name for c in rl.route_batch(vectors=vecs)] == ["politics", "chitchat", None]
    encoder.clear_cache()
    before = encoder.calls
    rl.route_batch(texts)
    assert encoder.calls - before == 3  # one batched encode of the three texts


def test_query_cache_avoids_re_encoding(rl, encoder):
    rl("what a fine day for a walk")
    before = encoder.calls
    rl("what a fine day for a walk")
    assert encoder.calls == before


def test_route_filter(rl):
    assert rl("don't you love politics?", route_filter=["chitchat"]).name is None
    assert rl("lovely weather today", route_filter=["chitchat"]).name == "chitchat"


def test_empty_router_routes_to_none(encoder):
    rl = RouteLayer(encoder=encoder)
    assert rl("hello").name is None
    assert rl.route_many("hello") == []


def test_hybrid_changes_scores_and_still_routes(encoder, politics_chitchat):
    dense = RouteLayer(encoder=encoder, routes=politics_chitchat)
    hybrid = RouteLayer(encoder=encoder, routes=politics_chitchat, sparse_encoder=BM25Encoder(), alpha=0.7)
    q = "don't you love politics?"
    assert hybrid(q).name == "politics"
    assert hybrid("how's the weather today?").name == "chitchat"
    assert hybrid("are aliens real?").name is None
    d, h = dense(q, explain=True).scores, hybrid(q, explain=True).scores
    assert d["politics"] != pytest.approx(h["politics"], abs=1e-4)
    # an exact lexical match lifts the hybrid score to the top of the scale
    exact = hybrid("lovely weather today", explain=True).scores["chitchat"]
    assert exact == pytest.approx(1.0, abs=1e-3)


def test_hybrid_refits_bm25_when_utterances_change(encoder, politics_chitchat):
    bm25 = BM25Encoder()
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat, sparse_encoder=bm25)
    fitted = rl.sparse_encoder  # each snapshot has its own fitted copy: queries never see a half-fitted one
    n_before = fitted.corpus_size
    rl.add(Route(name="zebra", utterances=["zebras have stripes", "a zebra in the savanna"]))
    assert rl.sparse_encoder.corpus_size == n_before + 2 and fitted.corpus_size == n_before
    assert "zebra" in rl.sparse_encoder.idf and bm25.corpus_size == 0
    sparse = [r.sparse for r in rl.index.records()]
    assert all(s is not None for s in sparse)
    assert rl("zebra stripes", explain=True).scores["zebra"] > 0.5


def test_choices_behave_like_validated_models(rl):
    from semantic_router.route import RouteChoice

    choice = rl("lovely weather today")
    same = RouteChoice(name="chitchat", similarity_score=choice.similarity_score, metadata={"team": "bot"})
    assert choice == same and choice.model_dump() == same.model_dump()
    assert choice.model_copy(update={"name": "x"}).name == "x"
    choice.function_call = [{"name": "f", "arguments": {}}]  # assignable like any model field
    assert choice.function_call[0]["name"] == "f"
    assert RouteChoice.model_validate_json(choice.model_dump_json()) == choice


@pytest.mark.parametrize("rule", ["knn", "centroid", "classifier"])
def test_names_differing_by_a_trailing_nul_stay_two_routes_in_batches(rule):
    from tests.hash_encoder import HashEncoder

    routes = [Route(name="a", utterances=["alpha apple", "alpha avocado"]),
              Route(name="a\x00", utterances=["beta banana", "beta berry"])]
    rl = RouteLayer(encoder=HashEncoder(), routes=routes, rule=rule, top_k=4, score_threshold=0.1)
    queries = ["beta banana berry", "alpha apple avocado"] * 20  # 40 queries x 4 hits: the batched lookup
    expected = ["a\x00", "a"] * 20
    assert [c.name for c in rl.route_batch(queries)] == expected
    assert [rl(q).name for q in queries[:2]] == expected[:2]
