"""Encoders: dense (text -> unit vector) and sparse (text -> {index: weight}).

Provider encoders import their SDK only when used, so installing the package never pulls an
SDK the user does not need.
"""

from __future__ import annotations

from typing import Any

from semantic_router.encoders.base import DenseEncoder, SparseEncoder, SparseVector
from semantic_router.encoders.bm25 import BM25Encoder
from semantic_router.encoders.huggingface import HuggingFaceEncoder

_LAZY = {
    "AdaptedEncoder": "semantic_router.encoders.adapted",
    "OpenAIEncoder": "semantic_router.encoders.openai",
    "CohereEncoder": "semantic_router.encoders.cohere",
    "FastEmbedEncoder": "semantic_router.encoders.fastembed",
}

__all__ = ["DenseEncoder", "SparseEncoder", "SparseVector", "BM25Encoder", "HuggingFaceEncoder", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'semantic_router.encoders' has no attribute {name!r}")
