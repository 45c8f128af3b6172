"""The classifier's candidate-softmax refinement: the exact solve when every route is a candidate, close to it
otherwise, and after a change only the columns the change touched are retrained."""

from __future__ import annotations

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router.decision import classifier
from semantic_router.decision.classifier import ClassifierRule
from semantic_router.decision.logistic import candidates, changed_columns, train_candidate_logistic, train_logistic
from semantic_router.decision.rules import normalise

DIMS = 32


def routes(n_routes: int, per_route: int, seed: int = 0, prefix: str = "r", noise: float = 1.6,
           centres: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Read-only clustered unit vectors per route around random (or given) centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_routes, DIMS)) if centres is None else centres
    out = {}
    for r in range(n_routes):
        x = (centres[r] + noise * rng.standard_normal((per_route, DIMS))).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x.setflags(write=False)
        out[f"{prefix}{r}"] = x
    return out


CENTRES = np.random.default_rng(7).standard_normal((40, DIMS))
VECTORS = routes(40, 15, centres=CENTRES)
NAMES = list(VECTORS)
QUERIES = np.concatenate(list(routes(40, 5, seed=1, centres=CENTRES).values()))
TRUTH = np.repeat(np.arange(40), 5)
# the candidate solve however small the router (the default keeps routers below ~20 s estimated exact)
CANDIDATE = ClassifierRule(sync_budget=0.0, exact_budget=0.0, candidates=16)
EXACT = ClassifierRule(sync_budget=0.0, candidates=0)
NEW_CENTRE = np.random.default_rng(8).standard_normal((1, DIMS))
SPARSE = CANDIDATE.copy_with(candidates=6)  # few candidates: an add touches few columns


def test_every_route_a_candidate_is_the_exact_problem():
    vectors = routes(6, 20, seed=3)
    parts = list(vectors.values())
    x = np.concatenate(parts)
    mu = x.mean(axis=0)
    centred = [normalise(p - mu).astype(np.float32) for p in parts]
    sums = np.stack([p.sum(axis=0) for p in parts])
    w, b = train_candidate_logistic(centred, candidates(sums, 6), tol=1e-12, max_iter=2000)
    w_exact, b_exact = train_logistic(np.concatenate(centred), np.repeat(np.arange(6), 20), 6, tol=1e-12, max_iter=2000)
    np.testing.assert_allclose(w, w_exact, atol=2e-3)
    np.testing.assert_allclose(b - b.mean(), b_exact - b_exact.mean(), atol=2e-3)  # softmax: b up to a constant


def test_candidates_are_each_route_then_its_nearest_routes():
    sums = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    np.testing.assert_array_equal(candidates(sums, 2), [[0, 1], [1, 0], [2, 1], [3, 2]])
    assert candidates(sums, 10).shape == (4, 4)  # never more candidates than routes


def test_the_candidate_head_approaches_the_exact_head():
    near = CANDIDATE.train(VECTORS, NAMES).refine()
    exact = EXACT.train(VECTORS, NAMES).refine()
    a, e = near.scores(QUERIES).argmax(1), exact.scores(QUERIES).argmax(1)
    assert (a == e).mean() >= 0.95
    assert abs((a == TRUTH).mean() - (e == TRUTH).mean()) <= 0.03
    assert (e == TRUTH).mean() > 0.6  # a case where the head has something to learn


def test_an_add_retrains_only_the_columns_it_touched(monkeypatch):
    frees = []
    real = classifier.train_candidate_logistic

    def recording(*args, **kwargs):
        frees.append(kwargs.get("free", args[6] if len(args) > 6 else None))
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier, "train_candidate_logistic", recording)
    built = SPARSE.train(VECTORS, NAMES).refine()
    assert frees == [None]  # the build: every column
    new = routes(1, 15, seed=5, prefix="new", centres=NEW_CENTRE)
    grown, grown_names = {**VECTORS, **new}, [*NAMES, "new0"]
    refined = SPARSE.train(grown, grown_names, previous=built).refine()
    cands = candidates(np.stack([grown[n].sum(axis=0, dtype=np.float64) for n in grown_names]), 6)
    expected = {40} | {r for r in range(40) if 40 in cands[r]}  # the new route, and routes it became a candidate of
    assert set(frees[-1].tolist()) == expected and len(expected) < 40 // 2
    cold = SPARSE.train(grown, grown_names).refine()
    queries = np.concatenate([QUERIES, routes(1, 10, seed=6, centres=NEW_CENTRE)["r0"]])
    a, c = refined.scores(queries).argmax(1), cold.scores(queries).argmax(1)
    assert (a == c).mean() >= 0.95
    assert (a[-10:] == 40).mean() >= 0.5  # the new route is learned
    unchanged = [r for r in range(40) if r not in expected]
    np.testing.assert_array_equal(refined.warm_start()[1][:, unchanged], built.warm_start()[1][:, unchanged])

    kept = [n for n in grown_names if n != "r3"]  # a removal: the routes r3 was a candidate of
    before = refined.refine()
    shrunk = SPARSE.train({n: grown[n] for n in kept}, kept, previous=before).refine()
    expected_removed = {kept.index(n) for r, n in enumerate(grown_names) if n != "r3" and 3 in cands[r]}
    assert set(frees[-1].tolist()) == expected_removed
    assert not shrunk.pending


def test_changed_columns_names_new_changed_and_reneighboured_routes():
    cands_before = np.array([[0, 1], [1, 0], [2, 1]])
    cands_now = np.array([[0, 1], [1, 3], [2, 1], [3, 1]])
    free = changed_columns(["a", "b", "c", "d"], cands_now, ["a", "b", "c"], cands_before, [True, True, False, False])
    assert free.tolist() == [1, 2, 3]  # b: a new neighbour; c: its rows changed; d: new
    assert changed_columns(["a"], cands_now[:1], [], None, [False]).tolist() == [0]


def test_many_small_changes_fall_back_to_a_full_solve(monkeypatch):
    frees = []
    real = classifier.train_candidate_logistic
    monkeypatch.setattr(classifier, "train_candidate_logistic",
                        lambda *a, **k: frees.append(a[6] if len(a) > 6 else k.get("free")) or real(*a, **k))
    rule = SPARSE.train(VECTORS, NAMES).refine()
    vectors, names = dict(VECTORS), list(NAMES)
    for k in range(8):  # each add touches its neighbours' columns; past half of the rows: a full solve again
        vectors[f"n{k}"] = routes(1, 15, seed=20 + k, centres=CENTRES[k:k + 1])["r0"]
        names.append(f"n{k}")
        rule = SPARSE.train(vectors, names, previous=rule).refine()
    assert frees[0] is None and frees[1] is not None and any(f is None for f in frees[2:])


@pytest.mark.slow
def test_a_router_on_the_candidate_head_serves_during_refinements():
    from tests.hash_encoder import HashEncoder

    topics = [f"topic{k} alpha{k} beta{k} gamma{k} delta{k}" for k in range(30)]
    made = [Route(name=f"t{k}", utterances=[f"{a} {b}" for a in w.split() for b in w.split() if a != b])
            for k, w in enumerate(topics)]
    rl = RouteLayer(encoder=HashEncoder(), routes=made, rule=CANDIDATE)
    try:
        for k in range(3):
            rl.add(Route(name=f"new{k}", utterances=[f"fresh{k} word{k}", f"word{k} fresh{k} more"]))
            assert rl(f"fresh{k} word{k}").name == f"new{k}"  # served at once by the interim
        final = rl.train_rule()
        assert not final.pending and rl("alpha4 gamma4").name == "t4"
    finally:
        rl.close()
