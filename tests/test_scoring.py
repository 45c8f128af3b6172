"""The decision arithmetic: single-query and batched aggregation agree; fusion keeps the scale."""

from __future__ import annotations

import numpy as np
import pytest

from semantic_router.decision import scoring


@pytest.mark.parametrize("method", ["max", "mean", "sum", "min"])
@pytest.mark.parametrize("per_route", [None, 1, 2])
def test_single_query_path_matches_the_batched_one(method, per_route):
    rng = np.random.default_rng(7)
    codes = rng.integers(-1, 4, size=(40, 8))
    scores = rng.uniform(-0.2, 1.0, size=(40, 8)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.1] = -np.inf  # padding
    batched = scoring.aggregate(codes, scores, 4, method, per_route)
    for i in range(len(codes)):
        single = scoring.aggregate(codes[i : i + 1], scores[i : i + 1], 4, method, per_route)
        np.testing.assert_allclose(single, batched[i : i + 1], rtol=1e-6, equal_nan=True)


def test_aggregate_values():
    codes = np.array([[0, 1, 0, -1, 0]])
    scores = np.array([[0.9, 0.5, 0.7, 0.99, 0.1]], dtype=np.float32)
    assert scoring.aggregate(codes, scores, 3, "max")[0, 0] == pytest.approx(0.9)
    assert scoring.aggregate(codes, scores, 3, "mean")[0, 0] == pytest.approx((0.9 + 0.7 + 0.1) / 3)
    assert scoring.aggregate(codes, scores, 3, "mean", per_route=2)[0, 0] == pytest.approx(0.8)
    assert scoring.aggregate(codes, scores, 3, "min")[0, 1] == pytest.approx(0.5)
    assert np.isnan(scoring.aggregate(codes, scores, 3, "max")[0, 2])  # no hit: never passes


def test_fuse_and_threshold_decisions():
    dense = np.array([[0.6, 0.2]], dtype=np.float32)
    sparse = np.array([[1.4, -0.1]], dtype=np.float32)  # clipped to [0, 1]
    fused = scoring.fuse(dense, sparse, 0.7)
    np.testing.assert_allclose(fused, [[0.7 * 0.6 + 0.3, 0.7 * 0.2]], rtol=1e-6)
    assert scoring.fuse(dense, sparse, 1.0) is dense
    agg = np.array([[0.5, np.nan, 0.3], [0.1, 0.2, 0.0]])
    ok = scoring.passing(agg, np.array([0.4, 0.0, 0.0]))
    assert ok.tolist() == [[True, False, True], [False, True, True]]
    idx, score = scoring.best(agg, ok)
    assert idx.tolist() == [0, 1] and score.tolist() == pytest.approx([0.5, 0.2])
    assert scoring.ranked(agg[0], ok[0], None) == [0, 2]
