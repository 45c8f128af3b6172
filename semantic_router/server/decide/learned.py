"""Learned classifiers in the decide phase: classifier signals (`domain:math`, `classifier:N`) and classifier
guards (`builtin:jailbreak`), loaded once per config, scored on the last user turn.

Each text is encoded once per request whatever the number of classifiers: by the router's encoder when a
classifier was trained on the same model (its query cache already holds the turn the micro-batcher routed, so
that costs a dictionary lookup), else by the classifier's own encoder (loaded lazily, offline). The heads are
numpy (tens of microseconds).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from semantic_router.errors import ConfigError, SemanticRouterError
from semantic_router.server.decide.signals.base import SignalResult
from semantic_router.server.guards_config import ClassifierSignal

__all__ = ["Head", "LearnedSignal", "Scorer", "load_head"]

BUILTIN = "builtin:"


class Head(Protocol):
    """What the gateway uses of a `semantic_router.learn.TextClassifier`."""

    labels: tuple[str, ...]
    positive_label: str | None
    threshold: float | None
    encoder_name: str
    encoder: Any

    def predict_proba(self, texts: Sequence[str], vectors: Any = None) -> Any: ...


def load_head(model: str, field: str, resolve: Any) -> Head:
    """A classifier's head: `builtin:NAME`, or an artifact path resolved like every config path (`resolve`:
    `GatewayConfig.resolve`); ConfigError naming `field` when it cannot be loaded."""
    try:
        from semantic_router.learn import load_signal
    except ImportError as exc:
        raise ConfigError(f"{field}: learned signals need the 'learn' module ({exc})") from None
    source: str | Path = model if model.startswith(BUILTIN) else resolve(model, field)
    if not model.startswith(BUILTIN) and not Path(source).is_file():
        raise ConfigError(f"{field}: no such signal artifact: {model!r}")
    try:
        head: Head = load_signal(source)
    except (SemanticRouterError, ValueError, OSError, KeyError) as exc:
        raise ConfigError(f"{field}: {model!r} is not a usable signal ({type(exc).__name__}: {exc})") from None
    return head


class LearnedSignal:
    """One classifier signal: `NAME:<label>` for each reported label (matched: the predicted label, at the
    threshold when one applies) and, for a binary classifier, `classifier:NAME` (its positive label fired)."""

    def __init__(self, spec: ClassifierSignal, head: Head, field: str) -> None:
        self.name = spec.name
        self.head = head
        labels = list(spec.labels) if spec.labels is not None else list(head.labels)
        unknown = [x for x in labels if x not in head.labels]
        if unknown:
            raise ConfigError(f"{field}: unknown label(s) {unknown} of classifier {spec.model!r}; it knows "
                              f"{list(head.labels)}")
        self.reported = [(x, head.labels.index(x)) for x in labels]
        self.threshold = spec.threshold if spec.threshold is not None else head.threshold
        self.positive = head.labels.index(head.positive_label) if head.positive_label in head.labels else None

    def results(self, proba: Any, ms: float) -> list[SignalResult]:
        """The signal results of one text's probabilities (a row of `predict_proba`)."""
        if self.positive is not None and self.threshold is not None:
            fired = float(proba[self.positive]) >= self.threshold
            top = self.positive if fired else 1 - self.positive
        else:
            top = int(np.argmax(proba))
            fired = self.threshold is None or float(proba[top]) >= self.threshold
        out = [SignalResult(self.name, label, fired and i == top, float(proba[i]), ms) for label, i in self.reported]
        if self.positive is not None:
            out.append(SignalResult("classifier", self.name, fired and top == self.positive,
                                    float(proba[self.positive]), ms))
        return out


@dataclass(frozen=True)
class Scored:
    """One text's probabilities under every head (by head id) and what scoring cost."""

    proba: Mapping[int, Any]
    ms: float


class Scorer:
    """Scores texts with a set of heads, encoding each text once per encoder (see the module's docstring).
    `encoder`: the router's encoder (None without semantic routes)."""

    def __init__(self, heads: Sequence[Head], encoder: Any = None) -> None:
        self.heads = list(heads)
        self.router_encoder = encoder
        self.groups: dict[int, tuple[Any, list[Head]]] = {}
        for head in self.heads:
            enc = encoder if encoder is not None and getattr(encoder, "name", None) == head.encoder_name \
                else head.encoder
            self.groups.setdefault(id(enc), (enc, []))[1].append(head)

    def __bool__(self) -> bool:
        return bool(self.heads)

    @property
    def shares_router_encoder(self) -> bool:
        """True when every head is scored on the router's own query vectors (no second encode)."""
        return bool(self.heads) and all(enc is self.router_encoder for enc, _ in self.groups.values())

    def score(self, text: str) -> Scored:
        """In a worker thread: every head's probabilities for `text`."""
        start = time.perf_counter()
        out: dict[int, Any] = {}
        for enc, heads in self.groups.values():
            vectors = enc.encode_queries([text])
            for head in heads:
                out[id(head)] = head.predict_proba([text], vectors=vectors)[0]
        return Scored(out, (time.perf_counter() - start) * 1e3)
