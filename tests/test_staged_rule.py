"""Staged training of the default `classifier` rule: a pending LDA interim at once, the logistic head in refine()."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semantic_router.decision import classifier
from semantic_router.decision.classifier import (
    SYNC_BUDGET,
    ClassifierRule,
    estimated_seconds,
)
from semantic_router.decision.lda import LdaRule
from semantic_router.decision.rules import Rule, make_rule

DIMS = 24


def routes(n_routes: int, per_route: int, seed: int = 0, prefix: str = "r") -> dict[str, np.ndarray]:
    """Read-only clustered unit vectors per route (like a router snapshot's arrays)."""
    rng = np.random.default_rng(seed)
    out = {}
    for r in range(n_routes):
        x = rng.standard_normal(DIMS).astype(np.float32) + 1.2 * rng.standard_normal((per_route, DIMS)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x.setflags(write=False)
        out[f"{prefix}{r}"] = x
    return out


VECTORS = routes(5, 12)
NAMES = list(VECTORS)
QUERIES = routes(1, 16, seed=9)["r0"]
FULL = ClassifierRule(sync_budget=math.inf)


def stacked(vectors: dict[str, np.ndarray], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([vectors[n] for n in names]), np.repeat(np.arange(len(names)), [len(vectors[n]) for n in names])


def test_small_route_sets_train_fully_at_once_like_before():
    trained = make_rule("classifier").train(VECTORS, NAMES)
    assert not trained.pending and trained.refine() is trained
    today = ClassifierRule()
    today.fit(*stacked(VECTORS, NAMES), len(NAMES))  # the in-place training the router used so far
    np.testing.assert_array_equal(trained.scores(QUERIES), today.scores(QUERIES))


def test_the_default_budget_stages_the_issue_sizes_but_not_test_routers():
    assert estimated_seconds(10_000, 384, 100) > SYNC_BUDGET >= estimated_seconds(60, 384, 6)
    big = routes(100, 100, seed=3)
    assert ClassifierRule().train(big, list(big)).pending


def test_over_budget_train_is_a_pending_lda_interim_and_refine_equals_a_full_training():
    rule = ClassifierRule(sync_budget=0.0)
    interim = rule.train(VECTORS, NAMES)
    assert interim.pending and not rule.pending
    lda = LdaRule(lam=rule.lam).train(VECTORS, NAMES)
    np.testing.assert_array_equal(interim.scores(QUERIES), lda.scores(QUERIES))
    before = interim.scores(QUERIES)
    final = interim.refine()
    assert not final.pending and final is not interim and final.refine() is final
    np.testing.assert_array_equal(final.scores(QUERIES), FULL.train(VECTORS, NAMES).scores(QUERIES))
    np.testing.assert_array_equal(interim.refine().scores(QUERIES), final.scores(QUERIES))  # deterministic
    assert interim.pending  # refine never mutates the interim: snapshots keep serving it
    np.testing.assert_array_equal(interim.scores(QUERIES), before)
    assert final.summaries is interim.summaries is not None  # the next change stays incremental
    assert final.spec() == rule.spec() == interim.spec()


def test_a_change_reuses_unchanged_route_summaries_and_warm_starts_refine(monkeypatch):
    starts = []
    real = classifier.train_logistic

    def recording(*args, **kwargs):
        starts.append(args[6] if len(args) > 6 else kwargs.get("start"))
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier, "train_logistic", recording)
    rule = ClassifierRule(sync_budget=0.0)
    final = rule.train(VECTORS, NAMES).refine()
    assert starts == [None]  # nothing to start from: a cold training
    kept = final.scores(QUERIES)
    grown = {**VECTORS, **routes(1, 12, seed=5, prefix="new")}
    grown_names = [*NAMES[1:], "new0"]  # one route gone, one added, the others in another order
    interim = rule.train(grown, grown_names, previous=final)
    assert interim.pending
    old = {id(s) for s in final.summaries.routes}
    for name, s in zip(grown_names, interim.summaries.routes):
        assert (id(s) in old) == (name in NAMES)  # the same summary object: not summarised again
    np.testing.assert_allclose(interim.scores(QUERIES), LdaRule(lam=rule.lam).train(grown, grown_names).scores(QUERIES),
                               atol=1e-5)
    refined = interim.refine()
    w0, b0 = starts[-1]
    w_prev, b_prev = final.warm_start()[1:]
    np.testing.assert_array_equal(w0[:, :-1], w_prev[:, 1:])  # columns matched by route name
    np.testing.assert_array_equal(b0[:-1], b_prev[1:])
    assert not w0[:, -1].any() and b0[-1] == 0.0  # the new route starts from zero
    cold = FULL.train(grown, grown_names).scores(QUERIES)
    np.testing.assert_allclose(refined.scores(QUERIES), cold, atol=0.02)
    assert (refined.scores(QUERIES).argmax(1) == cold.argmax(1)).all()
    np.testing.assert_array_equal(final.scores(QUERIES), kept)  # previous never mutated


def test_a_change_while_refining_starts_from_the_last_final_head(monkeypatch):
    starts = []
    real = classifier.train_logistic
    monkeypatch.setattr(classifier, "train_logistic", lambda *a, **k: starts.append(a[-1]) or real(*a, **k))
    rule = ClassifierRule(sync_budget=0.0)
    final = rule.train(VECTORS, NAMES).refine()
    first = rule.train({**VECTORS, **routes(1, 12, seed=5, prefix="a")}, [*NAMES, "a0"], previous=final)
    second = rule.train({**VECTORS, **routes(1, 12, seed=6, prefix="b")}, [*NAMES, "b0"], previous=first)
    second.refine()  # `first` was never refined: its successor starts from `final`
    np.testing.assert_array_equal(starts[-1][0][:, :-1], final.warm_start()[1])


@pytest.mark.parametrize("stage", ["interim", "final"])
def test_state_round_trip(stage):
    interim = ClassifierRule(sync_budget=0.0).train(VECTORS, NAMES)
    rule = interim if stage == "interim" else interim.refine()
    loaded = Rule.from_state(rule.to_state())
    assert isinstance(loaded, ClassifierRule) and loaded.pending == (stage == "interim")
    assert loaded.spec() == rule.spec()
    np.testing.assert_array_equal(loaded.scores(QUERIES), rule.scores(QUERIES))
    if stage == "interim":  # a loaded interim holds no vectors: refine needs them from the caller
        with pytest.raises(ValueError, match="without its training vectors"):
            loaded.refine()
        refined = loaded.refine(VECTORS)
        assert not refined.pending
        np.testing.assert_array_equal(refined.scores(QUERIES), FULL.train(VECTORS, NAMES).scores(QUERIES))


def test_bad_state_is_refused():
    state = ClassifierRule(sync_budget=0.0).train(VECTORS, NAMES).to_state()
    with pytest.raises(ValueError, match="needs its route columns"):
        Rule.from_state({k: v for k, v in state.items() if k != "columns"})
    with pytest.raises(ValueError, match="columns must be a list"):
        Rule.from_state({**state, "columns": [1, 2]})


@pytest.mark.parametrize("stage", ["interim", "final"])
def test_copy_with_keeps_either_training(stage):
    interim = ClassifierRule(sync_budget=0.0).train(VECTORS, NAMES)
    rule = interim if stage == "interim" else interim.refine()
    flat = rule.copy_with(lam=0.0)
    assert flat.lam == 0.0 and flat.pending == rule.pending and flat.summaries is rule.summaries
    cos, _ = rule.parts(QUERIES)
    np.testing.assert_array_equal(flat.scores(QUERIES), cos)  # lam 0: the centroid cosine, no retraining
    np.testing.assert_array_equal(flat.copy_with(lam=rule.lam).scores(QUERIES), rule.scores(QUERIES))
    if stage == "interim":
        assert flat.refine().lam == 0.0 and not flat.refine().pending


@pytest.mark.parametrize("budget", [-1.0, math.nan, "x"])
def test_bad_budget_is_a_clear_error(budget):
    with pytest.raises((ValueError, TypeError), match="sync_budget|bad parameters"):
        make_rule({"name": "classifier", "sync_budget": budget})
