"""Deterministic fake embeddings for the embedding emulators.

A text's vector is seeded from a hash of the text, so it is the same in every run and process.
Texts mentioning a topic keyword lie close to that topic's centre, so routing over emulated
embeddings gives meaningful answers; other texts are near-orthogonal random directions.
"""

from __future__ import annotations

import base64
import hashlib

import numpy as np

#: topic -> keywords; a text containing any keyword is embedded near that topic's centre
TOPICS: dict[str, tuple[str, ...]] = {
    "weather": ("weather", "rain", "sunny", "forecast"),
    "politics": ("politic", "president", "election", "government"),
    "billing": ("invoice", "refund", "billing", "charge"),
}


def _rng(seed_text: str) -> np.random.Generator:
    digest = hashlib.sha256(seed_text.encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def topic_of(text: str) -> str | None:
    lowered = text.lower()
    for topic, words in TOPICS.items():
        if any(w in lowered for w in words):
            return topic
    return None


def fake_vector(text: str, dims: int, salt: str = "") -> np.ndarray:
    """Unit float32 vector for `text`; `salt` (e.g. an input type) shifts it slightly."""
    noise = _rng(f"{salt}|{text}").standard_normal(dims)
    noise /= np.linalg.norm(noise)
    topic = topic_of(text)
    if topic is None:
        vec = noise
    else:
        centre = _rng(f"topic|{topic}").standard_normal(dims)
        vec = centre / np.linalg.norm(centre) + 0.25 * noise
    return (vec / np.linalg.norm(vec)).astype(np.float32)


def fake_matrix(texts: list[str], dims: int, salt: str = "") -> np.ndarray:
    return np.stack([fake_vector(t, dims, salt) for t in texts]) if texts else np.zeros((0, dims), np.float32)


def shorten(vectors: np.ndarray, dims: int) -> np.ndarray:
    """Matryoshka-style truncation to `dims`, renormalised (what `dimensions=` does for v3 models)."""
    cut = vectors[:, :dims]
    return (cut / np.linalg.norm(cut, axis=1, keepdims=True)).astype(np.float32)


def to_base64(vector: np.ndarray) -> str:
    """Little-endian float32 bytes, base64: OpenAI's `encoding_format="base64"` wire form."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
