"""The default `classifier` rule: a logistic-regression head blended with centroid cosine, trained in stages.

score(r) = clip(cos(query, centroid_r) + lam * (1 + log P(r | query)), -1, 1), see `rules.blend`.
Training the logistic head costs about N x d x R per L-BFGS pass (seconds at 10,000 utterances /
100 routes, minutes at 100,000 / 1,000), too slow for a change path that must serve a new route
in a fraction of a second. So when its estimated cost exceeds `sync_budget`, `train` returns an
interim rule at once: `pending`, scoring with a closed-form shrinkage-LDA head (`lda.LdaRule`, on
the same scale, its per-route summaries reused incrementally from the previous rule), and
`refine()` trains the logistic head (warm-started from the previous logistic weights of the
routes still present: about 5x fewer iterations after adding one route to CLINC150) for the
caller to publish when it is done. Small route sets train fully and at once, as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from semantic_router.decision.lda import LdaRule
from semantic_router.decision.rules import (
    BlendRule,
    RefineCancelled,
    Rule,
    centroids,
    log_softmax,
    normalise,
    param,
)
from semantic_router.decision.summaries import Summaries

#: estimated seconds of a full logistic training per (utterance x dimension x route): about 20-50
#: L-BFGS passes of two (N x d x R) products each, measured on a busy 2-core machine (7 s at 10k / 100)
SECONDS_PER_MAC = 2e-8
#: default `sync_budget`: trainings estimated to take longer are staged (the issue's 0.2 s target
#: for serving a new route at 10,000 utterances / 100 routes)
SYNC_BUDGET = 0.25

#: a warm start: the route names of the logistic head's columns, its weights (d, R) and biases (R,)
WarmStart = tuple[tuple[str, ...], np.ndarray, np.ndarray]


def estimated_seconds(rows: int, dims: int, n_routes: int) -> float:
    """Conservative estimate of a full logistic training's wall time (see `SECONDS_PER_MAC`)."""
    return float(rows) * dims * n_routes * SECONDS_PER_MAC


class ClassifierRule(BlendRule):
    """Logistic-regression head on centred utterance embeddings, blended with centroid cosine.

    The head is trained with L-BFGS (scipy) on the utterances of the routes, L2 penalty 1/C,
    deterministic. `sync_budget` (estimated seconds, see `estimated_seconds`) bounds the training
    `train` does at once; above it `train` returns a `pending` LDA interim that `refine()` completes
    (`inf`: always train at once; `0`: always stage).
    """

    name = "classifier"

    def __init__(self, C: float = 10.0, lam: float = 0.05, max_iter: int = 300, tol: float = 1e-4,
                 sync_budget: float = SYNC_BUDGET) -> None:
        if isinstance(C, (int, float)) and not C > 0:
            raise ValueError(f"C must be positive, got {C!r}")
        super().__init__(lam)
        self.C = param(C, "C", 0.0, 1e12)
        self.max_iter = param(max_iter, "max_iter", 1, 100_000, integer=True)
        self.tol = param(tol, "tol", 0.0, 1.0)
        self.sync_budget = param(sync_budget, "sync_budget (seconds)", 0.0, math.inf)
        self._m: np.ndarray | None = None  # (d, 2R + 1): centroids | W | mu
        self._b: np.ndarray | None = None  # (R,) bias
        self._mw: np.ndarray | None = None  # (R,) mu @ W
        self._mu2 = 0.0  # |mu|^2
        self._lda: LdaRule | None = None  # interim head (pending) and holder of the route summaries
        self._pending = False
        self._names: tuple[str, ...] | None = None  # route columns when trained by `train`
        self._warm: WarmStart | None = None  # start for `refine` (a pending rule only)

    def params(self) -> dict[str, Any]:
        return {"C": self.C, "lam": self.lam, "max_iter": self.max_iter, "tol": self.tol,
                "sync_budget": self.sync_budget}

    @property
    def pending(self) -> bool:
        return self._pending

    @property
    def summaries(self) -> Summaries | None:
        """Per-route summaries kept for incremental interim training (None below the budget or when loaded)."""
        return None if self._lda is None else self._lda.summaries

    def train(self, vectors_by_route: Mapping[str, np.ndarray], names: Sequence[str],
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
        new._lda = LdaRule(lam=self.lam).train(vectors_by_route, names,
                                               before if isinstance(before, LdaRule) else None)
        new._pending, new._names = True, tuple(names)
        new._warm = previous.warm_start() if isinstance(previous, ClassifierRule) else None
        return new

    def warm_start(self) -> WarmStart | None:
        """Where `refine` of a rule trained after this one starts: the latest logistic head and its routes."""
        if self._pending:
            return self._warm
        if self._m is None or self._b is None or self._names is None:
            return None
        r = self._b.shape[0]
        return self._names, self._m[:, r: 2 * r], self._b

    def refine(self, vectors_by_route: Mapping[str, np.ndarray] | None = None, *,
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
            lda = LdaRule(lam=self.lam).train(vectors_by_route, self._names)
        assert lda.summaries is not None
        parts = [np.asarray(s.vectors, dtype=np.float32) for s in lda.summaries.routes]
        codes = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
        new = ClassifierRule(**self.params())
        new._fit(np.concatenate(parts), codes, len(parts), self._start(lda.summaries.dims), should_stop)
        new._lda, new._names = lda, self._names
        return new

    def _start(self, dims: int) -> tuple[np.ndarray, np.ndarray] | None:
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

    def fit(self, vectors: np.ndarray, codes: np.ndarray, n_routes: int) -> None:
        """Train fully, in place, from stacked rows (never staged)."""
        self._fit(vectors, codes, n_routes, None)

    def _fit(self, vectors: np.ndarray, codes: np.ndarray, n_routes: int,
             start: tuple[np.ndarray, np.ndarray] | None, should_stop: Callable[[], bool] | None = None) -> None:
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
        self._lda, self._pending, self._warm = None, False, None

    def _set(self, cent: np.ndarray, w: np.ndarray, b: np.ndarray, mu: np.ndarray) -> None:
        self._m = np.ascontiguousarray(np.concatenate([cent.T, w, mu[:, None]], axis=1), dtype=np.float32)
        self._b = np.asarray(b, dtype=np.float32)
        self._mw = (mu @ w).astype(np.float32)
        self._mu2 = float(mu.astype(np.float64) @ mu.astype(np.float64))

    def parts(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centroid cosines and log-probabilities, both (B, R): score = blend(cos, logp, lam)."""
        if self._pending and self._lda is not None:
            return self._lda.parts(queries)
        if self._m is None or self._b is None:
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
            self._lda = LdaRule.from_state({"name": LdaRule.name, "params": {"lam": self.lam}, "arrays": lda})
            self._pending = True


def train_logistic(x: np.ndarray, codes: np.ndarray, n_classes: int, C: float = 10.0, max_iter: int = 300,
                   tol: float = 1e-4, start: tuple[np.ndarray, np.ndarray] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression, L2 penalty 1/(2C)|W|^2, L-BFGS: (W (d, K), b (K,)).

    Starts from zero, or from `start` = (W0, b0) (a warm start: the previous solution of a
    nearby problem). Deterministic for the same inputs (fixed start, fixed row order, no randomness).
    `should_stop` is asked before each of an evaluation's two (N x d x K) products; True raises
    `RefineCancelled`, so a closing router's refinement ends within one such product.
    """
    from scipy.optimize import minimize

    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    k = n_classes
    rows = np.arange(n)
    codes = np.asarray(codes, dtype=np.int64)
    inv_c = 1.0 / C

    def check() -> None:
        if should_stop is not None and should_stop():
            raise RefineCancelled("logistic training stopped on request")

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        check()
        w = theta[: d * k].reshape(d, k)
        z = x @ w.astype(np.float32) + theta[d * k:].astype(np.float32)
        z -= z.max(axis=1, keepdims=True)
        true = z[rows, codes].astype(np.float64)
        np.exp(z, out=z)
        total = z.sum(axis=1, keepdims=True)
        g = z / total  # probabilities
        loss = float((np.log(total[:, 0].astype(np.float64)) - true).sum()) + 0.5 * inv_c * float((w * w).sum())
        g[rows, codes] -= 1.0
        check()  # also between the evaluation's two big products: a stop waits for at most one of them
        grad_w = (x.T @ g).astype(np.float64) + inv_c * w
        return loss, np.concatenate([grad_w.ravel(), g.sum(axis=0, dtype=np.float64)])

    if start is None:
        theta0 = np.zeros(d * k + k)
    else:
        w0, b0 = start
        if w0.shape != (d, k) or b0.shape != (k,):
            raise ValueError(f"warm start must be W {(d, k)} and b {(k,)}, got {w0.shape} and {b0.shape}")
        theta0 = np.concatenate([np.asarray(w0, np.float64).ravel(), np.asarray(b0, np.float64)])
    res = minimize(loss_grad, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "ftol": tol})
    return res.x[: d * k].reshape(d, k).astype(np.float32), res.x[d * k:].astype(np.float32)
