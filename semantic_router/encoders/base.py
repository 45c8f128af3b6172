"""Encoder contracts: dense (text -> unit vector) and sparse (text -> {index: weight}).

Encoders know nothing of routes or indexes; the layer feeds them text and stores what they return.
Two ways to write one: this library's (implement `_encode` and `dimensions`) or aurelio-labs'
(implement `__call__(docs) -> list of vectors`, optionally `acall`); `encode` serves both, and
every encoder is callable aurelio's way (`encoder(docs)`, `await encoder.acall(docs)`).
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
from semantic_router.vectors import SparseEmbedding, SparseVector

__all__ = ["AsymmetricDenseMixin", "AsymmetricSparseMixin", "DenseEncoder", "InputType", "LocalModelEncoder",
           "SparseEmbedding", "SparseEncoder", "SparseVector", "as_sparse", "check_texts", "corpus"]

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


class DenseEncoder:
    """Turns texts into L2-normalised float32 vectors so a dot product is a cosine similarity.

    Subclasses implement `_encode` and `dimensions` (and `_aencode` when their client has an async
    API), or, aurelio-style, `__call__(docs)` (and optionally `acall`): the dimension is then learned
    from the first call. Queries go through an LRU cache so a repeated query costs a dictionary lookup.
    """

    #: registry key used in configs (``type: huggingface``)
    type: str = "dense"
    #: model identifier
    name: str = "dense"
    #: the similarity threshold that suits this model when neither route nor layer sets one
    score_threshold: float = 0.5

    def __init__(self, cache_size: int = 4096, **fields: Any) -> None:
        """`fields` set declared attributes, aurelio-style: `MyEncoder(name="m", score_threshold=0.4)`."""
        self._cache: LRUCache[str, np.ndarray] = LRUCache(maxsize=max(cache_size, 0) or 1)
        self._cache_enabled = cache_size > 0
        self._cache_lock = threading.Lock()
        self.calls = 0  # number of texts sent to the model (tests and benchmarks read it)
        for key, value in fields.items():
            if not _declared(type(self), key):
                raise TypeError(f"{type(self).__name__} got an unexpected keyword argument {key!r}")
            setattr(self, key, value)

    @property
    def dimensions(self) -> int:
        """Length of the vectors this encoder returns (an aurelio-style encoder: learned from one call)."""
        dims = self.__dict__.get("_learned_dims")
        if dims is None:
            if not _overrides(type(self), "__call__", DenseEncoder):
                raise NotImplementedError(f"{type(self).__name__} must implement __call__(docs) -> list of vectors "
                                          "(or _encode and dimensions)")
            dims = self._learned_dims = int(np.asarray(self(["dimension probe"]), dtype=np.float32).shape[-1])
        return dims

    def _encode(self, texts: list[str], input_type: InputType) -> np.ndarray:
        """Encode already validated texts; return an (n, dimensions) array."""
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(docs) -> list of vectors "
                                  "(or _encode and dimensions)")

    async def _aencode(self, texts: list[str], input_type: InputType) -> np.ndarray:
        """Async encode; the default runs the sync path in a worker thread, off the event loop."""
        return await asyncio.to_thread(self._encode, texts, input_type)

    def spec(self) -> dict[str, Any]:
        """The config entry that recreates this encoder (no secrets)."""
        return {"type": self.type, "name": self.name}

    # -- aurelio's calling convention ---------------------------------------------------------
    def __call__(self, docs: Sequence[str]) -> list[list[float]]:
        """aurelio's entry point: the documents' vectors as plain lists."""
        return self.encode(docs).tolist()

    async def acall(self, docs: Sequence[str]) -> list[list[float]]:
        """Async `__call__`."""
        return (await self.aencode(docs)).tolist()

    def _raw(self, items: list[str], input_type: InputType) -> tuple[Any, bool]:
        """The subclass's own vectors, and whether they came through `__call__` (an aurelio-style
        encoder, or a test patching `__call__`: then the vectors' width is the dimension)."""
        if _overrides(type(self), "__call__", DenseEncoder):
            return self(items), True
        return self._encode(items, input_type), False

    async def _araw(self, items: list[str], input_type: InputType) -> tuple[Any, bool]:
        cls = type(self)
        if _overrides(cls, "acall", DenseEncoder):
            return await self.acall(items), True
        if _overrides(cls, "__call__", DenseEncoder):
            return await asyncio.to_thread(self, items), True
        return await self._aencode(items, input_type), False

    # -- public API -------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], input_type: InputType = "document") -> np.ndarray:
        """Encode texts (utterances by default) into an (n, d) float32 unit-norm matrix."""
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        self.calls += len(items)
        return self._finish(*self._raw(items, input_type), len(items))

    async def aencode(self, texts: Sequence[str], input_type: InputType = "document") -> np.ndarray:
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        self.calls += len(items)
        return self._finish(*await self._araw(items, input_type), len(items))

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

    def _finish(self, vectors: Any, called: bool, n: int) -> np.ndarray:
        arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        dims = self.__dict__.get("_learned_dims")
        if called and dims is None and arr.ndim == 2:
            dims = self._learned_dims = arr.shape[1]
        dims = self.dimensions if dims is None else dims
        if arr.shape != (n, dims):
            raise EncoderError(f"encoder {self.name!r} returned shape {arr.shape}, expected ({n}, {dims})")
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        if not np.all(np.isfinite(arr)) or np.any(norms == 0):
            raise EncoderError(f"encoder {self.name!r} returned a zero or non-finite vector")
        return arr / norms


class LocalModelEncoder(DenseEncoder, ABC):
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


class SparseEncoder:
    """Turns texts into sparse vectors; fitted on the route utterances (corpus statistics).

    Subclasses implement `fit`, `encode_documents` and `encode_queries`, or, aurelio-style,
    `__call__(docs)` returning sparse embeddings (anything with `to_dict()` -> {index: weight},
    `SparseVector`s or dicts), used for documents and queries alike."""

    type: str = "sparse"
    name: str = "sparse"

    def __init__(self, **fields: Any) -> None:
        """`fields` set declared attributes, aurelio-style: `MySparse(name="s")`."""
        for key, value in fields.items():
            if not _declared(type(self), key):
                raise TypeError(f"{type(self).__name__} got an unexpected keyword argument {key!r}")
            setattr(self, key, value)

    @property
    def is_fitted(self) -> bool:
        """False until `fit` has seen a corpus."""
        return True

    def fit(self, documents: Sequence[Any]) -> None:
        """(Re)learn corpus statistics from all utterances (a stateless encoder has none to learn)."""

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """Vectors stored in the index for utterances."""
        return self._called(texts)

    def encode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        """Vectors sent with a query; their dot product with a document vector is the score."""
        return self._called(texts)

    async def aencode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        return await asyncio.to_thread(self.encode_queries, texts)

    def __call__(self, docs: Sequence[str]) -> list[Any]:
        """aurelio's entry point (documents); a subclass implementing it serves both directions."""
        if not _overrides(type(self), "encode_documents", SparseEncoder):
            raise NotImplementedError(f"{type(self).__name__} must implement encode_documents/encode_queries/fit "
                                      "or __call__(docs)")
        return [SparseEmbedding.from_sparse(v) for v in self.encode_documents(docs)]

    async def acall(self, docs: Sequence[str]) -> list[Any]:
        """Async `__call__`."""
        return await asyncio.to_thread(self, docs)

    def _called(self, texts: Sequence[str]) -> list[SparseVector]:
        if not _overrides(type(self), "__call__", SparseEncoder):
            raise NotImplementedError(f"{type(self).__name__} must implement encode_documents/encode_queries/fit "
                                      "or __call__(docs)")
        items = check_texts(texts)
        out = [as_sparse(v) for v in self(items)]
        if len(out) != len(items):
            raise EncoderError(f"sparse encoder {self.name!r} returned {len(out)} vectors for {len(items)} texts")
        return out

    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name}

    def close(self) -> None:
        """Release what this encoder holds (nothing for corpus statistics: a no-op)."""

    async def aclose(self) -> None:
        """Async `close`."""
        self.close()


class AsymmetricDenseMixin:
    """aurelio's marker for dense encoders with separate query and document encodings: this
    library's `DenseEncoder` already takes an input type, so the mixin adds nothing."""


class AsymmetricSparseMixin:
    """aurelio's marker for sparse encoders with `encode_queries` / `encode_documents`, which every
    `SparseEncoder` here has."""


def as_sparse(value: Any) -> SparseVector:
    """A SparseVector from a SparseVector, an `{index: weight}` dict or an object with `to_dict()`
    giving one (aurelio's SparseEmbedding)."""
    if isinstance(value, SparseVector):
        return value
    if isinstance(value, Mapping):
        return SparseVector.from_dict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return SparseVector.from_dict(to_dict())
    raise EncoderError(f"a sparse encoder returned {type(value).__name__}, expected a sparse vector: {value!r:.80}")


def corpus(documents: Any) -> list[str]:
    """The texts a sparse encoder fits on: strings, or aurelio-style routes (their utterances)."""
    if isinstance(documents, str) or not isinstance(documents, Iterable):
        raise TypeError(f"expected a list of strings or routes, got {type(documents).__name__}: {documents!r:.80}")
    items = list(documents)
    if items and all(hasattr(d, "utterances") for d in items):
        return [u for d in items for u in d.utterances]
    return check_texts(items, "documents")


def _overrides(cls: type, name: str, base: type) -> bool:
    """True when `cls` (or a patch on it) replaces `base`'s method `name`."""
    return getattr(cls, name, None) is not getattr(base, name)


def _declared(cls: type, key: str) -> bool:
    """Whether `key` is an attribute or annotated field of `cls` (aurelio-style keyword fields)."""
    return hasattr(cls, key) or any(key in getattr(c, "__annotations__", {}) for c in cls.__mro__)
