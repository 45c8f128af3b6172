"""`lda`: a closed-form shrinkage-LDA head on per-route summaries, retrained incrementally.

Same score as the classifier rule, cos(query, centroid_r) + lam * (1 + log P(r | query)), clipped
to [-1, 1], so default thresholds and `fit` work unchanged; only the head differs. P comes from
linear discriminant analysis with a pooled, shrunk covariance:

    Sigma = (1 - shrinkage) * S_w / (N - R) + shrinkage * tr(.) / d * I,   S_w = G - sum_r s_r s_r^T / n_r
    logit_r(q) = tau * (q . Sigma^-1 m_r - m_r . Sigma^-1 m_r / 2)       (equal route priors)

built from per-route counts n_r, sums s_r and the total Gram matrix G (see `summaries`): one
d x d solve, no pass over the utterances except for routes that changed. The temperature tau
maximises the leave-one-out likelihood of a fixed, history-independent sample of the training
utterances (the first few of each route), so log P is neither over- nor under-confident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from semantic_router._blas import single_threaded_blas
from semantic_router.decision.rules import BlendRule, Rule, log_softmax, normalise, param
from semantic_router.decision.summaries import Summaries
from semantic_router.vectors import Floats, Ints

#: utterances sampled to choose the temperature (at least one per route)
TAU_SAMPLE = 1024
#: the same for the classifier's interim, which serves only until its refined head arrives: at 1,000
#: utterances the larger sample was most of an `add`'s time
INTERIM_TAU_SAMPLE = 256
#: logits per sampled utterance that enter the temperature's likelihood (its largest ones)
TAU_TOP = 64
#: temperature when no route has two utterances to leave one out (measured typical on CLINC150)
TAU_FALLBACK = 0.05
EMPTY_LOGIT = -1e4  # routes without utterances: never the head's choice


class LdaRule(BlendRule):
    """Centroid cosine blended with a shrinkage-LDA head trained in closed form from route summaries."""

    name = "lda"

    def __init__(self, lam: float = 0.05, shrinkage: float = 0.05, *, tau_sample: int = TAU_SAMPLE) -> None:
        super().__init__(lam)
        self.tau_sample = tau_sample  # not a hyperparameter: how many utterances choose the temperature
        self.shrinkage = param(shrinkage, "shrinkage", 0.0, 1.0)
        self._m: Floats | None = None  # (d, 2R): centroids | tau * Sigma^-1 m_r
        self._b: Floats | None = None  # (R,)
        self._summaries: Summaries | None = None

    def params(self) -> dict[str, Any]:
        return {"lam": self.lam, "shrinkage": self.shrinkage}

    @property
    def summaries(self) -> Summaries | None:
        """The per-route summaries this rule was trained on (None when loaded from a saved state)."""
        return self._summaries

    def train(self, vectors_by_route: Mapping[str, Floats], names: Sequence[str],
              previous: Rule | None = None) -> LdaRule:
        """A new trained rule; summaries of routes whose array is unchanged come from `previous`."""
        before = previous._summaries if isinstance(previous, LdaRule) else None
        # small BLAS calls: threaded BLAS made them 10-20x slower on a busy 2-core machine (measured)
        with single_threaded_blas():
            summaries = Summaries.collect(vectors_by_route, names, before)
            new = LdaRule(**self.params(), tau_sample=self.tau_sample)
            new._summaries = summaries
            new._set(*solve(summaries, self.shrinkage, self.tau_sample))
        return new

    def copy_with(self, **params: Any) -> LdaRule:
        """The same rule with other hyperparameters; a new `lam` keeps the training (and its summaries)."""
        new = LdaRule(**{**self.params(), **params})
        if new.shrinkage == self.shrinkage and self._m is not None and self._b is not None:
            new._set(self._m, self._b)
            new._summaries = self._summaries
        return new

    def fit(self, vectors: Floats, codes: Ints, n_routes: int) -> None:
        """Train in place from stacked rows (for callers that still hand over one matrix)."""
        x = np.asarray(vectors, dtype=np.float32)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(n_routes + 1))
        parts = {str(r): x[order[bounds[r]:bounds[r + 1]]] for r in range(n_routes)}
        if not n_routes:
            parts = {}
        trained = self.train(parts, [str(r) for r in range(n_routes)])
        assert trained._m is not None and trained._b is not None  # train always solves
        self._set(trained._m, trained._b)
        self._summaries = None

    def _set(self, m: Floats, b: Floats) -> None:
        self._m = np.ascontiguousarray(m, dtype=np.float32)
        self._b = np.asarray(b, dtype=np.float32)

    def parts(self, queries: Floats) -> tuple[Floats, Floats]:
        if self._m is None or self._b is None:
            raise RuntimeError("lda rule is not trained")
        r = self._b.shape[0]
        if r == 0:
            empty = np.zeros((queries.shape[0], 0), np.float32)
            return empty, empty
        z = queries @ self._m
        return z[:, :r], log_softmax(z[:, r:] + self._b)

    def _arrays(self) -> dict[str, np.ndarray]:
        if self._m is None or self._b is None:
            return {}
        r = self._b.shape[0]
        return {"centroids": self._m[:, :r].T.copy(), "weights": self._m[:, r:].copy(), "bias": self._b.copy()}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        if {"centroids", "weights", "bias"} <= set(arrays):
            cent, w, b = (np.asarray(arrays[k], np.float32) for k in ("centroids", "weights", "bias"))
            if cent.ndim != 2 or w.shape != (cent.shape[1], cent.shape[0]) or b.shape != (cent.shape[0],):
                raise ValueError(f"inconsistent lda rule state: centroids {cent.shape}, weights {w.shape}, "
                                 f"bias {b.shape}")
            self._set(np.concatenate([cent.T, w], axis=1), b)


def solve(summaries: Summaries, shrinkage: float, sample: int = TAU_SAMPLE) -> tuple[Floats, Floats]:
    """(d, 2R) [centroids | scaled LDA weights] and (R,) biases from route summaries."""
    # imported on first training, which keeps `import semantic_router` light
    from scipy.linalg import cho_factor, cho_solve

    d, counts, sums = summaries.dims, summaries.counts, summaries.sums
    r = len(counts)
    if r == 0:
        return np.zeros((d, 0)), np.zeros(0)
    centroids = normalise(sums)
    filled = counts > 0
    means = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=filled[:, None])
    within = summaries.gram - (sums[filled].T / counts[filled]) @ sums[filled]
    dof = summaries.rows - int(filled.sum())
    cov = (within + within.T) / (2.0 * max(dof, 1))
    scale = float(np.trace(cov)) / max(d, 1)
    if dof == 0 or not scale > 0:  # one utterance per route: no within-route spread to estimate
        cov, scale, shrinkage = np.zeros((d, d)), 1.0, 1.0
    # a floor on the ridge keeps the factorisation valid when rounding leaves S_w slightly indefinite
    cov = (1.0 - shrinkage) * cov + max(shrinkage, 1e-6) * scale * np.eye(d)
    factor = cho_factor(cov, lower=True, check_finite=False)
    weights = cho_solve(factor, means.T, check_finite=False)  # (d, R)
    bias = -0.5 * np.einsum("rd,dr->r", means, weights)
    tau = temperature(summaries, factor, weights, bias, sample) if r > 1 else 1.0
    bias = np.where(filled, tau * bias, EMPTY_LOGIT)
    return np.concatenate([centroids.T, tau * weights], axis=1), bias


def temperature(summaries: Summaries, factor: tuple[Floats, bool], weights: Floats, bias: Floats,
                sample: int = TAU_SAMPLE) -> float:
    """Logit scale maximising the leave-one-out log-likelihood of the first few utterances per route.

    Leaving x out of its route moves that route's mean by (m - x) / (n - 1); the own-route logit
    then drops by e.Sigma^-1.e * (1 / (n - 1) + 1 / (2 (n - 1)^2)) with e = x - m (the covariance
    is kept: its change is second order)."""
    from scipy.linalg import solve_triangular

    per = max(1, sample // max(len(summaries.routes), 1))
    rows, codes = [], []
    for code, s in enumerate(summaries.routes):
        if s.n >= 2:
            take = min(per, s.n)
            rows.append(np.asarray(s.vectors[:take], dtype=np.float64))
            codes.append(np.full(take, code))
    if not rows:
        return TAU_FALLBACK
    x, y = np.concatenate(rows), np.concatenate(codes)
    n = summaries.counts[y]
    e = x - summaries.sums[y] / n[:, None]
    half = solve_triangular(factor[0], e.T, lower=True, check_finite=False)  # Sigma = L L^T
    quad = (half * half).sum(axis=0)
    logits = (x.astype(np.float32) @ weights.astype(np.float32) + bias.astype(np.float32)).astype(np.float32)
    idx = np.arange(len(y))
    logits[idx, y] -= (quad * (1.0 / (n - 1.0) + 0.5 / (n - 1.0) ** 2)).astype(np.float32)
    logits[:, summaries.counts == 0] = -np.inf
    return max_likelihood_scale(logits, y)


def max_likelihood_scale(logits: Floats, y: Floats, upper: float = 400.0) -> float:
    """The scale t in (0, upper] minimising the mean of -log softmax(t * logits)[y].

    The loss is convex in t: its derivative is E_p[l] - l_y averaged over rows and its second
    derivative the variance of l under p, so safeguarded Newton steps on a bracket converge in
    a handful of passes. Only each row's `TAU_TOP` largest logits (and the true one) enter: the
    rest carry no measurable probability at any scale that fits."""
    idx = np.arange(len(y))
    true = logits[idx, y].copy()
    if logits.shape[1] > TAU_TOP:
        logits = np.partition(logits, logits.shape[1] - TAU_TOP, axis=1)[:, -TAU_TOP:]
        missing = true < logits[:, 0]
        logits[missing, 0] = true[missing]
    lo, hi, t = 0.0, upper, 1.0 / max(float(np.std(logits[np.isfinite(logits)])), 1e-6)
    for _ in range(60):
        z = t * logits
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        lp = np.where(p > 0, logits, 0.0)
        mean = (p * lp).sum(axis=1)
        grad = float((mean - true).mean())
        hess = float(((p * lp * lp).sum(axis=1) - mean * mean).mean())
        if grad > 0:
            hi = t
        else:
            lo = t
        if abs(grad) < 1e-7 or hi - lo < 1e-6 * hi:
            break
        step = t - grad / hess if hess > 0 else np.inf
        t = step if lo < step < hi else (lo + hi) / 2.0
    return float(t)
