"""`RouteLayer`, the public face: the router (router/) with its quality tools (quality/) as methods.

It sits above both packages so every arrow runs one way: quality/ fits and evaluates a router,
and the router never imports quality/ (see docs/architecture.md, "Layers").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from semantic_router.quality.evaluation import EvalReport, evaluate
from semantic_router.quality.fit import FitReport, fit
from semantic_router.router.layer import CoreRouteLayer

__all__ = ["RouteLayer"]


class RouteLayer(CoreRouteLayer):
    """A semantic router: `rl(text)` returns the best passing route, or `RouteChoice(name=None)`.

    Routing, changes, sharing and persistence come from `CoreRouteLayer` (router/layer.py);
    `fit` and `evaluate` from quality/."""

    def fit(self, X: Sequence[str] | None = None, y: Sequence[str | None] | None = None, **kwargs: Any) -> FitReport:
        """Fit thresholds (and the rule's own parameters) on labelled queries -> FitReport; without any,
        the classifier's `lam` by cross-validation on the routes' utterances.

        See `semantic_router.quality.fit.fit` for the objectives and options."""
        return fit(self, X, y, **kwargs)

    def evaluate(self, X: Sequence[str], y: Sequence[str | None], **kwargs: Any) -> EvalReport:
        """Route labelled queries (y: route names, None = no route expected) -> EvalReport."""
        return evaluate(self, X, y, **kwargs)
