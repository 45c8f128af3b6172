"""Choose a blend rule's `lam` by k-fold cross-validation on the routes' own utterances (no labelled data needed).

The classifier's score is cos + lam * (1 + log P) (`rules.blend`). Which `lam` serves best depends on
the data: on a held-out intent set 0.5-1.0, on CLINC150 with 10 utterances per intent 0.05 (issue 18),
so no fixed value serves both. Each route's utterances are dealt into `folds` folds (a fixed shuffle);
the rule is trained on all folds but one and each held-out utterance must pick its own route among
all routes (forced choice) under every `lam` of the grid: the scores come from one training per fold
(`BlendRule.parts`), so the grid costs nothing more. Cost is bounded by `max_rows` (utterances per
route are capped so the folds train on at most that many rows) and by `folds`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from semantic_router.decision.rules import BlendRule, blend

if TYPE_CHECKING:
    from semantic_router.router.layer import CoreRouteLayer as RouteLayer

#: the grid searched when none is given (the issue's range: 0.05 on CLINC150 K=10 up to 1.0)
LAM_CV_GRID = (0.05, 0.1, 0.2, 0.5, 1.0)
FOLDS = 5
#: utterances the cross-validation trains on at most (per fold; larger routers are subsampled per route)
MAX_ROWS = 20_000


@dataclass
class LamChoice:
    """The chosen blend weight and the forced-choice accuracy of every candidate on held-out utterances."""

    lam: float
    accuracy: dict[float, float]
    folds: int
    utterances: int
    seconds: float
    table: list[dict[str, float]] = field(default_factory=list)


def choose_lam(layer: RouteLayer, lams: Sequence[float] = LAM_CV_GRID, folds: int = FOLDS,
               max_rows: int = MAX_ROWS, seed: int = 0) -> LamChoice:
    """`lam` maximising k-fold forced-choice accuracy on the routes' utterances; ties keep the current
    `lam` if it is among the best, else the smallest. Deterministic for a `seed`."""
    import time

    from semantic_router.router.snapshot import held_vectors

    if not 2 <= folds <= 100:
        raise ValueError(f"folds must be within [2, 100], got {folds!r}")
    if not len(lams):
        raise ValueError(f"lams must hold at least one blend weight, got {lams!r}")
    t0 = time.perf_counter()
    rule = layer.train_rule()
    if not isinstance(rule, BlendRule):
        raise ValueError(f"lam is a parameter of the blend rules (classifier, lda), not of rule {rule.name!r}")
    snap = layer.snapshot
    names = list(snap.table.names)
    if len(names) < 2:
        raise ValueError(f"choosing lam by cross-validation needs at least 2 routes, got {len(names)}")
    vectors = held_vectors(snap.vectors, names)
    cap = max(folds, math.ceil(max_rows * folds / (folds - 1) / len(names)))
    rng = np.random.default_rng(seed)
    dealt = {}  # route -> (its rows, the fold of each row; -1 = always trained on)
    for name in names:
        x = np.asarray(vectors[name], dtype=np.float32)
        x = x[rng.permutation(len(x))[:cap]]
        fold = np.arange(len(x)) % folds if len(x) >= 2 else np.full(len(x), -1)
        dealt[name] = (x, fold)
    hits = np.zeros(len(lams))
    total = 0
    for f in range(folds):
        train = {n: x[fold != f] for n, (x, fold) in dealt.items()}
        test = [(r, x[fold == f]) for r, (x, fold) in enumerate(dealt.values()) if (fold == f).any()]
        if not test:
            continue
        trained = rule.train(train, names)
        if trained.pending:
            trained = trained.refine()
        assert isinstance(trained, BlendRule)  # train keeps the rule's class
        queries = np.concatenate([x for _, x in test])
        truth = np.concatenate([np.full(len(x), r) for r, x in test])
        cos, logp = trained.parts(queries)
        for i, lam in enumerate(lams):
            hits[i] += float((blend(cos, logp, float(lam)).argmax(axis=1) == truth).sum())
        total += len(truth)
    accuracy = {float(lam): hits[i] / max(total, 1) for i, lam in enumerate(lams)}
    best = max(accuracy.values())
    tied = [lam for lam, acc in accuracy.items() if acc >= best - 1e-12]
    chosen = rule.lam if rule.lam in tied else min(tied)
    return LamChoice(lam=chosen, accuracy=accuracy, folds=folds, utterances=total,
                     seconds=time.perf_counter() - t0,
                     table=[{"lam": lam, "cv_accuracy": round(acc, 4)} for lam, acc in accuracy.items()])
