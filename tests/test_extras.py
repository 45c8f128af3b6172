"""A backend or encoder used without its extra raises an ImportError naming the extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest

CASES = [
    ("semantic_router.index.redis", "RedisIndex", "redis", "redis"),
    ("semantic_router.index.qdrant", "QdrantIndex", "qdrant_client", "qdrant"),
    ("semantic_router.index.pinecone", "PineconeIndex", "pinecone", "pinecone"),
    ("semantic_router.encoders.openai", "OpenAIEncoder", "openai", "openai"),
    ("semantic_router.encoders.cohere", "CohereEncoder", "cohere", "cohere"),
]


@pytest.mark.parametrize(("module", "user", "sdk", "extra"), CASES, ids=[c[1] for c in CASES])
def test_missing_sdk_names_the_extra(monkeypatch, module, user, sdk, extra):
    monkeypatch.setitem(sys.modules, sdk, None)  # as if the SDK were not installed
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ImportError, match=rf"{user} needs the '{extra}' extra: "
                                          rf"pip install 'semantic-router-fast\[{extra}\]'"):
        importlib.import_module(module)
    package, name = module.rsplit(".", 1)[0], user
    with pytest.raises(ImportError, match=rf"semantic-router-fast\[{extra}\]"):  # the lazy package attribute too
        getattr(importlib.import_module(package), name)


def test_bm25_without_rank_bm25_names_the_hybrid_extra(monkeypatch):
    from semantic_router.encoders import BM25Encoder

    monkeypatch.setitem(sys.modules, "rank_bm25", None)
    with pytest.raises(ImportError, match=r"BM25Encoder needs the 'hybrid' extra: .*semantic-router-fast\[hybrid\]"):
        BM25Encoder()


def test_config_naming_a_backend_without_its_extra(monkeypatch):
    from semantic_router.config import INDEXES, build

    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    monkeypatch.delitem(sys.modules, "semantic_router.index.qdrant", raising=False)
    with pytest.raises(ImportError, match=r"QdrantIndex needs the 'qdrant' extra"):
        build({"type": "qdrant", "location": ":memory:"}, INDEXES, "index")
