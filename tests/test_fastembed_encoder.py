"""FastEmbedEncoder on the bundled all-MiniLM-L6-v2, exported to ONNX once, offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import semantic_router.encoders.fastembed as fe
from semantic_router import RouteLayer
from semantic_router.config import ENCODERS, build
from semantic_router.encoders.fastembed import FastEmbedEncoder

pytestmark = pytest.mark.slow  # exports and runs ONNX models

TEXTS = [
    "how's the weather today?",
    "Will it RAIN tomorrow in Paris??",
    "isn't politics the best thing ever",
    "don't you just love the president",
    "I need a refund for order #48213",
    "reset my password please",
    "a",
    "OK",
    "¿Dónde está la biblioteca?",
    "Ünïcödé façade naïve café",
    "日本語のテキストも大丈夫ですか",
    "emoji test 🚀🔥 works?",
    "def encode(texts: list[str]) -> np.ndarray: return model(texts)",
    "SELECT * FROM users WHERE id = 42;",
    "3.14159 2.71828 1.41421",
    "   leading and trailing spaces   ",
    "line one\nline two\ttabbed",
    "the quick brown fox jumps over the lazy dog " * 60,  # > 256 tokens: truncated like sentence-transformers
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "Can you book a table for two at 7pm at an Italian place nearby?",
]


@pytest.fixture(scope="module")
def cache(onnx_cache):
    """The session's ONNX cache (SEMANTIC_ROUTER_CACHE), filled by two processes exporting into it at once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEMANTIC_ROUTER_CACHE", str(onnx_cache.path))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield onnx_cache.path


@pytest.fixture(scope="module")
def fast(cache) -> FastEmbedEncoder:
    before = fe.export_count
    enc = FastEmbedEncoder()
    enc.encode(["warm up"])
    assert fe.export_count == before  # the export the two processes left in the cache
    return enc


def export_dir(cache: Path) -> Path:
    (found,) = [p for p in (cache / "onnx").iterdir() if p.is_dir()]
    return found


def test_matches_huggingface_encoder(fast, encoder):
    ours = fast.encode(TEXTS)
    reference = encoder.encode(TEXTS)
    cosines = np.sum(ours * reference, axis=1)
    assert ours.shape == (20, 384)
    assert cosines.min() > 0.999, dict(zip(TEXTS, cosines.round(5)))
    q = fast.encode_queries(TEXTS[:3])
    np.testing.assert_allclose(q, ours[:3], atol=1e-6)


def test_export_layout(fast, cache):
    out = export_dir(cache)
    assert {"model.onnx", "export.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"} <= {
        p.name for p in out.iterdir()}
    marker = json.loads((out / "export.json").read_text())
    assert marker["dimensions"] == 384 and marker["pooling"] == "MEAN"
    assert marker["onnx_bytes"] == (out / "model.onnx").stat().st_size
    assert json.loads((out / "tokenizer_config.json").read_text())["model_max_length"] == 256
    assert not list(out.parent.glob("*.tmp-*"))  # no half-written export left behind


def test_second_construction_reuses_export(fast, cache):
    out = export_dir(cache)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    count = fe.export_count
    again = FastEmbedEncoder()
    np.testing.assert_allclose(again.encode(TEXTS[:4]), fast.encode(TEXTS[:4]), atol=1e-6)
    assert fe.export_count == count
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_stale_or_damaged_export_is_not_trusted(fast, cache, tmp_path):
    out = export_dir(cache)
    marker = json.loads((out / "export.json").read_text())
    assert fe._valid(out, marker["fingerprint"])
    assert not fe._valid(out, "another-source-fingerprint")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    shutil.copy(out / "export.json", damaged / "export.json")
    (damaged / "model.onnx").write_bytes(b"truncated")
    assert not fe._valid(damaged, marker["fingerprint"])


def test_dimensions_known_without_loading(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMANTIC_ROUTER_CACHE", str(tmp_path))
    enc = FastEmbedEncoder(name="all-MiniLM-L6-v2")
    assert enc.dimensions == 384 and enc.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert enc.score_threshold == pytest.approx(0.45)
    assert not any(tmp_path.iterdir())  # nothing exported until the first encode


def test_model_path_to_an_onnx_directory(fast, cache):
    enc = FastEmbedEncoder(model_path=export_dir(cache))
    assert enc.spec() == {"type": "fastembed", "name": export_dir(cache).name, "model_path": str(export_dir(cache))}
    np.testing.assert_allclose(enc.encode(TEXTS[:5]), fast.encode(TEXTS[:5]), atol=1e-5)


async def test_async_path(fast):
    vectors = await fast.aencode_queries(TEXTS[:3])
    np.testing.assert_allclose(vectors, fast.encode(TEXTS[:3]), atol=1e-6)


def test_spec_rebuilds(fast):
    spec = fast.spec()
    assert spec == {"type": "fastembed", "name": "sentence-transformers/all-MiniLM-L6-v2"}
    assert isinstance(build(spec, ENCODERS, "encoder"), FastEmbedEncoder)


def test_routes_like_the_huggingface_encoder(fast, politics_chitchat):
    layer = RouteLayer(encoder=fast, routes=politics_chitchat)
    assert layer("don't you love politics?").name == "politics"
    assert layer("how's the weather today?").name == "chitchat"
    assert layer("I'm interested in learning about llama 2").name is None


def test_concurrent_offline_exports_in_two_processes(onnx_cache):
    """Two processes exporting into one empty cache at once: one exports, the other waits and reuses it."""
    children = onnx_cache.children
    assert sorted(r["exports"] for r in children) == [0, 1]
    np.testing.assert_allclose(children[0]["head"], children[1]["head"], atol=1e-6)
    assert len([p for p in (onnx_cache.path / "onnx").iterdir() if p.is_dir()]) == 1
