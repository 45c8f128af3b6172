"""Lexical features: TF-IDF of word unigrams and bigrams, in pure numpy at inference.

The frozen encoder sees a question's meaning but blurs its subject words ("enthalpy", "tort"); a
small TF-IDF vocabulary beside it gives a linear model those words back. Training picks the
vocabulary and idf weights (scikit-learn's `TfidfVectorizer` with `analyze` below as its analyzer,
so training and inference split text the same way); inference needs only the vocabulary and idf.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Lexicon", "analyze"]

_WORD = re.compile(r"(?u)\b\w\w+\b")


def analyze(text: str) -> list[str]:
    """A text's terms: lower-cased words of two or more characters, and each pair of adjacent words."""
    words = _WORD.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


class Lexicon:
    """A fitted vocabulary (term -> column) with its idf weights: texts -> sublinear TF-IDF rows, L2-normalised."""

    def __init__(self, terms: Sequence[str], idf: npt.NDArray[np.float32]) -> None:
        self.terms = list(terms)
        self.idf = np.asarray(idf, dtype=np.float32)
        self.index = {term: i for i, term in enumerate(self.terms)}

    def __len__(self) -> int:
        return len(self.terms)

    def rows(self, texts: Sequence[str]) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """Each text as (column ids, weights): its known terms' sublinear tf times idf, L2-normalised."""
        out = []
        index = self.index
        for text in texts:
            counts = Counter(index[t] for t in analyze(text) if t in index)
            ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            weights = ((1.0 + np.log(tf)) * self.idf[ids]).astype(np.float32)
            norm = np.float32(np.sqrt(weights @ weights)) if len(ids) else np.float32(0.0)
            out.append((ids, weights / norm if norm > 0 else weights))
        return out

    def scores(self, texts: Sequence[str], weights: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The lexical part of a linear model's logits: rows(texts) @ weights (weights: len(self) x labels)."""
        out = np.zeros((len(texts), weights.shape[1]), dtype=np.float32)
        for i, (ids, w) in enumerate(self.rows(texts)):
            if len(ids):
                out[i] = w @ weights[ids]
        return out

    @classmethod
    def fit(cls, texts: Sequence[str], max_terms: int, min_df: int = 2) -> tuple[Lexicon, Any]:
        """Choose the `max_terms` most frequent terms seen in at least `min_df` texts (scikit-learn);
        returns the lexicon and the sparse TF-IDF matrix of `texts` (scipy CSR) for training."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        min_df = min(min_df, max(1, len(texts) // 2))
        vectorizer = TfidfVectorizer(analyzer=analyze, min_df=min_df, max_features=max_terms, sublinear_tf=True,
                                     dtype=np.float32)
        try:
            matrix = vectorizer.fit_transform(list(texts))
        except ValueError:  # no term in min_df texts: no lexical features
            return cls([], np.zeros(0, dtype=np.float32)), None
        terms = vectorizer.get_feature_names_out().tolist()
        return cls(terms, vectorizer.idf_.astype(np.float32)), matrix
