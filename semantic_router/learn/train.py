"""`train_signal`: labelled texts -> a `TextClassifier` and its cross-validated `TrainReport` (scikit-learn).

One linear model (multinomial logistic regression) over the encoder's vector beside a TF-IDF lexicon of the
training texts. Cross-validation predicts every training text with a model that did not see it: the report
and, for a binary signal, the threshold come from those out-of-fold probabilities, never from test data.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from semantic_router.checks import check_int
from semantic_router.errors import ArgumentError
from semantic_router.extras import extra
from semantic_router.learn.classifier import TextClassifier
from semantic_router.learn.lexical import Lexicon
from semantic_router.learn.report import TrainReport, measure

if TYPE_CHECKING:
    from semantic_router.encoders import DenseEncoder

__all__ = ["Settings", "train_signal"]

#: labels taken as the positive side of a binary signal when the caller names none
_POSITIVE_NAMES = ("1", "true", "yes", "positive", "jailbreak", "injection", "unsafe", "toxic", "spam")


class Settings:
    """The model's knobs (defaults measured on MMLU-Pro dev and prompt-injections train CV, docs/signals.md).

    `c`: inverse L2 strength of the logistic regression; `dense_scale`: weight of the encoder's vector beside
    the TF-IDF features (0: lexical only); `max_terms`: lexicon size (0: the vector only)."""

    def __init__(self, c: float = 8.0, dense_scale: float = 1.0, max_terms: int = 30000, min_df: int = 2,
                 max_iter: int = 2000) -> None:
        self.c, self.dense_scale, self.max_terms, self.min_df, self.max_iter = c, dense_scale, max_terms, min_df, max_iter


def _check_data(texts: Sequence[str], labels: Sequence[Any]) -> tuple[list[str], list[str]]:
    if isinstance(texts, str) or isinstance(labels, str):
        raise ArgumentError("texts and labels must be sequences, not one string")
    items, tags = list(texts), [str(x) for x in labels]
    if len(items) != len(tags):
        raise ArgumentError(f"got {len(items)} texts but {len(tags)} labels")
    for i, text in enumerate(items):
        if not isinstance(text, str) or not text.strip():
            raise ArgumentError(f"text #{i} is empty or not a string: {text!r}")
    for i, tag in enumerate(tags):
        if not tag.strip():
            raise ArgumentError(f"label #{i} is empty")
    counts = Counter(tags)
    if len(counts) < 2:
        raise ArgumentError(f"a signal needs at least two labels, got {sorted(counts) or 'none'}")
    rare = sorted(t for t, n in counts.items() if n < 2)
    if rare:
        raise ArgumentError(f"every label needs at least 2 examples for cross-validation: {rare} have 1")
    return items, tags


def _positive(labels: tuple[str, ...], tags: list[str], given: str | None) -> str | None:
    if len(labels) != 2:
        if given is not None:
            raise ArgumentError(f"positive_label={given!r} is only for binary signals ({len(labels)} labels given)")
        return None
    if given is not None:
        if given not in labels:
            raise ArgumentError(f"positive_label {given!r} is not one of the labels {list(labels)}")
        return given
    named = [x for x in labels if x.lower() in _POSITIVE_NAMES]
    if len(named) == 1:
        return named[0]
    counts = Counter(tags)
    return min(labels, key=lambda x: (counts[x], x))  # the rarer side is what a binary signal looks for


def _fit(texts: list[str], dense: npt.NDArray[np.float32], y: npt.NDArray[np.int64], k: int,
         settings: Settings) -> tuple[Lexicon, npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """One model on these rows: (lexicon, dense weights (d, k), lexical weights (terms, k), bias (k,))."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    lexicon, lexical = (Lexicon.fit(texts, settings.max_terms, settings.min_df) if settings.max_terms > 0
                        else (Lexicon([], np.zeros(0, dtype=np.float32)), None))
    features: Any = sparse.csr_matrix(dense * settings.dense_scale)
    if lexical is not None:
        features = sparse.hstack([features, lexical]).tocsr()
    model = LogisticRegression(C=settings.c, max_iter=settings.max_iter)
    model.fit(features, y)
    coef = np.zeros((features.shape[1], k), dtype=np.float32)
    bias = np.zeros(k, dtype=np.float32)
    seen = model.classes_.astype(int)
    if len(seen) == 2:  # one logit for the second class: split it as +-z/2 so the softmax is its sigmoid
        coef[:, seen[1]], coef[:, seen[0]] = model.coef_[0] / 2, -model.coef_[0] / 2
        bias[seen[1]], bias[seen[0]] = model.intercept_[0] / 2, -model.intercept_[0] / 2
    else:
        coef[:, seen] = model.coef_.T
        bias[seen] = model.intercept_
        bias[np.setdiff1d(np.arange(k), seen)] = -1e4  # a label absent from this fold is never predicted
    d = dense.shape[1]
    return lexicon, (coef[:d] * settings.dense_scale).astype(np.float32), coef[d:], bias


def _classifier(name: str, labels: tuple[str, ...], encoder_name: str,
                fitted: tuple[Lexicon, npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]],
                **kwargs: Any) -> TextClassifier:
    lexicon, dense_w, lexical_w, bias = fitted
    return TextClassifier(name=name, labels=labels, encoder_name=encoder_name, dense_weights=dense_w, bias=bias,
                          lexicon=lexicon, lexical_weights=lexical_w, **kwargs)


def best_threshold(scores: npt.NDArray[np.float32], positive: npt.NDArray[np.bool_],
                   benign: npt.NDArray[np.float32] | None = None, max_flag_rate: float = 0.01) -> float:
    """The probability cut with the best F1 on (scores, positive); with `benign` scores (texts known to be
    negative), only cuts that flag at most `max_flag_rate` of them count. Ties: the middle of the best run."""
    scores = np.asarray(scores, dtype=np.float64)
    benign = None if benign is None else np.asarray(benign, dtype=np.float64)
    seen = np.unique(np.concatenate([scores, benign if benign is not None else [], [0.5]]))
    cuts = np.concatenate([[0.0], (seen[:-1] + seen[1:]) / 2, [1.0]])  # midpoints: no score sits on a cut
    flagged = scores[None, :] >= cuts[:, None]
    tp = (flagged & positive).sum(axis=1)
    fp = (flagged & ~positive).sum(axis=1)
    fn = positive.sum() - tp
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    if benign is not None and len(benign):
        rate = (benign[None, :] >= cuts[:, None]).mean(axis=1)
        f1 = np.where(rate <= max_flag_rate, f1, -1.0)
    best = np.flatnonzero(f1 == f1.max())
    return float(cuts[best[len(best) // 2]])


def train_signal(texts: Sequence[str], labels: Sequence[Any], *, encoder: DenseEncoder | None = None,
                 vectors: npt.ArrayLike | None = None, name: str = "signal", cv: int = 5,
                 positive_label: str | None = None, benign: Sequence[str] | None = None,
                 max_flag_rate: float = 0.01, settings: Settings | None = None, seed: int = 0,
                 progress: bool | Callable[[str], None] | None = None) -> tuple[TextClassifier, TrainReport]:
    """Train a signal on labelled texts; returns it with its cross-validated report.

    `vectors`: the texts already embedded by `encoder` (default: the bundled MiniLM). Binary signals: the
    threshold maximises the positive label's out-of-fold F1; `benign` texts (known negatives, e.g. ordinary
    user queries) join the training data on the negative side and the threshold may flag at most
    `max_flag_rate` of them out-of-fold. `progress`: a bar on a terminal by default (True/False to force)."""
    with extra("learn", "train_signal"):
        import sklearn  # noqa: F401  (fail early, naming the extra)
        from sklearn.model_selection import StratifiedKFold
    items, tags = _check_data(texts, labels)
    cv = check_int(cv, "cv", minimum=2)
    if not 0.0 <= max_flag_rate <= 1.0:
        raise ArgumentError(f"max_flag_rate must be in [0, 1], got {max_flag_rate!r}")
    settings = settings or Settings()
    label_names = tuple(sorted(set(tags)))
    positive = _positive(label_names, tags, positive_label)
    if benign is not None and positive is None:
        raise ArgumentError("benign= is only for binary signals")
    extra_texts = [t for t in (benign or []) if isinstance(t, str) and t.strip()]
    if encoder is None:
        from semantic_router.encoders import HuggingFaceEncoder

        encoder = HuggingFaceEncoder()
    started = time.perf_counter()
    bar = _bar(progress, cv + 2, name)
    try:
        bar(f"encoding {len(items) + len(extra_texts)} texts")
        dense = (np.asarray(vectors, dtype=np.float32) if vectors is not None else encoder.encode(items))
        if dense.shape != (len(items), encoder.dimensions):
            raise ArgumentError(f"vectors must have shape ({len(items)}, {encoder.dimensions}), got {dense.shape}")
        if extra_texts:
            dense = np.vstack([dense, encoder.encode(extra_texts)])
        all_texts = items + extra_texts
        y = np.array([label_names.index(t) for t in tags], dtype=np.int64)
        if extra_texts:
            negative = label_names.index(label_names[1 - label_names.index(positive or "")])
            y = np.concatenate([y, np.full(len(extra_texts), negative, dtype=np.int64)])
        groups = y.copy()
        if extra_texts:
            groups[len(items):] = len(label_names)  # stratify the benign texts as their own group
        k = len(label_names)
        folds = min(cv, int(np.bincount(groups).min()))
        oof = np.zeros((len(all_texts), k), dtype=np.float32)
        splitter = StratifiedKFold(n_splits=max(folds, 2), shuffle=True, random_state=seed)
        for fold, (fit_rows, test_rows) in enumerate(splitter.split(np.zeros(len(groups)), groups)):
            bar(f"cross-validation {fold + 1}/{folds}")
            fitted = _fit([all_texts[i] for i in fit_rows], dense[fit_rows], y[fit_rows], k, settings)
            model = _classifier(name, label_names, encoder.name, fitted)
            oof[test_rows] = model.predict_proba([all_texts[i] for i in test_rows], dense[test_rows])
        bar("final model")
        fitted = _fit(all_texts, dense, y, k, settings)
    finally:
        bar(None)
    n = len(items)
    threshold = None
    if positive is not None:
        pos = label_names.index(positive)
        threshold = best_threshold(oof[:n, pos], y[:n] == pos, oof[n:, pos] if extra_texts else None, max_flag_rate)
        predicted = np.where(oof[:n, pos] >= threshold, pos, 1 - pos)
    else:
        predicted = oof[:n].argmax(axis=1)
    seconds = time.perf_counter() - started
    facts: dict[str, Any] = {"trained_on": n, "benign_texts": len(extra_texts), "cv": folds, "seed": seed,
                             "settings": vars(settings)}
    if extra_texts and positive is not None:
        facts["benign_flag_rate_cv"] = float((oof[n:, label_names.index(positive)] >= (threshold or 0)).mean())
    report = measure(name, label_names, y[:n], predicted.astype(np.int64), cv=folds, seconds=seconds,
                     positive_label=positive, threshold=threshold, extra=facts)
    facts["cv_accuracy"], facts["cv_macro_f1"] = report.accuracy, report.macro_f1
    clf = _classifier(name, label_names, encoder.name, fitted, positive_label=positive, threshold=threshold,
                      metadata=facts, encoder=encoder)
    return clf, report


def _bar(progress: bool | Callable[[str], None] | None, total: int, name: str) -> Callable[[str | None], None]:
    """A step reporter: a tqdm bar (on a terminal by default), a caller's callback, or nothing. None closes it."""
    if callable(progress):
        callback = progress
        return lambda step: callback(step) if step is not None else None
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return lambda step: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=f"train {name}", leave=False)

    def step(what: str | None) -> None:
        if what is None:
            bar.close()
            return
        if bar.n or what.startswith("cross"):
            bar.update(1)
        bar.set_postfix_str(what)

    return step
