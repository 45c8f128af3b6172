"""Sparse BM25 vectors built on rank-bm25's corpus statistics.

A document vector holds each term's saturated frequency; a query vector holds each term's
idf. Their dot product is the Okapi BM25 score, so any index that stores sparse vectors can
compute it. Query vectors are divided by the query's own best score (the BM25 score of a
document identical to the query), which puts scores on [0, 1] like a cosine.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence

from semantic_router.extras import require
from semantic_router.encoders.base import SparseEncoder, SparseVector, check_texts
from semantic_router.encoders.base import corpus as fit_texts

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _TOKEN.findall(text.lower())


def term_index(term: str) -> int:
    """Stable 31-bit index of a term (the same in every process, so remote indexes agree)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little") & 0x7FFFFFFF


class BM25Encoder(SparseEncoder):
    """Okapi BM25 as sparse vectors; refit on the route utterances whenever they change."""

    type = "bm25"
    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25, *, name: str = "bm25",
                 use_default_params: bool = False) -> None:
        """`use_default_params` (aurelio's switch for pretrained MS MARCO statistics) is accepted and
        changes nothing: the statistics always come from the route utterances (`fit`)."""
        require("rank_bm25", "hybrid", "BM25Encoder")  # fail at construction, not at the first fit
        super().__init__()
        self.name, self.use_default_params = name, use_default_params
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.idf: dict[str, float] = {}
        self.avgdl = 1.0
        self.corpus_size = 0

    def spec(self) -> dict:
        return {"type": self.type, "k1": self.k1, "b": self.b, "epsilon": self.epsilon}

    @property
    def is_fitted(self) -> bool:
        return self.corpus_size > 0

    def fit(self, documents: Sequence[str]) -> None:
        """Learn idf and average length from the utterances (strings, or routes aurelio-style)."""
        docs = fit_texts(documents)
        self.corpus_size = len(docs)
        if not docs:
            self.idf, self.avgdl = {}, 1.0
            return
        bm25 = require("rank_bm25", "hybrid", "BM25Encoder")
        corpus = [tokenize(d) or [""] for d in docs]
        stats = bm25.BM25Okapi(corpus, k1=self.k1, b=self.b, epsilon=self.epsilon)
        self.idf = dict(stats.idf)
        self.avgdl = float(stats.avgdl) or 1.0

    def _saturation(self, tf: int, length: int) -> float:
        return tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * length / self.avgdl))

    def _unseen_idf(self) -> float:
        # a term no utterance has counts as the rarest possible term in the denominator
        return math.log(self.corpus_size + 0.5) - math.log(0.5) if self.corpus_size else 1.0

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        out = []
        for text in check_texts(texts, "documents"):
            tokens = tokenize(text)
            counts = Counter(tokens)
            out.append(
                SparseVector.from_dict(
                    {term_index(t): self._saturation(c, len(tokens)) for t, c in counts.items()}
                )
            )
        return out

    def encode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        out = []
        for text in check_texts(texts, "queries"):
            tokens = tokenize(text)
            counts = Counter(tokens)
            best = sum(
                self.idf.get(t, self._unseen_idf()) * c * self._saturation(c, len(tokens)) for t, c in counts.items()
            )
            weights = {term_index(t): self.idf[t] * c / best for t, c in counts.items() if t in self.idf and best > 0}
            out.append(SparseVector.from_dict(weights))
        return out
