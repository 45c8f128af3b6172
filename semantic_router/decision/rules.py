"""Decision rules: how a query's similarity to the route utterances becomes one score per route.

Every rule returns (B, R) scores on the threshold scale (a route passes when its score reaches
its threshold; higher is better):

- ``knn``: today's rule. The index returns the query's top-k utterances and each route's hits
  are aggregated (max/mean/sum/min). Works on any index without reading its vectors, and is the
  only rule that uses hybrid (BM25 + dense) scores.
- ``centroid``: cosine between the query and the normalised mean of each route's utterance
  vectors. One (R x d) product per query, independent of the number of utterances.
- ``classifier`` (`classifier.py`): a multinomial logistic-regression head trained on the route
  utterances' (centred) embeddings, blended with centroid cosine; large route sets train in two
  stages (an LDA interim, then the logistic head in `refine`).
- ``lda`` (`lda.py`): the same blend with a closed-form shrinkage-LDA head.

Vector rules are trained in the change path (`Rule.train`) from the vectors a router snapshot
already holds: never on the query path, never from the index.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from semantic_router.decision.scoring import cosines
from semantic_router.decision.summaries import Summaries

DEFAULT_RULE = "classifier"

#: rule name -> class; every Rule subclass that names itself registers here (see make_rule)
RULES: dict[str, type[Rule]] = {}


def param(value: Any, name: str, low: float, high: float, integer: bool = False) -> Any:
    """A rule hyperparameter: a number within [low, high] (an integer if asked), NaN never; else a
    ValueError naming it. Rules come from configs, saved files and shared state: a bad value is
    refused here, once, instead of failing or answering NaN on every query."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or (
            integer and not float(value).is_integer()):
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}, got "
                         f"{type(value).__name__}: {value!r:.40}")
    if math.isnan(value) or not low <= value <= high:
        raise ValueError(f"{name} must be within [{low}, {high}], got {value!r}")
    return int(value) if integer else float(value)


class RefineCancelled(Exception):
    """`refine` gave up because its `should_stop` said so (the router is closing); internal, the refiner catches it."""


class Rule(ABC):
    """A decision rule: learns from route utterance vectors, scores queries per route.

    Staged training (the change protocol): a change trains with `train(...)` and publishes the
    rule it returns at once. When that rule is `pending` (a fast interim head standing in for a
    slow one), the caller may call `refine(vectors_by_route)` off the query path (a background
    thread) and publish the refined rule if the route set did not change meanwhile (otherwise
    drop it: the newer change's rule is already pending or final). `refine` is pure (never
    mutates `self`), thread-safe and deterministic; the refined rule is not pending.
    """

    name: str = "rule"
    #: True when the rule scores index hits (the layer's search path) instead of its own vectors
    uses_index: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            RULES[cls.name] = cls

    def params(self) -> dict[str, Any]:
        """Hyperparameters (plain data): enough to rebuild and retrain the rule."""
        return {}

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, **self.params()}

    def fit(self, vectors: np.ndarray, codes: np.ndarray, n_routes: int) -> None:
        """Learn from unit vectors (N, d) of route utterances, `codes[i]` = route column."""

    @abstractmethod
    def scores(self, queries: np.ndarray) -> np.ndarray:
        """(B, R) scores for unit query vectors (B, d)."""

    def train(self, vectors_by_route: Mapping[str, np.ndarray], names: Sequence[str],
              previous: Rule | None = None) -> Rule:
        """A NEW rule with these hyperparameters, trained on the routes' unit utterance vectors.

        `names` gives the route columns (score column r is route names[r]); `vectors_by_route[name]` is
        that route's (n, d) float32 unit matrix. Arrays are immutable and shared between snapshots, so
        `previous` (the rule trained for the snapshot before) may reuse work for routes whose array is
        the very same object. `self` is never modified (snapshots keep serving it)."""
        new = make_rule({"name": self.name, **self.params()})
        if new.uses_index:
            return new
        parts = [np.asarray(vectors_by_route[n], dtype=np.float32) for n in names]
        dims = next((p.shape[1] for p in parts if p.ndim == 2 and p.shape[1]), 0)
        x = np.concatenate(parts) if parts else np.zeros((0, dims), np.float32)
        codes = np.repeat(np.arange(len(names)), [len(p) for p in parts])
        new.fit(x, codes, len(names))
        return new

    @property
    def pending(self) -> bool:
        """True for an interim rule that `refine()` replaces with the fully trained one."""
        return False

    def refine(self, vectors_by_route: Mapping[str, np.ndarray] | None = None, *,
               should_stop: Callable[[], bool] | None = None) -> Rule:
        """The fully trained rule for a `pending` one (self when not pending); slow, run it off the query path.

        `vectors_by_route` (the same routes' vectors given to `train`) is needed only by a rule that
        does not hold them itself (one loaded from a saved state); pass them when you have them.
        `should_stop` is polled during the training: once it returns True, `RefineCancelled` is raised
        within one optimisation step (a closing router stops its background refinement)."""
        return self

    def to_state(self) -> dict[str, Any]:
        """Params plus learned arrays (plain data and numpy arrays only)."""
        return {"name": self.name, "params": self.params(), "arrays": self._arrays()}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        pass

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Rule:
        rule = make_rule({"name": state["name"], **state.get("params", {})})
        rule._restore(state)
        return rule

    def _restore(self, state: dict[str, Any]) -> None:
        """Take back the learned part of `to_state` (subclasses with more than arrays extend it)."""
        self._load_arrays({k: np.asarray(v) for k, v in state.get("arrays", {}).items()})

    def copy_with(self, **params: Any) -> Rule:
        """The same rule with other hyperparameters (learned arrays kept where still valid)."""
        new = make_rule({"name": self.name, **self.params(), **params})
        new._load_arrays(self._arrays())
        return new

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class KnnRule(Rule):
    """Per-route aggregation of the index's top-k hits (the layer's `top_k` and `aggregation`)."""

    name = "knn"
    uses_index = True

    def scores(self, queries: np.ndarray) -> np.ndarray:  # pragma: no cover - the layer searches
        raise TypeError("the knn rule scores index hits; the layer routes it through its search path")


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def centroids(vectors: np.ndarray, codes: np.ndarray, n_routes: int) -> np.ndarray:
    sums = np.zeros((n_routes, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, codes, vectors.astype(np.float64))
    return normalise(sums).astype(np.float32)


class CentroidRule(Rule):
    """Cosine between the query and each route's normalised mean utterance vector."""

    name = "centroid"

    def __init__(self) -> None:
        self._c: np.ndarray | None = None  # (d, R)
        self._summaries: Summaries | None = None

    def train(self, vectors_by_route: Mapping[str, np.ndarray], names: Sequence[str],
              previous: Rule | None = None) -> CentroidRule:
        """A new rule; the sums of routes whose array is unchanged come from `previous`."""
        before = previous._summaries if isinstance(previous, CentroidRule) else None
        new = CentroidRule()
        new._summaries = Summaries.collect(vectors_by_route, names, before, gram=False)
        new._c = np.ascontiguousarray(normalise(new._summaries.sums).T, dtype=np.float32)
        return new

    def fit(self, vectors: np.ndarray, codes: np.ndarray, n_routes: int) -> None:
        self._c = np.ascontiguousarray(centroids(vectors, codes, n_routes).T)

    @property
    def summaries(self) -> Summaries | None:
        """The per-route sums this rule was trained on (None when fitted from rows or loaded)."""
        return self._summaries

    def scores(self, queries: np.ndarray) -> np.ndarray:
        if self._c is None:
            raise RuntimeError("centroid rule is not trained")
        return cosines(queries @ self._c)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {} if self._c is None else {"centroids": self._c}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        if "centroids" in arrays:
            self._c = np.ascontiguousarray(arrays["centroids"], dtype=np.float32)


class BlendRule(Rule):
    """A head's log-probabilities blended with centroid cosine: cos + lam * (1 + log P), see `blend`.

    `fit` chooses `lam` from the two parts without retraining."""

    def __init__(self, lam: float = 0.05) -> None:
        self.lam = param(lam, "lam", 0.0, 100.0)

    @abstractmethod
    def parts(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centroid cosines and log-probabilities, both (B, R): score = blend(cos, logp, lam)."""

    def scores(self, queries: np.ndarray) -> np.ndarray:
        return blend(*self.parts(queries), self.lam)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log of the softmax, computed stably."""
    z = logits - logits.max(axis=1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
    return z


def blend(cos: np.ndarray, logp: np.ndarray, lam: float) -> np.ndarray:
    """The classifier's score: cos + lam * (1 + log P), clipped to [-1, 1].

    The +1 only shifts the scale: a confident prediction (log P near 0) scores about its cosine
    plus lam, an uncertain one less, so unfitted routers keep the cosine-scale default
    thresholds (measured on CLINC150: the encoder default then suits the classifier too).
    """
    if lam == 0.0:
        return cosines(cos)
    out = logp + 1.0  # in place from here: this runs on every query
    out *= lam
    out += cos
    np.minimum(out, 1.0, out=out)
    return np.maximum(out, -1.0, out=out)


def make_rule(spec: Any) -> Rule:
    """A rule from a name ("knn", "centroid", "classifier", "lda"), a `{"name": .., **params}` mapping or a Rule."""
    if isinstance(spec, Rule):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or spec.get("name") not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)} (or a Rule object), got {spec!r}")
    params = {k: v for k, v in spec.items() if k != "name"}
    try:
        return RULES[spec["name"]](**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for rule {spec['name']!r}: {exc}") from exc
