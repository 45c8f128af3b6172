"""A cheap, deterministic dense encoder for tests that need vectors but not meaning.

Each word maps to a fixed pseudo-random vector (seeded by its sha256); a text is the normalised
sum of its words' vectors, so texts sharing words are similar. No model, no I/O."""

from __future__ import annotations

import hashlib

import numpy as np

from semantic_router.encoders.base import DenseEncoder


class HashEncoder(DenseEncoder):
    type = "hash"
    name = "hash-words"
    score_threshold = 0.3

    def __init__(self, dims: int = 32) -> None:
        super().__init__(cache_size=0)
        self.dims = dims

    @property
    def dimensions(self) -> int:
        return self.dims

    def _word(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(word.encode("utf-8", "surrogatepass")).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.dims)

    def _encode(self, texts: list[str], input_type: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dims))
        for i, text in enumerate(texts):
            for word in text.lower().split() or [text]:
                out[i] += self._word(word)
        return out
