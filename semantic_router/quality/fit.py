"""Fit a router's thresholds (and its decision rule's own parameters) on labelled queries.

`fit(layer, X, y)` encodes X once, scores every query under each candidate setting of the rule
(the classifier's `lam` grid; one setting for knn and centroid), picks the setting and global
threshold that maximise the objective on X, optionally refines per-route thresholds (shrunk
towards the global one), optionally calibrates `RouteChoice.confidence`, stores everything as
plain floats on the router, and reports before/after figures on X.

Objectives: "accuracy" (overall accuracy on X as given), "balanced" (in-scope accuracy and
no-route recall weighted equally), "f1" (macro F1 over the routes and "no route").
Everything is deterministic: no randomness, ties broken by fixed order.

Without labelled queries (`fit(layer)`), a blend rule's `lam` is chosen by k-fold cross-validation on
the routes' own utterances (`lam_cv.choose_lam`) and the thresholds are left as they are.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semantic_router._files import atomic_write
from semantic_router.decision.calibration import Calibration
from semantic_router.decision.rules import BlendRule, blend
from semantic_router.quality.evaluation import EvalReport, check_labels, encode, evaluate
from semantic_router.quality.lam_cv import LAM_CV_GRID, choose_lam

if TYPE_CHECKING:
    from semantic_router.router.layer import CoreRouteLayer as RouteLayer

OBJECTIVES = ("accuracy", "balanced", "f1")
LAM_GRID = (0.0, 0.025, 0.05, 0.1, 0.2, 0.5)


# -- threshold search ---------------------------------------------------------------------------
def oos_weight(objective: str, y: np.ndarray) -> float:
    """Weight of a correctly refused no-route query relative to a correctly routed one."""
    n_in, n_oos = int((y >= 0).sum()), int((y < 0).sum())
    if objective == "balanced" and n_oos:
        return n_in / n_oos if n_in else 1.0
    return 1.0


def best_threshold(conf: np.ndarray, pred: np.ndarray, y: np.ndarray, objective: str,
                   n_routes: int) -> tuple[float, float]:
    """Global threshold maximising the objective when queries with conf < t get no route.

    One pass over the sorted scores (cumulative sums); the threshold is the midpoint of the
    optimal cut (the middle one of several equally good cuts). Returns (threshold, value).
    """
    order = np.argsort(conf, kind="stable")
    c, p, t = conf[order], pred[order], y[order]
    n = len(c)
    finite = np.isfinite(c)
    cuts = np.arange(n + 1)
    # a cut before item i means items [0, i) are refused; only cuts between distinct scores are real
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = c[1:] > c[:-1]
    valid &= cuts >= int((~finite).sum())  # queries without any score are always refused
    if objective == "f1":
        value = _f1_curve(p, t, n_routes)
    else:
        ok = ((p == t) & (t >= 0)).astype(np.float64)
        oos = (t < 0).astype(np.float64)
        kept_ok = np.concatenate([np.cumsum(ok[::-1])[::-1], [0.0]])
        refused_oos = np.concatenate([[0.0], np.cumsum(oos)])
        w = oos_weight(objective, y)
        value = (kept_ok + w * refused_oos) / max(ok.size - oos.sum() + w * oos.sum(), 1.0)
    value = np.where(valid, value, -np.inf)
    best = np.flatnonzero(value == value.max())
    i = int(best[len(best) // 2])
    lo = c[i - 1] if i > 0 else -1.0
    hi = c[i] if i < n else 1.0
    if not np.isfinite(lo):
        lo = -1.0
    return float(np.clip((lo + hi) / 2.0, -1.0, 1.0)), float(value[i])


def _f1_curve(p: np.ndarray, t: np.ndarray, n_routes: int) -> np.ndarray:
    """Macro F1 (routes with support, plus "no route" if present) for every cut 0..n."""
    n = len(p)
    k = n_routes + 1  # column n_routes = no route
    tcol = np.where(t >= 0, t, n_routes)
    hit = ((p == t) & (t >= 0)).astype(np.float64)
    one = np.zeros((n, k))
    one[np.arange(n), np.clip(p, 0, None)] = 1.0
    # counts among the items still routed (index >= i) for every cut i
    pred_r = np.vstack([one[::-1].cumsum(axis=0)[::-1], np.zeros((1, k))])
    tp_r = np.vstack([(one * hit[:, None])[::-1].cumsum(axis=0)[::-1], np.zeros((1, k))])
    tp_r[:, n_routes] = np.concatenate([[0.0], np.cumsum(t < 0)])
    pred_r[:, n_routes] = np.arange(n + 1)
    support = np.bincount(tcol, minlength=k).astype(np.float64)
    denom = pred_r + support[None, :]
    f1 = np.divide(2 * tp_r, denom, out=np.zeros_like(tp_r), where=denom > 0)
    return f1[:, support > 0].mean(axis=1)


def route_thresholds(conf: np.ndarray, pred: np.ndarray, y: np.ndarray, t: float, objective: str, names: Sequence[str],
                     prior: float = 20.0, window: float = 0.5) -> dict[str, float]:
    """Per-route thresholds: each route's own best cut near the global one, shrunk towards it.

    A route's threshold moves only if some cut within `window` standard deviations of `t`
    strictly improves its (weighted accuracy) objective on the queries it wins; the move is
    scaled by n / (n + prior) for n such queries. Routes without evidence keep `t`.
    """
    w = oos_weight("balanced" if objective == "f1" else objective, y)
    finite = np.isfinite(conf)
    spread = float(np.std(conf[finite])) if finite.any() else 0.0
    out = {}
    for r, name in enumerate(names):
        m = (pred == r) & finite
        n = int(m.sum())
        tr = t
        if n:
            c, ok, oos = conf[m], (y[m] == r).astype(float), (y[m] < 0).astype(float)
            u = np.unique(c)
            mids = np.concatenate([[u[0] - 1e-3], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-3]])  # between distinct scores
            cuts = np.concatenate([[t], mids[np.abs(mids - t) <= window * spread]])
            cuts = np.clip(cuts, -1.0, 1.0)
            vals = np.array([(ok * (c >= u)).sum() + w * (oos * (c < u)).sum() for u in cuts])
            if vals.max() > vals[0] + 1e-9:
                best = cuts[vals == vals.max()]
                tr = float(best[np.argmin(np.abs(best - t))])
        out[name] = float(np.clip(t + (n / (n + prior) if n else 0.0) * (tr - t), -1.0, 1.0))
    return out


# -- candidates ---------------------------------------------------------------------------------
def candidates(layer: RouteLayer, vectors: np.ndarray, sparse: Any, lams: Sequence[float] | None):
    """(params, (B, R) scores) for every setting of the rule the fit may choose."""
    rule = layer.train_rule()
    if isinstance(rule, BlendRule):
        cos, logp = rule.parts(vectors)
        for lam in (LAM_GRID if lams is None else lams):
            yield {"lam": float(lam)}, blend(cos, logp, lam).astype(np.float64)
    else:
        _, agg, _ = layer.score_batch(vectors, sparse)
        yield {}, agg


def _top(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    filled = np.where(np.isnan(scores), -np.inf, scores)
    pred = filled.argmax(axis=1) if filled.shape[1] else np.zeros(len(filled), dtype=np.int64)
    conf = filled[np.arange(len(pred)), pred] if filled.shape[1] else np.full(len(filled), -np.inf)
    return pred, conf


# -- report ---------------------------------------------------------------------------------------
@dataclass
class FitReport:
    """What `fit` chose and how the router did on the fitting data before and after."""

    objective: str
    rule: str
    params: dict[str, Any]
    threshold: float
    route_thresholds: dict[str, float]
    before: dict[str, float]
    after: dict[str, float]
    n: int
    n_in_scope: int
    n_no_route: int
    seconds: dict[str, float]
    candidates: list[dict[str, Any]] = field(default_factory=list)
    calibration: str | None = None
    #: set when `lam` was chosen by cross-validation on the utterances: the chosen lam, folds, accuracy per lam
    lam_cv: dict[str, Any] | None = None
    after_report: EvalReport | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("after_report")
        return out

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            atomic_write(path, text)
        return text

    save = to_json

    def rich_tables(self) -> list[Any]:
        from rich.table import Table

        head = Table(title=f"Fit ({self.objective}) of rule {self.rule} on {self.n} queries "
                           f"({self.n_in_scope} in scope, {self.n_no_route} no route)")
        head.add_column("metric")
        head.add_column("before", justify="right")
        head.add_column("after", justify="right")
        for k in self.after:
            head.add_row(k.replace("_", " "), _fmt(self.before.get(k)), _fmt(self.after[k]))
        info = Table(title="Fitted values")
        info.add_column("setting")
        info.add_column("value", justify="right")
        info.add_row("layer threshold", f"{self.threshold:.4f}")
        if self.route_thresholds:
            vals = np.array(list(self.route_thresholds.values()))
            info.add_row("route thresholds (min / median / max)",
                         f"{vals.min():.4f} / {np.median(vals):.4f} / {vals.max():.4f}")
        for k, v in self.params.items():
            info.add_row(k, str(v))
        info.add_row("calibration", self.calibration or "none")
        for k, v in self.seconds.items():
            info.add_row(f"seconds {k}", f"{v:.2f}")
        return [head, info]

    def __str__(self) -> str:
        import io

        from rich.console import Console

        console = Console(width=100, record=True, file=io.StringIO(), force_terminal=False, color_system=None)
        for t in self.rich_tables():
            console.print(t)
        return console.export_text()


def _fmt(v: float | None) -> str:
    return "-" if v is None or v != v else f"{v:.3f}"


# -- fit --------------------------------------------------------------------------------------------
def fit(
    layer: RouteLayer,
    X: Sequence[str] | None = None,
    y: Sequence[str | None] | None = None,
    objective: str = "balanced",
    *,
    rule: Any = None,
    lams: Sequence[float] | None = None,
    per_route: bool = True,
    prior: float = 20.0,
    calibrate: str | None = None,
    vectors: np.ndarray | None = None,
    progress: bool = True,
) -> FitReport:
    """Fit the layer's threshold, every route's threshold and the rule's parameters on (X, y).

    y holds route names or None ("no route expected"). `rule` switches the layer's decision rule
    first (name, spec or Rule). `lams` overrides the classifier's blend grid. `per_route` refines
    route thresholds around the global one (shrinkage `prior`). `calibrate` ("platt" or
    "isotonic") makes `RouteChoice.confidence` a probability fitted on the same data. Pass
    `vectors` to skip encoding X.

    Without X and y, only a blend rule's `lam` is fitted: by cross-validation on the routes' utterances
    (`lams` overrides its grid, `lam_cv.LAM_CV_GRID`); the report's `lam_cv` says what it measured.
    """
    from tqdm.auto import tqdm

    from semantic_router.encoders.base import check_texts

    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if calibrate not in (None, "platt", "isotonic"):
        raise ValueError(f"calibrate must be 'platt', 'isotonic' or None, got {calibrate!r}")
    if lams is not None and not len(lams):
        raise ValueError(f"lams must hold at least one blend weight, got {lams!r}")
    if (X is None) != (y is None):
        raise ValueError("fit needs both X and y (labelled queries), or neither (lam chosen by cross-validation)")
    if rule is not None:
        layer.rule = rule
    if X is None or y is None:
        return _fit_lam(layer, lams)
    names = layer.list_route_names()
    if not names:
        raise ValueError("the router has no routes to fit")
    texts = check_texts(X, "X")
    labels = check_labels(y, names, len(texts))
    if not any(lab is not None for lab in labels):
        raise ValueError("fit needs at least one query labelled with a route")
    timing: dict[str, float] = {}
    bar = tqdm(total=5, desc="fit", disable=not progress, leave=False)
    t0 = time.perf_counter()
    if vectors is None:
        bar.set_postfix_str("encoding")
        vectors, timing["encode"] = encode(layer, texts)
    vectors = np.asarray(vectors, dtype=np.float32)
    sparse = layer.sparse_encoder.encode_queries(texts) if layer.sparse_encoder is not None else None
    t1 = time.perf_counter()
    layer.train_rule()
    timing["train_rule"] = time.perf_counter() - t1
    bar.update()
    before = evaluate(layer, texts, labels, vectors=vectors, latency_sample=0).summary()
    bar.update()
    bar.set_postfix_str("searching")
    table_names = list(layer.snapshot.table.names)
    code = {n: i for i, n in enumerate(table_names)}
    ycodes = np.array([-1 if lab is None else code[lab] for lab in labels], dtype=np.int64)
    best = None
    tried = []
    for params, scores in candidates(layer, vectors, sparse, lams):
        pred, conf = _top(scores)
        t, value = best_threshold(conf, pred, ycodes, objective, len(table_names))
        tried.append({**params, "threshold": t, "objective": value})
        if best is None or value > best[1] + 1e-12:
            best = (params, value, t, pred, conf)
    bar.update()
    assert best is not None  # candidates yields at least one setting (lams is checked above)
    params, _, t, pred, conf = best
    per = route_thresholds(conf, pred, ycodes, t, objective, table_names, prior) if per_route \
        else {n: t for n in table_names}
    calibration = None
    if calibrate:  # P(the best route is right | its score), on the chosen setting's scores
        finite = np.isfinite(conf)
        calibration = Calibration.fit(calibrate, conf[finite], (pred == ycodes)[finite])
    _apply(layer, params, t, per, objective, len(texts), calibration)  # one committed (and synced) change
    bar.update()
    after_report = evaluate(layer, texts, labels, vectors=vectors, latency_sample=0)
    bar.update()
    bar.close()
    timing["total"] = time.perf_counter() - t0
    return FitReport(objective=objective, rule=layer.rule_name, params=layer.rule.params(), threshold=t,
                     route_thresholds=per, before=before, after=after_report.summary(), n=len(texts),
                     n_in_scope=int((ycodes >= 0).sum()), n_no_route=int((ycodes < 0).sum()), seconds=timing,
                     candidates=tried, calibration=calibrate, after_report=after_report)


def _fit_lam(layer: RouteLayer, lams: Sequence[float] | None) -> FitReport:
    """`lam` by cross-validation on the utterances, committed to the router; thresholds untouched."""
    t0 = time.perf_counter()
    before_lam = float(getattr(layer.rule, "lam", float("nan")))
    choice = choose_lam(layer, LAM_CV_GRID if lams is None else lams)

    def change(draft: Any) -> None:
        draft.rule = draft.rule.copy_with(lam=choice.lam)  # the training is kept
        draft.rule_trained = True
        draft.extra["rule"] = draft.rule.spec()

    layer.store.commit(change)
    threshold = layer.score_threshold
    before = choice.accuracy.get(before_lam)
    return FitReport(objective="lam-cv", rule=layer.rule_name, params=layer.rule.params(),
                     threshold=float("nan") if threshold is None else float(threshold), route_thresholds={},
                     before={"cv_accuracy": float("nan") if before is None else before},
                     after={"cv_accuracy": choice.accuracy[choice.lam]}, n=choice.utterances,
                     n_in_scope=choice.utterances, n_no_route=0,
                     seconds={"cross_validation": choice.seconds, "total": time.perf_counter() - t0},
                     candidates=choice.table,
                     lam_cv={"lam": choice.lam, "folds": choice.folds, "accuracy": choice.accuracy})


def _apply(layer: RouteLayer, params: dict[str, Any], t: float, per: dict[str, float], objective: str, n: int,
           calibration: Calibration | None) -> None:
    """Store the fitted values on the router in one committed (and synced) change (plain floats only)."""

    def change(draft: Any) -> None:
        if params:  # a changed blend weight keeps what the rule learned
            draft.rule = draft.rule.copy_with(**params)
            draft.rule_trained = True
        draft.extra["rule"] = draft.rule.spec()
        draft.extra["fit"] = {"objective": objective, "n": n, "threshold": float(t)}
        draft.calibration = calibration
        if calibration is not None:
            draft.extra["calibration"] = calibration.to_dict()
        else:
            draft.extra.pop("calibration", None)
        draft.settings = dataclasses.replace(draft.settings, score_threshold=float(t))
        draft.routes = {name: r.model_copy(update={"score_threshold": float(per.get(name, t))})
                        for name, r in draft.routes.items()}

    layer.store.commit(change)
