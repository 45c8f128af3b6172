"""The default `classifier` rule: a logistic-regression head blended with centroid cosine, trained in stages.

score(r) = clip(cos(query, centroid_r) + lam * (1 + log P(r | query)), -1, 1), see `rules.blend`.
Training the logistic head costs about N x d x R per L-BFGS pass (seconds at 10,000 utterances /
100 routes, minutes at 100,000 / 1,000), too slow for a change path that must serve a new route
in a fraction of a second. So when its estimated cost exceeds `sync_budget`, `train` returns an
interim rule at once: `pending`, scoring with a closed-form shrinkage-LDA head (`lda.LdaRule`, on
the same scale, its per-route summaries reused incrementally from the previous rule), and
`refine()` trains the logistic head (warm-started from the previous logistic weights of the
routes still present: about 5x fewer iterations after adding one route to CLINC150) for the
caller to publish when it is done. Small route sets train fully and at once, as before. Large
ones (above `exact_budget`) refine a candidate-softmax head and, after a change, only the columns
the change touched (`logistic.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semantic_router.decision.lda import INTERIM_TAU_SAMPLE, LdaRule
from semantic_router.decision.logistic import (
    CANDIDATES,
    active_routes,
    candidates,
    changed_columns,
    train_candidate_logistic,
    train_logistic,
)
from semantic_router.decision.rules import (
    BlendRule,
    Rule,
    centroids,
    log_softmax,
    normalise,
    param,
)
from semantic_router.decision.summaries import Summaries
from semantic_router.vectors import Floats, Ints

#: estimated seconds of a full logistic training per (utterance x dimension x route): about 20-50
#: L-BFGS passes of two (N x d x R) products each, measured on a busy 2-core machine (7 s at 10k / 100)
SECONDS_PER_MAC = 2e-8
#: default `sync_budget`: trainings estimated to take longer are staged (issue 18: an add at 1,000
#: utterances served within 0.05 s; 0.25 made routers below ~1,300 / 10 train the head in the change)
SYNC_BUDGET = 0.02
#: default `exact_budget`: refinements estimated to take longer solve the candidate softmax instead
#: (`logistic.train_candidate_logistic`); CLINC150 (15,000 / 150: 17 s estimated) stays exact
EXACT_BUDGET = 20.0

#: a warm start: the route names of the logistic head's columns, its weights (d, R) and biases (R,)
WarmStart = tuple[tuple[str, ...], Floats, Floats]


@dataclass(frozen=True)
class Basis:
    """What retraining only the changed columns needs from the head before: its centring, candidate sets
    and route arrays (the same object = the same rows), and the rows retrained that way since its last
    full solve (past half of the rows, the next refinement solves in full again)."""

    names: tuple[str, ...]
    mu: Floats
    cands: Ints
    arrays: tuple[Floats, ...]
    touched: int


def estimated_seconds(rows: int, dims: int, n_routes: int) -> float:
    """Conservative estimate of a full logistic training's wall time (see `SECONDS_PER_MAC`)."""
    return float(rows) * dims * n_routes * SECONDS_PER_MAC


class ClassifierRule(BlendRule):
    """Logistic-regression head on centred utterance embeddings, blended with centroid cosine.

    The head is trained with L-BFGS (scipy) on the utterances of the routes, L2 penalty 1/C,
    deterministic. `sync_budget` (estimated seconds, see `estimated_seconds`) bounds the training
    `train` does at once; above it `train` returns a `pending` LDA interim that `refine()` completes
    (`inf`: always train at once; `0`: always stage). A refinement estimated above `exact_budget`
    seconds scores each route's utterances against its `candidates` nearest routes only (see
    `logistic.py`), and after a change retrains only the columns the change touched (0: always exact).
    """

    name = "classifier"

    def __init__(self, C: float = 10.0, lam: float = 0.05, max_iter: int = 300, tol: float = 1e-4,
                 sync_budget: float = SYNC_BUDGET, candidates: int = CANDIDATES,
                 exact_budget: float = EXACT_BUDGET) -> None:
        if isinstance(C, (int, float)) and not C > 0:
            raise ValueError(f"C must be positive, got {C!r}")
        super().__init__(lam)
        self.C = param(C, "C", 0.0, 1e12)
        self.max_iter = param(max_iter, "max_iter", 1, 100_000, integer=True)
        self.tol = param(tol, "tol", 0.0, 1.0)
        self.sync_budget = param(sync_budget, "sync_budget (seconds)", 0.0, math.inf)
        self.candidates = param(candidates, "candidates", 0, 1_000_000, integer=True)
        self.exact_budget = param(exact_budget, "exact_budget (seconds)", 0.0, math.inf)
        self._m: Floats | None = None  # (d, 2R + 1): centroids | W | mu
        self._b: Floats | None = None  # (R,) bias
        self._mw: Floats | None = None  # (R,) mu @ W
        self._mu2 = 0.0  # |mu|^2
        self._lda: LdaRule | None = None  # interim head (pending) and holder of the route summaries
        self._pending = False
        self._names: tuple[str, ...] | None = None  # route columns when trained by `train`
        self._warm: WarmStart | None = None  # start for `refine` (a pending rule only)
        self._basis: Basis | None = None  # of the latest candidate-softmax head (this one, or before a pending one)

    def params(self) -> dict[str, Any]:
        return {"C": self.C, "lam": self.lam, "max_iter": self.max_iter, "tol": self.tol,
                "sync_budget": self.sync_budget, "candidates": self.candidates, "exact_budget": self.exact_budget}

    @property
    def pending(self) -> bool:
        return self._pending

    @property
    def summaries(self) -> Summaries | None:
        """Per-route summaries kept for incremental interim training (None below the budget or when loaded)."""
        return None if self._lda is None else self._lda.summaries

    def train(self, vectors_by_route: Mapping[str, Floats], names: Sequence[str],
              previous: Rule | None = None) -> ClassifierRule:
        """Fully trained at once within `sync_budget`; else a pending LDA interim (see the module doc)."""
        shapes = [np.shape(vectors_by_route[n]) for n in names]
        rows = sum(s[0] for s in shapes if len(s) == 2)
        dims = next((s[1] for s in shapes if len(s) == 2), 0)
        if len(names) < 2 or estimated_seconds(rows, dims, len(names)) <= self.sync_budget:
            new = super().train(vectors_by_route, names, previous)
            assert isinstance(new, ClassifierRule)
            new._names = tuple(names)
            return new
        before = previous._lda if isinstance(previous, ClassifierRule) else previous
        new = ClassifierRule(**self.params())
        new._lda = LdaRule(lam=self.lam, tau_sample=INTERIM_TAU_SAMPLE).train(vectors_by_route, names,
                                               before if isinstance(before, LdaRule) else None)
        new._pending, new._names = True, tuple(names)
        new._warm = previous.warm_start() if isinstance(previous, ClassifierRule) else None
        new._basis = previous._basis if isinstance(previous, ClassifierRule) else None
        return new

    def warm_start(self) -> WarmStart | None:
        """Where `refine` of a rule trained after this one starts: the latest logistic head and its routes."""
        if self._pending:
            return self._warm
        if self._m is None or self._b is None or self._names is None:
            return None
        r = self._b.shape[0]
        return self._names, self._m[:, r: 2 * r], self._b

    def refine(self, vectors_by_route: Mapping[str, Floats] | None = None, *,
               should_stop: Callable[[], bool] | None = None) -> ClassifierRule:
        """The logistic head for a pending rule (self otherwise): the same routes, the same summaries.

        `should_stop` is polled during each L-BFGS function evaluation (see `train_logistic`, `Rule.refine`)."""
        if not self._pending:
            return self
        assert self._names is not None
        lda = self._lda
        if lda is None or lda.summaries is None:  # loaded from a saved state: the vectors come from the caller
            if vectors_by_route is None or any(n not in vectors_by_route for n in self._names):
                raise ValueError("this pending classifier was loaded without its training vectors: "
                                 "refine(vectors_by_route) needs the vectors of routes "
                                 f"{', '.join(map(repr, self._names))}")
            lda = LdaRule(lam=self.lam, tau_sample=INTERIM_TAU_SAMPLE).train(vectors_by_route, self._names)
        summaries = lda.summaries
        assert summaries is not None
        new = ClassifierRule(**self.params())
        dims, n_routes = summaries.dims, len(summaries.routes)
        if 0 < self.candidates < n_routes and estimated_seconds(summaries.rows, dims, n_routes) > self.exact_budget:
            new._fit_candidates(summaries, self._start(dims), self._basis, should_stop)
        else:
            parts = [np.asarray(s.vectors, dtype=np.float32) for s in summaries.routes]
            codes = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
            new._fit(np.concatenate(parts), codes, len(parts), self._start(dims), should_stop)
        new._lda, new._names = lda, self._names
        return new

    def _fit_candidates(self, summaries: Summaries, start: tuple[Floats, Floats] | None, before: Basis | None,
                        should_stop: Callable[[], bool] | None) -> None:
        """The candidate-softmax head; after a change (a `start` and the `before` basis) only the changed columns."""
        names, routes = summaries.names, summaries.routes
        cands = candidates(summaries.sums, self.candidates)
        free, mu, touched = None, None, 0
        if start is not None and before is not None and before.mu.shape[0] == summaries.dims:
            held = dict(zip(before.names, before.arrays))
            changed = changed_columns(names, cands, before.names, before.cands,
                                      [held.get(n) is s.vectors for n, s in zip(names, routes)])
            touched = before.touched + sum(routes[r].n for r in changed)
            if touched <= summaries.rows // 2:
                free, mu = changed, before.mu
        if mu is None:  # a full solve: centred on today's mean
            mu, touched = (summaries.sums.sum(axis=0) / max(summaries.rows, 1)).astype(np.float32), 0
        trained = range(len(routes)) if free is None else set(active_routes(cands, free).tolist())
        # only the rows of routes with a trained candidate are read (the other columns keep `start`)
        parts = [normalise(np.asarray(s.vectors, dtype=np.float32) - mu).astype(np.float32) if r in trained
                 else s.vectors for r, s in enumerate(routes)]
        w, b = train_candidate_logistic(parts, cands, self.C, self.max_iter, self.tol, start, free, should_stop)
        self._set(normalise(summaries.sums).astype(np.float32), w, b, mu)
        self._basis = Basis(names, mu, cands, tuple(s.vectors for s in routes), touched)
        self._pending, self._warm = False, None

    def _start(self, dims: int) -> tuple[Floats, Floats] | None:
        """Warm start for this rule's columns: previous weights where the route name matches, zero elsewhere."""
        if self._warm is None or self._names is None:
            return None
        names, w, b = self._warm
        if w.shape[0] != dims:
            return None
        where = {n: i for i, n in enumerate(names)}
        w0, b0 = np.zeros((dims, len(self._names)), np.float32), np.zeros(len(self._names), np.float32)
        for j, n in enumerate(self._names):
            if n in where:
                w0[:, j], b0[j] = w[:, where[n]], b[where[n]]
        return w0, b0

    def fit(self, vectors: Floats, codes: Ints, n_routes: int) -> None:
        """Train fully, in place, from stacked rows (never staged)."""
        self._fit(vectors, codes, n_routes, None)

    def _fit(self, vectors: Floats, codes: Ints, n_routes: int,
             start: tuple[Floats, Floats] | None, should_stop: Callable[[], bool] | None = None) -> None:
        x = np.asarray(vectors, dtype=np.float32)
        d = x.shape[1]
        cent = centroids(x, codes, n_routes)
        mu = x.mean(axis=0, dtype=np.float64).astype(np.float32)
        if n_routes > 1:
            w, b = train_logistic(normalise(x - mu), codes, n_routes, self.C, self.max_iter, self.tol, start,
                                  should_stop=should_stop)
        else:
            w, b = np.zeros((d, n_routes), np.float32), np.zeros(n_routes, np.float32)
        self._set(cent, w, b, mu)
        self._lda, self._pending, self._warm, self._basis = None, False, None, None

    def _set(self, cent: Floats, w: Floats, b: Floats, mu: Floats) -> None:
        self._m = np.ascontiguousarray(np.concatenate([cent.T, w, mu[:, None]], axis=1), dtype=np.float32)
        self._b = np.asarray(b, dtype=np.float32)
        self._mw = (mu @ w).astype(np.float32)
        self._mu2 = float(mu.astype(np.float64) @ mu.astype(np.float64))

    def parts(self, queries: Floats) -> tuple[Floats, Floats]:
        """Centroid cosines and log-probabilities, both (B, R): score = blend(cos, logp, lam)."""
        if self._pending and self._lda is not None:
            return self._lda.parts(queries)
        if self._m is None or self._b is None or self._mw is None:  # _set sets all three
            raise RuntimeError("classifier rule is not trained")
        r = self._b.shape[0]
        z = queries @ self._m
        # centring: |q - mu| for unit q, so the head sees (q - mu) / |q - mu| at the cost of one column
        scale = np.sqrt(np.maximum(1.0 - 2.0 * z[:, -1] + self._mu2, 1e-12))
        logits = z[:, r: 2 * r] - self._mw
        logits /= scale[:, None]
        logits += self._b
        return z[:, :r], log_softmax(logits)

    def copy_with(self, **params: Any) -> ClassifierRule:
        """The same rule with other hyperparameters; the training (interim or final) and its summaries are kept."""
        new = ClassifierRule(**{**self.params(), **params})
        new._m, new._b, new._mw, new._mu2 = self._m, self._b, self._mw, self._mu2
        new._lda, new._pending, new._names, new._warm = self._lda, self._pending, self._names, self._warm
        new._basis = self._basis
        return new

    def to_state(self) -> dict[str, Any]:
        """Params, learned arrays and (when known) the route columns; an interim saves its LDA head."""
        state = super().to_state()
        if self._names is not None:
            state["columns"] = list(self._names)
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        super()._restore(state)
        columns = state.get("columns")
        if columns is not None:
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                raise ValueError(f"classifier rule state: columns must be a list of route names, got {columns!r}")
            self._names = tuple(columns)
        if self._pending and self._names is None:
            raise ValueError("classifier rule state: a pending rule needs its route columns")

    def _arrays(self) -> dict[str, np.ndarray]:
        if self._pending and self._lda is not None:
            return {f"lda_{k}": v for k, v in self._lda.to_state()["arrays"].items()}
        if self._m is None or self._b is None:
            return {}
        r = self._b.shape[0]
        return {"centroids": self._m[:, :r].T.copy(), "weights": self._m[:, r: 2 * r].copy(),
                "bias": self._b.copy(), "mean": self._m[:, -1].copy()}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        if {"centroids", "weights", "bias", "mean"} <= set(arrays):
            self._set(np.asarray(arrays["centroids"], np.float32), np.asarray(arrays["weights"], np.float32),
                      np.asarray(arrays["bias"], np.float32), np.asarray(arrays["mean"], np.float32))
            self._lda, self._pending = None, False
        elif {"lda_centroids", "lda_weights", "lda_bias"} <= set(arrays):
            lda = {k[len("lda_"):]: v for k, v in arrays.items() if k.startswith("lda_")}
            interim = LdaRule.from_state({"name": LdaRule.name, "params": {"lam": self.lam}, "arrays": lda})
            assert isinstance(interim, LdaRule)  # from_state builds the rule its state names
            self._lda = interim
            self._pending = True
