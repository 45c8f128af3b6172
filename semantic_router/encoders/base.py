"""Encoder contracts: dense (text -> unit vector) and sparse (text -> {index: weight}).

Encoders know nothing of routes or indexes; the layer feeds them text and stores what they return.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Literal

import numpy as np
from cachetools import LRUCache

from semantic_router.errors import EncoderError
from semantic_router.vectors import SparseVector

__all__ = ["DenseEncoder", "InputType", "LocalModelEncoder", "SparseEncoder", "SparseVector", "check_texts"]

InputType = Literal["query", "document"]


def check_texts(texts: Any, what: str = "text") -> list[str]:
    """Validate a list of non-empty strings, naming the first bad item."""
    if isinstance(texts, (str, bytes, Mapping, AbstractSet)) or not isinstance(texts, Iterable):
        # a dict would give its keys, a set an arbitrary order: neither is a list of texts
        raise TypeError(f"expected a list of strings for {what}, got {type(texts).__name__}: {texts!r:.80}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] must be a string, got {type(t).__name__}: {t!r:.80}")
        if not t.strip():
            raise ValueError(f"{what}[{i}] is empty or blank: {t!r}")
    return out


class DenseEncoder(ABC):
    """Turns texts into L2-normalised float32 vectors so a dot product is a cosine similarity.

    Subclasses implement `_encode` (and `_aencode` when their client has an async API).
    Queries go through an LRU cache so a repeated query costs a dictionary lookup.
    """

    #: registry key used in configs (``type: huggingface``)
    type: str = "dense"
    #: model identifier
    name: str
    #: the similarity threshold that suits this model when neither route nor layer sets one
    score_threshold: float = 0.5

    def __init__(self, cache_size: int = 4096) -> None:
        self._cache: LRUCache[str, np.ndarray] = LRUCache(maxsize=max(cache_size, 0) or 1)
        self._cache_enabled = cache_size > 0
        self._cache_lock = threading.Lock()
        self.calls = 0  # number of texts sent to the model (tests and benchmarks read it)

    @property
    @abstractmethod
    def dimensions(self) -> int:
        """Length of the vectors this encoder returns."""

    @abstractmethod
    def _encode(self, texts: list[str], input_type: InputType) -> np.ndarray:
        """Encode already validated texts; return an (n, dimensions) array."""

    async def _aencode(self, texts: list[str], input_type: InputType) -> np.ndarray:
        """Async encode; the default runs the sync path in a worker thread, off the event loop."""
        return await asyncio.to_thread(self._encode, texts, input_type)

    def spec(self) -> dict[str, Any]:
        """The config entry that recreates this encoder (no secrets)."""
        return {"type": self.type, "name": self.name}

    # -- public API -------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], input_type: InputType = "document") -> np.ndarray:
        """Encode texts (utterances by default) into an (n, d) float32 unit-norm matrix."""
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        self.calls += len(items)
        return self._finish(self._encode(items, input_type), len(items))

    async def aencode(self, texts: Sequence[str], input_type: InputType = "document") -> np.ndarray:
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        self.calls += len(items)
        return self._finish(await self._aencode(items, input_type), len(items))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode queries, serving repeats from the LRU cache."""
        items = check_texts(texts, "query")
        found, missing = self._lookup(items)
        if missing:
            self._remember(found, missing, self.encode(missing, "query"))
        return np.stack([found[t] for t in items])

    async def aencode_queries(self, texts: Sequence[str]) -> np.ndarray:
        items = check_texts(texts, "query")
        found, missing = self._lookup(items)
        if missing:
            self._remember(found, missing, await self.aencode(missing, "query"))
        return np.stack([found[t] for t in items])

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def close(self) -> None:
        """Release clients or connections this encoder holds (none here: a no-op)."""

    async def aclose(self) -> None:
        """Async `close`."""
        self.close()

    # locks do not pickle: saved or shipped encoders get fresh ones
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_cache_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache_lock = threading.Lock()

    # -- helpers ------------------------------------------------------------------------------
    def _lookup(self, items: list[str]) -> tuple[dict[str, np.ndarray | None], list[str]]:
        with self._cache_lock:
            found = {t: self._cache.get(t) for t in items}
        return found, [t for t, v in found.items() if v is None]

    def _remember(self, found: dict, texts: list[str], vectors: np.ndarray) -> None:
        found.update(zip(texts, vectors))
        if self._cache_enabled:
            with self._cache_lock:
                for t, v in zip(texts, vectors):
                    self._cache[t] = v

    def _finish(self, vectors: Any, n: int) -> np.ndarray:
        arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if arr.shape != (n, self.dimensions):
            raise EncoderError(
                f"encoder {self.name!r} returned shape {arr.shape}, expected ({n}, {self.dimensions})"
            )
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        if not np.all(np.isfinite(arr)) or np.any(norms == 0):
            raise EncoderError(f"encoder {self.name!r} returned a zero or non-finite vector")
        return arr / norms


class LocalModelEncoder(DenseEncoder):
    """A dense encoder whose model loads in-process on first use: once, even under concurrent first
    calls, and never pickled (the weights reload from disk), so loading a saved router is cheap."""

    def __init__(self, cache_size: int = 4096) -> None:
        super().__init__(cache_size=cache_size)
        self._model: Any = None
        self._load_lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    @abstractmethod
    def _load(self) -> Any:
        """Load and return the model."""

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_model"] = None
        state.pop("_load_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._load_lock = threading.Lock()


class SparseEncoder(ABC):
    """Turns texts into sparse vectors; fitted on the route utterances (corpus statistics)."""

    type: str = "sparse"
    name: str

    @property
    def is_fitted(self) -> bool:
        """False until `fit` has seen a corpus."""
        return True

    @abstractmethod
    def fit(self, documents: Sequence[str]) -> None:
        """(Re)learn corpus statistics from all utterances."""

    @abstractmethod
    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """Vectors stored in the index for utterances."""

    @abstractmethod
    def encode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        """Vectors sent with a query; their dot product with a document vector is the score."""

    async def aencode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        return await asyncio.to_thread(self.encode_queries, texts)

    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name}

    def close(self) -> None:
        """Release what this encoder holds (nothing for corpus statistics: a no-op)."""

    async def aclose(self) -> None:
        """Async `close`."""
        self.close()
