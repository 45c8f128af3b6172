"""`TextClassifier`: a trained text signal (labels and their probabilities), pure numpy at inference.

A linear model over two feature sets: the dense encoder's unit vector and a small TF-IDF lexicon
(`lexical.py`). Probabilities are a softmax over labels. Binary signals carry their operating point
(`positive_label`, `threshold`), chosen by cross-validation when they were trained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from semantic_router._files import atomic_open
from semantic_router.errors import ArgumentError
from semantic_router.learn.lexical import Lexicon

if TYPE_CHECKING:
    from semantic_router.encoders import DenseEncoder

__all__ = ["FORMAT", "VERSION", "TextClassifier"]

#: what an artifact says it is, and the version of its layout this library writes and reads
FORMAT = "semantic-router-signal"
VERSION = 1


class TextClassifier:
    """Labels for texts. `predict_proba(texts)` encodes with `encoder`; pass `vectors` (the same texts
    already embedded by the same encoder) and only the linear head runs (tens of microseconds)."""

    def __init__(self, *, name: str, labels: Sequence[str], encoder_name: str, dense_weights: npt.ArrayLike,
                 bias: npt.ArrayLike, lexicon: Lexicon | None = None, lexical_weights: npt.ArrayLike | None = None,
                 positive_label: str | None = None, threshold: float | None = None,
                 metadata: dict[str, Any] | None = None, encoder: DenseEncoder | None = None) -> None:
        self.name = name
        self.labels: tuple[str, ...] = tuple(labels)
        self.encoder_name = encoder_name
        self.dense_weights = np.ascontiguousarray(dense_weights, dtype=np.float32)
        self.bias = np.ascontiguousarray(bias, dtype=np.float32)
        self.lexicon = lexicon if lexicon is not None else Lexicon([], np.zeros(0, dtype=np.float32))
        width = len(self.labels)
        self.lexical_weights = (np.ascontiguousarray(lexical_weights, dtype=np.float32) if lexical_weights is not None
                                else np.zeros((0, width), dtype=np.float32))
        self.positive_label = positive_label
        self.threshold = threshold
        self.metadata = dict(metadata or {})
        self.encoder = encoder

    @property
    def dimensions(self) -> int:
        """Vector size of the encoder the signal was trained on."""
        return int(self.dense_weights.shape[0])

    def __repr__(self) -> str:
        point = f", positive_label={self.positive_label!r}, threshold={self.threshold:.3f}" if self.threshold is not None else ""
        return f"TextClassifier(name={self.name!r}, labels={len(self.labels)}, encoder={self.encoder_name!r}{point})"

    def _vectors(self, texts: list[str], vectors: npt.ArrayLike | None) -> npt.NDArray[np.float32]:
        if vectors is None:
            if self.encoder is None:
                raise ArgumentError(f"signal {self.name!r} has no encoder: pass vectors= or load it with an encoder")
            return self.encoder.encode(texts)
        out = np.asarray(vectors, dtype=np.float32)
        if out.ndim == 1:
            out = out[None, :]
        if out.shape != (len(texts), self.dimensions):
            raise ArgumentError(f"vectors must have shape ({len(texts)}, {self.dimensions}) for {len(texts)} texts, "
                                f"got {out.shape}")
        return out

    def logits(self, texts: Sequence[str], vectors: npt.ArrayLike | None = None) -> npt.NDArray[np.float32]:
        """The linear model's scores (n, labels) before the softmax."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ArgumentError("texts must be a sequence of strings")
        items = list(texts)
        dense = self._vectors(items, vectors)
        out = dense @ self.dense_weights + self.bias
        if len(self.lexicon):
            out += self.lexicon.scores(items, self.lexical_weights)
        return out

    def predict_proba(self, texts: Sequence[str], vectors: npt.ArrayLike | None = None) -> npt.NDArray[np.float32]:
        """Probability of each label (columns in `labels` order) for each text, shape (n, len(labels))."""
        z = self.logits(texts, vectors)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict(self, texts: Sequence[str], vectors: npt.ArrayLike | None = None) -> list[str]:
        """The label of each text: the most probable one, or for a binary signal `positive_label` when its
        probability reaches `threshold` (else the other label)."""
        return self.labels_of(self.predict_proba(texts, vectors))

    def labels_of(self, proba: npt.NDArray[np.float32]) -> list[str]:
        """The label each row of `predict_proba`'s output stands for (see `predict`)."""
        if self.positive_label is not None and self.threshold is not None:
            pos = self.labels.index(self.positive_label)
            neg = self.labels[1 - pos]
            return [self.positive_label if p >= self.threshold else neg for p in proba[:, pos]]
        return [self.labels[i] for i in proba.argmax(axis=1)]

    def save(self, path: str | Path) -> Path:
        """Write the artifact (one .npz: JSON metadata and float32 arrays, no pickle; `artifact.py` reads it)
        atomically: a reader sees the old file or the new one."""
        meta = {"format": FORMAT, "version": VERSION, "name": self.name, "labels": list(self.labels),
                "encoder": self.encoder_name, "positive_label": self.positive_label, "threshold": self.threshold,
                "metadata": self.metadata}
        arrays: dict[str, npt.NDArray[Any]] = {
            "meta": _json_bytes(meta), "terms": _json_bytes(self.lexicon.terms), "idf": self.lexicon.idf,
            "dense_weights": self.dense_weights, "lexical_weights": self.lexical_weights, "bias": self.bias}
        target = Path(path)
        with atomic_open(target, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]  # numpy stubs match **kwds to allow_pickle
        return target


def _json_bytes(value: Any) -> npt.NDArray[np.uint8]:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
