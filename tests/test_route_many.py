"""route_many is multi-label under every rule: each route passes on its own evidence, the rule
picks which one comes first (issue 9)."""

from __future__ import annotations

import pytest

from semantic_router import Route, RouteLayer

BASKETBALL = "How is AI used in basketball?"


def guide_routes() -> list[Route]:
    """The RedisVL router guide's routes and distance thresholds."""
    return [
        Route(name="technology", utterances=["what are the latest advancements in AI?",
                                             "tell me about the newest gadgets", "what's trending in tech?"],
              distance_threshold=0.71),
        Route(name="sports", utterances=["who won the game last night?", "tell me about the upcoming sports events",
                                         "what's the latest in the world of sports?", "sports",
                                         "basketball and football"], distance_threshold=0.72),
        Route(name="entertainment", utterances=["what are the top movies right now?", "who won the best actor award?",
                                                "what's new in the entertainment industry?"], distance_threshold=0.7),
    ]


@pytest.mark.parametrize("rule", [None, "classifier", "centroid", "knn"])
def test_the_guides_multi_label_query(encoder, rule):
    rl = RouteLayer(encoder=encoder, routes=guide_routes(), rule=rule)
    many = rl.route_many(BASKETBALL, max_k=3)
    assert {c.name for c in many} == {"technology", "sports"}
    assert many[0].name == rl(BASKETBALL).name  # the rule's answer comes first
    assert [c.name for c in rl.route_many(BASKETBALL, max_k=1)] == [many[0].name]


@pytest.mark.parametrize("rule", [None, "centroid", "knn"])
def test_the_readmes_multi_label_query(encoder, politics_chitchat, rule):
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat, rule=rule)
    many = rl.route_many("how is the weather and the president?")
    assert {c.name for c in many} == {"chitchat", "politics"}
    assert many[0].name == rl("how is the weather and the president?").name


def test_evidence_own_cosine_then_what_the_winner_leaves_unexplained(encoder, politics_chitchat):
    import numpy as np

    rl = RouteLayer(encoder=encoder, routes=politics_chitchat)
    q = encoder.encode(["how is the weather and the president?"], "query")[0]
    many = {c.name: c.similarity_score for c in rl.route_many(vector=q)}
    best = rl(vector=q)
    assert best.name == "chitchat" and many["chitchat"] == pytest.approx(best.similarity_score)  # the rule's score
    politics = encoder.encode(politics_chitchat[0].utterances)
    assert float((politics @ q).max()) < 0.45  # on its own, politics does not pass the default threshold...
    chit = encoder.encode(politics_chitchat[1].utterances)
    v = chit[np.argmax(chit @ q)]
    rest = q - (q @ v) * v
    rest /= np.linalg.norm(rest)
    assert many["politics"] == pytest.approx(float((politics @ rest).max()), abs=1e-5)  # ...on the remainder it does
    assert [c.name for c in rl.route_many("don't you love politics?")] == ["politics"]  # single topic: single label
    assert [c.name for c in rl.route_many(vector=q, route_filter=["chitchat"])] == ["chitchat"]


def test_setting_an_aggregation_switches_an_automatic_rule_to_knn(encoder, politics_chitchat):
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat)
    assert rl.rule_name == "classifier"
    rl.aggregation = "min"
    assert rl.rule_name == "knn" and rl.aggregation == "min"
    chosen = RouteLayer(encoder=encoder, routes=politics_chitchat, rule="centroid")
    with pytest.raises(ValueError, match="needs the knn rule"):
        chosen.aggregation = "min"
    assert chosen.rule_name == "centroid" and chosen.aggregation == "max"
    with pytest.raises(ValueError, match="aggregation must be one of"):
        rl.aggregation = "median"
