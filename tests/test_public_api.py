"""The public API, pinned (as httpx pins its exports): a name added to or dropped from a public
module fails here until this list is changed on purpose; every documented import path works."""

from __future__ import annotations

import ast
import importlib
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The library's public face (docs/architecture.md): its `__all__`, and nothing public beside it.
FACE = {
    "semantic_router": ["ConfigError", "Route", "RouteChoice", "RouteLayer", "RouteNotFoundError", "SemanticRouter",
                        "SemanticRouterError"],
    "semantic_router.encoders": ["AdaptedEncoder", "BM25Encoder", "CohereEncoder", "DenseEncoder", "FastEmbedEncoder",
                                 "HuggingFaceEncoder", "OpenAIEncoder", "SparseEncoder", "SparseVector"],
    "semantic_router.index": ["Coordinator", "Hit", "HitBatch", "HybridLocalIndex", "Index", "LeaseToken", "LocalIndex",
                              "PineconeIndex", "PostgresIndex", "QdrantIndex", "Record", "RedisIndex", "VECTOR_DTYPES",
                              "pack_dense"],
    "semantic_router.llms": ["BaseLLM", "LLMError", "LLMS", "OpenAILLM"],
    "semantic_router.schema": ["Message", "RouteChoice", "SparseEmbedding", "SparseVector", "Utterance"],
    "semantic_router.files": ["atomic_write", "dump_yaml", "read_text_data"],
    "semantic_router.shared": ["SharedState", "read_shared_state"],
    "semantic_router.guards": ["KINDS", "Finding", "PIIDetector"],
    "semantic_router.learn": ["BUILTIN", "ClassifierRouter", "Settings", "TextClassifier", "TrainReport", "builtin_path",
                              "extend_data", "load_signal", "read_classifier", "train_signal"],
}
# Documented packages above the library: their `__all__`.
ABOVE = {
    "semantic_router.routers": ["HybridRouteLayer", "HybridRouter", "LayerConfig", "RouteLayer", "RouterConfig",
                                "SemanticRouter"],  # aurelio's import path
    "semantic_router.server": ["Classification", "GatewayConfig", "GatewayState", "PluginContext", "Runtime",
                               "create_app", "load_config", "parse_config", "register_plugin", "require_extra"],
    "semantic_router.cli": ["app", "main"],
    "semantic_router.compat.aurelio": ["BM25Encoder", "BaseEncoder", "CohereEncoder", "DenseEncoder",
                                       "FastEmbedEncoder", "HuggingFaceEncoder", "HybridRouteLayer", "HybridRouter",
                                       "LayerConfig", "LocalIndex", "OpenAIEncoder", "PineconeIndex", "QdrantIndex",
                                       "RedisIndex", "Route", "RouteChoice", "RouteLayer", "RouterConfig",
                                       "SemanticRouter", "SparseEncoder"],
    "semantic_router.compat.redisvl": ["DistanceAggregationMethod", "HFTextVectorizer", "Route", "RouteMatch",
                                       "RoutingConfig", "SemanticRouter"],
}
# errors.py exports every exception it defines.
ERRORS = ["ArgumentError", "ConfigError", "ConfigFileNotFoundError", "EncoderError", "IndexBackendError",
          "LLMRequiredError", "LockTimeout", "RemoteStateLost", "RouteNotFoundError", "SemanticRouterError",
          "StateConflict", "SyncError"]


@pytest.mark.parametrize("name", sorted({**FACE, **ABOVE}))
def test_exported_names_are_pinned_and_resolve(name):
    module = importlib.import_module(name)
    assert sorted(module.__all__) == sorted({**FACE, **ABOVE}[name])
    for attr in module.__all__:  # lazy names too (their extras are installed in the dev environment)
        assert getattr(module, attr) is not None


@pytest.mark.parametrize("name", sorted(FACE))
def test_the_public_face_shows_nothing_public_beside_its_exports(name):
    """Every object of the package in the module's namespace without an underscore is exported."""
    module = importlib.import_module(name)
    public = {attr for attr, value in vars(module).items()
              if not attr.startswith("_") and not isinstance(value, types.ModuleType)
              and str(getattr(value, "__module__", name)).startswith("semantic_router")}
    assert public <= set(module.__all__)


def test_errors_are_pinned():
    errors = importlib.import_module("semantic_router.errors")
    defined = sorted(n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, BaseException)
                     and v.__module__ == errors.__name__)
    assert defined == ERRORS
    assert all(issubclass(getattr(errors, n), errors.SemanticRouterError) for n in ERRORS)


def documented_imports() -> list[tuple[str, str, str]]:
    """(page, module, name) of every `from semantic_router... import name` in the docs' Python examples."""
    out = []
    for page in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
        for block in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            for node in ast.walk(ast.parse(block)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("semantic_router"):
                    out += [(page.name, node.module, a.name) for a in node.names]
    return out


def test_every_documented_import_path_works():
    found = documented_imports()
    assert ("index.md", "semantic_router", "RouteLayer") in found and len(found) >= 15
    broken = []
    for page, module, name in found:
        try:
            getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            broken.append((page, module, name, str(exc)))
    assert broken == []
