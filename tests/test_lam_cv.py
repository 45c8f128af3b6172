"""`fit(layer)` without labelled data chooses the classifier's `lam` by cross-validation on the utterances."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.scale import LookupEncoder
from semantic_router import Route, RouteLayer
from semantic_router.decision.classifier import ClassifierRule
from semantic_router.decision.rules import blend
from semantic_router.quality.fit import fit
from semantic_router.quality.lam_cv import choose_lam

DIMS, ROUTES, PER = 16, 6, 20


def draw(rng: np.random.Generator, n: int, noise: float) -> np.ndarray:
    """Routes that differ by a small offset each, plus `noise` in dimensions no route uses: the
    centroids' cosine is swamped by the noise, which a trained head learns to ignore."""
    out = []
    for r in range(ROUTES):
        centre = np.zeros(DIMS)
        centre[0], centre[1 + r] = 3.0, 0.3
        x = centre + np.concatenate([0.05 * rng.standard_normal((n, 8)), noise * rng.standard_normal((n, 8))], axis=1)
        out.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return np.concatenate(out).astype(np.float32)


def layer(x: np.ndarray, lam: float = 0.05) -> RouteLayer:
    routes = [Route(name=f"r{r}", utterances=[f"u{i}" for i in range(r * PER, (r + 1) * PER)]) for r in range(ROUTES)]
    return RouteLayer(encoder=LookupEncoder(x), routes=routes, rule=ClassifierRule(lam=lam))


def test_cross_validation_picks_the_lam_that_serves_new_queries_better():
    rng = np.random.default_rng(0)
    rl = layer(draw(rng, PER, noise=1.0))
    try:
        report = fit(rl)
        queries, truth = draw(rng, 50, noise=1.0), np.repeat(np.arange(ROUTES), 50)
        cos, logp = rl.train_rule().parts(queries)
        held_out = {lam: float((blend(cos, logp, lam).argmax(1) == truth).mean()) for lam in (0.05, report.params["lam"])}
        assert report.params["lam"] == rl.rule.lam == report.lam_cv["lam"] >= 0.5  # the head is what separates them
        assert held_out[report.params["lam"]] > held_out[0.05] + 0.1  # and fresh queries agree
        accuracy = report.lam_cv["accuracy"]
        assert accuracy[report.params["lam"]] == max(accuracy.values()) > accuracy[0.05]
        assert report.after["cv_accuracy"] > report.before["cv_accuracy"]
        assert "lam" in str(report) and report.to_dict()["lam_cv"]["folds"] == 5
    finally:
        rl.close()


def test_a_tie_keeps_the_current_lam():
    rng = np.random.default_rng(1)
    rl = layer(draw(rng, PER, noise=0.01), lam=0.2)  # no noise: every lam routes every utterance right
    try:
        choice = choose_lam(rl)
        assert set(choice.accuracy.values()) == {1.0} and choice.lam == 0.2
        assert choice.utterances == ROUTES * PER
    finally:
        rl.close()


def test_bad_requests_are_refused():
    rng = np.random.default_rng(2)
    rl = layer(draw(rng, PER, noise=0.5))
    try:
        with pytest.raises(ValueError, match="both X and y"):
            fit(rl, ["hello"])
        with pytest.raises(ValueError, match="folds"):
            choose_lam(rl, folds=1)
        rl.rule = "centroid"
        with pytest.raises(ValueError, match="not of rule 'centroid'"):
            fit(rl)
    finally:
        rl.close()
