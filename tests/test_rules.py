"""Decision rules (knn, centroid, classifier) on the real bundled model."""

from __future__ import annotations

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router.decision.classifier import ClassifierRule, train_logistic
from semantic_router.decision.rules import make_rule

ROUTES = {
    "weather": ["what's the weather like", "will it rain tomorrow", "is it sunny outside"],
    "music": ["play some jazz", "put on my workout playlist", "skip this song"],
    "billing": ["why was I charged twice", "show me my last invoice", "update my credit card"],
}
QUERIES = [("do I need an umbrella today", "weather"), ("play the next track", "music"),
           ("I was billed two times this month", "billing")]


def make(encoder, **kwargs):
    return RouteLayer(encoder=encoder, routes=[Route(name=n, utterances=u) for n, u in ROUTES.items()], **kwargs)


def test_default_rule_and_when_knn_is_chosen(encoder):
    assert make(encoder).rule_name == "classifier"
    assert make(encoder, aggregation="mean").rule_name == "knn"
    assert make(encoder, rule="centroid").rule_name == "centroid"
    own = RouteLayer(encoder=encoder, routes=[Route(name="a", utterances=["hi"], aggregation="min")])
    assert own.rule_name == "knn"
    with pytest.raises(ValueError, match="rule must be one of"):
        make(encoder, rule="nearest-ish")
    with pytest.raises(ValueError, match="bad parameters"):
        make_rule({"name": "classifier", "gamma": 3})


@pytest.mark.parametrize("rule", ["knn", "centroid", "classifier", "lda"])
def test_every_rule_routes_and_apis_agree(encoder, rule):
    rl = make(encoder, rule=rule, score_threshold=0.2)
    texts = [q for q, _ in QUERIES]
    assert [rl(q).name for q in texts] == [r for _, r in QUERIES]
    batch = rl.route_batch(texts)
    assert [c.name for c in batch] == [r for _, r in QUERIES]
    vecs = encoder.encode(texts)
    for v, c in zip(vecs, batch):
        single = rl(vector=v)
        assert single.name == c.name and single.similarity_score == pytest.approx(c.similarity_score, abs=1e-5)
    many = rl.route_many(texts[0])
    assert many[0].name == "weather"
    assert [c.similarity_score for c in many] == sorted((c.similarity_score for c in many), reverse=True)
    assert all(c.similarity_score >= 0.2 for c in many)
    # a route filter keeps only the named routes
    assert rl(texts[0], route_filter=["music", "billing"]).name in (None, "music", "billing")
    assert rl("zzzz qqq unrelated gibberish about nothing", explain=True).scores is not None


def test_classifier_scores_stay_on_the_cosine_scale(encoder):
    rl = make(encoder)
    q = encoder.encode(["do I need an umbrella today"])
    cls = rl.train_rule()
    cos, logp = cls.parts(q)
    assert np.all(logp <= 0) and np.allclose(np.exp(logp).sum(axis=1), 1.0, atol=1e-5)
    s = cls.scores(q)
    assert np.all(s <= cos + cls.lam + 1e-6) and np.all(s >= -1.0)
    centroid = make(encoder, rule="centroid").train_rule().scores(q)
    assert np.allclose(cls.copy_with(lam=0.0).scores(q), centroid, atol=1e-5)


def test_rule_trains_in_the_change_path_on_route_changes_only(encoder):
    rl = make(encoder)
    first = rl.snapshot.rule
    assert first.to_state()["arrays"], "trained by the constructor, not by the first query"
    n_routes = len(rl.list_route_names())
    rl("play the next track")
    rl("something else entirely")
    assert rl.snapshot.rule is first  # queries never train
    rl.update("music", score_threshold=0.3)  # thresholds only: the same trained rule
    assert rl.snapshot.rule is first
    rl.add(Route(name="cooking", utterances=["how do I bake bread", "a recipe for pasta", "how long to boil an egg"]))
    trained = rl.snapshot.rule
    assert trained is not first and trained.to_state()["arrays"]["weights"].shape[1] == len(rl.list_route_names())
    choice = rl("give me a recipe for lasagna", explain=True)
    assert rl.snapshot.rule is trained and choice.name == "cooking" and "cooking" in choice.scores
    rl.delete("cooking")
    choice = rl("give me a recipe for lasagna", explain=True)
    assert rl.snapshot.rule is not trained and "cooking" not in choice.scores
    before = rl.snapshot.rule
    rl.add_utterances("music", ["turn the volume up"])
    assert rl.snapshot.rule is not before
    assert first.to_state()["arrays"]["weights"].shape[1] == n_routes  # older snapshots' rules are never modified


def test_switching_rule_is_a_committed_change(encoder):
    rl = make(encoder)
    v = rl.version
    rl.rule = "centroid"
    assert rl.version == v + 1 and rl.extra["rule"] == {"name": "centroid"} and rl.rule_name == "centroid"
    assert rl("play the next track").name == "music"


def test_single_route_and_empty_router(encoder):
    one = RouteLayer(encoder=encoder, routes=[Route(name="weather", utterances=ROUTES["weather"])])
    assert one("will it rain later").name == "weather"
    empty = RouteLayer(encoder=encoder)
    assert empty("anything").name is None and empty.route_many("anything") == []


def test_state_round_trip_and_determinism(encoder):
    rl = make(encoder)
    cls = rl.train_rule()
    q = encoder.encode([q for q, _ in QUERIES])
    again = ClassifierRule.from_state(cls.to_state())
    assert np.array_equal(again.scores(q), cls.scores(q))
    assert make(encoder).train_rule().to_state()["arrays"]["weights"].tobytes() == \
        cls.to_state()["arrays"]["weights"].tobytes()
    x = np.random.default_rng(0).standard_normal((30, 8)).astype(np.float32)
    codes = np.arange(30) % 3
    w1, b1 = train_logistic(x, codes, 3)
    w2, b2 = train_logistic(x, codes, 3)
    assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    assert (np.argmax(x @ w1 + b1, axis=1) == codes).mean() > 0.9


def test_save_load_keeps_the_trained_rule(encoder, tmp_path):
    rl = make(encoder)
    texts = [q for q, _ in QUERIES] + ["tell me a joke about cats"]
    before = [(c.name, c.similarity_score) for c in rl.route_batch(texts)]
    rl.save(tmp_path / "r.pkl")
    back = RouteLayer.load(tmp_path / "r.pkl", encoder=encoder)
    assert back.rule_name == "classifier"
    assert [(c.name, c.similarity_score) for c in back.route_batch(texts)] == before
    assert np.array_equal(back.rule.to_state()["arrays"]["weights"], rl.rule.to_state()["arrays"]["weights"])
    rl.to_yaml(tmp_path / "r.yaml")
    y = RouteLayer.from_yaml(tmp_path / "r.yaml", encoder=encoder)
    assert y.rule_name == "classifier"
    assert [(c.name, c.similarity_score) for c in y.route_batch(texts)] == before  # retrained, same result
    forced = RouteLayer.from_yaml(tmp_path / "r.yaml", encoder=encoder, rule="knn")
    assert forced.rule_name == "knn"


def test_saved_rule_state_of_other_routes_is_not_used(encoder):
    a = make(encoder)
    state = a.rule_state()
    one = [Route(name="weather", utterances=ROUTES["weather"])]
    b = RouteLayer(encoder=encoder, routes=one, trained_rule=state)  # a state for other routes: retrained
    assert b.rule.to_state()["arrays"]["weights"].shape[1] == 1
    assert b("will it rain later").name == "weather"
    same = RouteLayer(encoder=encoder, routes=a.routes, trained_rule=state)
    assert np.array_equal(same.rule.to_state()["arrays"]["weights"], state["arrays"]["weights"])
    assert make(encoder, rule="knn").rule_state() is None
