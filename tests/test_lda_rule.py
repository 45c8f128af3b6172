"""The `lda` rule: closed-form head, incremental retraining through `previous`, on synthetic vectors."""

from __future__ import annotations

import numpy as np
import pytest

from semantic_router.decision.lda import LdaRule, max_likelihood_scale
from semantic_router.decision.rules import RULES, make_rule

D = 24


def clustered(n_routes: int, per: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Read-only unit vectors around one random centre per route."""
    rng = np.random.default_rng(seed)
    out = {}
    for r in range(n_routes):
        centre = rng.standard_normal(D)
        x = (centre + 0.7 * rng.standard_normal((per, D))).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x.setflags(write=False)
        out[f"route-{r}"] = x
    return out


def queries(n: int = 16, seed: int = 1) -> np.ndarray:
    q = np.random.default_rng(seed).standard_normal((n, D)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def scratch(vectors: dict[str, np.ndarray], names: list[str]) -> LdaRule:
    return LdaRule().train(vectors, names)


def test_registered_and_validated():
    assert RULES["lda"] is LdaRule and isinstance(make_rule("lda"), LdaRule)
    assert make_rule({"name": "lda", "shrinkage": 0.3}).params() == {"lam": 0.05, "shrinkage": 0.3}
    with pytest.raises(ValueError, match="shrinkage"):
        LdaRule(shrinkage=1.5)
    with pytest.raises(ValueError, match="lam"):
        LdaRule(lam=-1)
    with pytest.raises(RuntimeError, match="not trained"):
        LdaRule().scores(queries())


def test_routes_its_own_utterances_and_stays_on_the_cosine_scale():
    vectors = clustered(6, 20)
    names = list(vectors)
    rule = scratch(vectors, names)
    q = np.concatenate([vectors[n][:3] for n in names])
    cos, logp = rule.parts(q)
    assert cos.shape == logp.shape == (18, 6)
    assert np.allclose(np.exp(logp).sum(axis=1), 1.0, atol=1e-5) and np.all(logp <= 1e-6)
    assert (rule.scores(q).argmax(axis=1) == np.repeat(np.arange(6), 3)).mean() >= 0.9
    s = rule.scores(q)
    assert np.all(s <= np.minimum(cos + rule.lam, 1.0) + 1e-6) and np.all(s >= -1.0)
    centroid = make_rule("centroid").train(vectors, names).scores(q)
    assert np.allclose(rule.copy_with(lam=0.0).scores(q), centroid, atol=1e-5)


def test_incremental_add_remove_change_equal_a_fresh_train():
    vectors = clustered(8, 15)
    names = list(vectors)
    q = queries()
    rule = scratch(vectors, names)
    # add one route: the others' summaries are reused, only the new rows are summed
    added = dict(vectors, new=clustered(1, 12, seed=5)["route-0"])
    grown = rule.train(added, names + ["new"], previous=rule)
    assert all(a is b for a, b in zip(grown.summaries.routes[:8], rule.summaries.routes))
    assert grown.summaries.touched == 12
    np.testing.assert_allclose(grown.scores(q), scratch(added, names + ["new"]).scores(q), atol=1e-5)
    # remove one and change another (a new array under the same name), in a new column order
    changed = {n: v for n, v in added.items() if n != "route-3"}
    changed["route-5"] = clustered(1, 9, seed=7)["route-0"]
    order = ["new"] + [n for n in names if n != "route-3"]
    after = grown.train(changed, order, previous=grown)
    assert after.summaries.touched == 12 + 15 + 15 + 9
    np.testing.assert_allclose(after.scores(q), scratch(changed, order).scores(q), atol=1e-5)


def test_many_incremental_steps_stay_exact_and_bounded():
    pool = clustered(12, 10, seed=3)
    names = list(pool)[:6]
    current = {n: pool[n] for n in names}
    rule = scratch(current, names)
    q = queries()
    for step, name in enumerate(list(pool)[6:]):
        current.pop(names.pop(0))
        current[name] = pool[name]
        names.append(name)
        rule = rule.train(current, names, previous=rule)
        assert rule.summaries.touched <= rule.summaries.rows  # full pass once drift could build up
        np.testing.assert_allclose(rule.scores(q), scratch(current, names).scores(q), atol=1e-5,
                                   err_msg=f"step {step}")


def test_deterministic_and_previous_never_changes():
    vectors = clustered(5, 10)
    names = list(vectors)
    a, b = scratch(vectors, names), scratch(vectors, names)
    for k, v in a.to_state()["arrays"].items():
        assert v.tobytes() == b.to_state()["arrays"][k].tobytes(), k
    template = LdaRule(lam=0.1)
    q = queries()
    before = a.scores(q).copy()
    a.train({**vectors, "x": clustered(1, 4, seed=9)["route-0"]}, names + ["x"], previous=a)
    template.train(vectors, names)
    assert np.array_equal(a.scores(q), before) and a.summaries.names == tuple(names)
    with pytest.raises(RuntimeError):
        template.scores(q)  # training returned a new rule; the template stays untrained


def test_single_route_empty_router_and_single_utterances():
    vectors = clustered(3, 1)
    q = queries(4)
    one = scratch({"a": vectors["route-0"]}, ["a"])
    cos, logp = one.parts(q)
    assert logp.shape == (4, 1) and np.allclose(logp, 0.0)
    np.testing.assert_allclose(one.scores(q), np.clip(cos + one.lam, -1, 1), atol=1e-6)
    empty = scratch({}, [])
    assert empty.scores(q).shape == (4, 0)
    singles = scratch(vectors, list(vectors))  # no route has two utterances: fallback temperature
    s = singles.scores(q)
    assert s.shape == (4, 3) and np.isfinite(s).all()
    assert (singles.scores(np.stack([vectors[n][0] for n in vectors])).argmax(axis=1) == [0, 1, 2]).all()


def test_shared_arrays_and_bad_vectors():
    x = clustered(2, 6)
    shared = {"a": x["route-0"], "b": x["route-0"], "c": x["route-1"]}
    rule = scratch(shared, ["a", "b", "c"])
    again = rule.train({"a": x["route-0"], "c": x["route-1"]}, ["a", "c"], previous=rule)
    np.testing.assert_allclose(again.scores(queries()), scratch(shared, ["a", "c"]).scores(queries()), atol=1e-5)
    with pytest.raises(ValueError, match="'bad'.*2-D"):
        LdaRule().train({"bad": np.zeros(D, np.float32)}, ["bad"])
    nan = np.array(x["route-1"])
    nan[2, 3] = np.nan
    with pytest.raises(ValueError, match="'b'.*NaN"):
        LdaRule().train({"a": x["route-0"], "b": nan}, ["a", "b"])
    with pytest.raises(ValueError, match="columns"):
        LdaRule().train({"a": x["route-0"], "b": np.zeros((2, D + 1), np.float32)}, ["a", "b"])


def test_new_lam_keeps_training_other_shrinkage_retrains():
    vectors = clustered(4, 8)
    names = list(vectors)
    rule = scratch(vectors, names)
    q = queries()
    tuned = rule.copy_with(lam=0.2)
    assert tuned.lam == 0.2 and tuned.summaries is rule.summaries
    cos, logp = rule.parts(q)
    np.testing.assert_allclose(tuned.scores(q), np.clip(cos + 0.2 * (1 + logp), -1, 1), atol=1e-6)
    with pytest.raises(RuntimeError):
        rule.copy_with(shrinkage=0.5).scores(q)
    grown = tuned.train({**vectors, "x": clustered(1, 5, seed=4)["route-0"]}, names + ["x"], previous=tuned)
    assert grown.lam == 0.2 and grown.summaries.touched == 5


def test_state_round_trip_and_inconsistent_state():
    vectors = clustered(4, 8)
    rule = scratch(vectors, list(vectors))
    back = LdaRule.from_state(rule.to_state())
    q = queries()
    assert np.array_equal(back.scores(q), rule.scores(q)) and back.summaries is None
    state = rule.to_state()
    state["arrays"]["bias"] = state["arrays"]["bias"][:2]
    with pytest.raises(ValueError, match="inconsistent lda rule state"):
        LdaRule.from_state(state)


def test_temperature_recovers_the_generating_scale():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4000, 30)).astype(np.float32) * 3
    for t0 in (0.3, 2.0):
        p = np.exp(t0 * logits)
        p /= p.sum(axis=1, keepdims=True)
        y = np.array([rng.choice(30, p=row) for row in p])
        assert max_likelihood_scale(logits, y) == pytest.approx(t0, rel=0.1)


def test_centroid_rule_reuses_route_sums_too():
    vectors = clustered(5, 7)
    names = list(vectors)
    rule = make_rule("centroid").train(vectors, names)
    changed = {n: v for n, v in vectors.items() if n != "route-1"}
    changed["new"] = clustered(1, 3, seed=8)["route-0"]
    order = ["new", *[n for n in names if n != "route-1"]]
    after = rule.train(changed, order, previous=rule)
    assert after.summaries.routes[1] is rule.summaries.routes[0] and after.summaries.gram.size == 0
    expected = np.stack([changed[n].sum(axis=0) / np.linalg.norm(changed[n].sum(axis=0)) for n in order])
    np.testing.assert_allclose(after.scores(queries()), queries() @ expected.T, atol=1e-5)
    lda = LdaRule().train(changed, order, previous=after)  # a centroid rule's sums carry no Gram: full pass
    np.testing.assert_allclose(lda.scores(queries()), scratch(changed, order).scores(queries()), atol=1e-6)
