"""`ClassifierRouter`: routes backed by a classifier's labels, answering `RouteChoice`s like a `RouteLayer`.

The design kept small on purpose: a `Route` named after a label (or mapped to one) is chosen when the
signal gives that label the top probability at or above `threshold`; `router/` knows nothing of signals.
Combine it with a `RouteLayer` in your code (e.g. try the classifier first, fall back to the utterances).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from semantic_router.errors import ArgumentError
from semantic_router.learn.classifier import TextClassifier
from semantic_router.route import Route, RouteChoice

__all__ = ["ClassifierRouter"]


class ClassifierRouter:
    """`router("What is an enthalpy change?")` -> `RouteChoice(name="chemistry", ...)` from a `TextClassifier`.

    `routes`: the routes to answer (default: one per label, named after it); a route maps to the label of its own name
    unless `labels={"route name": "label"}` says otherwise. A label no route names never wins a choice;
    a binary signal picks between its labels at its own operating point (`positive_label`, `threshold`) unless
    `threshold` is given (then: the top label if its probability reaches it, as for any signal)."""

    def __init__(self, classifier: TextClassifier, routes: Sequence[Route] | None = None,
                 labels: Mapping[str, str] | None = None, threshold: float | None = None) -> None:
        self.classifier = classifier
        self.routes = list(routes) if routes is not None else []
        metadata = {r.name: dict(r.metadata or {}) for r in self.routes}
        names = list(metadata) or list(classifier.labels)
        mapping = dict(labels or {})
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise ArgumentError(f"labels= names routes that are not given: {unknown}")
        self.label_of = {name: mapping.get(name, name) for name in names}
        bad = sorted(label for label in self.label_of.values() if label not in classifier.labels)
        if bad:
            raise ArgumentError(f"signal {classifier.name!r} has no label(s) {bad}; its labels: {list(classifier.labels)}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ArgumentError(f"threshold must be in [0, 1], got {threshold!r}")
        #: a binary signal's own operating point decides between its two labels unless `threshold` is given
        self.operating_point = threshold is None and classifier.positive_label is not None
        self.threshold = threshold or 0.0
        self._columns = [(name, metadata.get(name, {}), classifier.labels.index(label))
                         for name, label in self.label_of.items()]

    def __call__(self, text: str, vector: npt.ArrayLike | None = None) -> RouteChoice:
        return self.route_many([text], None if vector is None else np.asarray(vector)[None, :])[0]

    def route_many(self, texts: Sequence[str], vectors: npt.ArrayLike | None = None) -> list[RouteChoice]:
        """One choice per text: the route whose label is most probable, if it reaches the threshold."""
        proba = self.classifier.predict_proba(texts, vectors)
        if self.operating_point:
            labels = self.classifier.labels_of(proba)
            columns = {column: (name, metadata) for name, metadata, column in self._columns}
            out = []
            for label, row in zip(labels, proba):
                column = self.classifier.labels.index(label)
                found = columns.get(column)
                p = float(row[column])
                out.append(RouteChoice(name=found[0], similarity_score=p, confidence=p, metadata=dict(found[1]))
                           if found else RouteChoice())
            return out
        out = []
        for row in proba:
            name, metadata, column = max(self._columns, key=lambda item: row[item[2]])
            p = float(row[column])
            if p >= self.threshold:
                out.append(RouteChoice(name=name, similarity_score=p, confidence=p, metadata=dict(metadata)))
            else:
                out.append(RouteChoice())
        return out
