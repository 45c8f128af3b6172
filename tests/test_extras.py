"""A backend or encoder used without its extra raises an ImportError naming the extra to install, and the
gateway runs on the `server` extra alone (scripts/extras_smoke.sh checks every extra in a fresh venv)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HINT = r"pip install -e '\.\[{extra}\]' in a clone of the repository"

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
    with pytest.raises(ImportError, match=rf"{user} needs the '{extra}' extra: {HINT.format(extra=extra)}"):
        importlib.import_module(module)
    package, name = module.rsplit(".", 1)[0], user
    with pytest.raises(ImportError, match=HINT.format(extra=extra)):  # the lazy package attribute too
        getattr(importlib.import_module(package), name)


def test_bm25_without_rank_bm25_names_the_hybrid_extra(monkeypatch):
    from semantic_router.encoders import BM25Encoder

    monkeypatch.setitem(sys.modules, "rank_bm25", None)
    with pytest.raises(ImportError, match=rf"BM25Encoder needs the 'hybrid' extra: {HINT.format(extra='hybrid')}"):
        BM25Encoder()


def test_config_naming_a_backend_without_its_extra(monkeypatch):
    from semantic_router.config import INDEXES, build

    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    monkeypatch.delitem(sys.modules, "semantic_router.index.qdrant", raising=False)
    with pytest.raises(ImportError, match=r"QdrantIndex needs the 'qdrant' extra"):
        build({"type": "qdrant", "location": ":memory:"}, INDEXES, "index")


# every other extra's packages made unimportable, as in a venv holding only the `server` extra (and typer)
BLOCK = ("import sys\n"
         "for m in ('redis', 'qdrant_client', 'pinecone', 'openai', 'cohere', 'fastembed', 'matplotlib', "
         "'rank_bm25', 'sentence_transformers', 'torch', 'sklearn'):\n"
         "    sys.modules[m] = None\n")
SERVE = BLOCK + """
import asyncio
import httpx
from semantic_router.server.http import create_app
from semantic_router.server.config import load_config
from semantic_router.server.runtime import Runtime

app = create_app(Runtime.build(load_config(sys.argv[1])))
async def main():
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            for _ in range(200):  # warming runs in the background
                if (await client.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
            r = await client.post("/v1/route", json={"prompt": "hello there"})
            print(r.status_code, r.json().get("decision", r.text))
asyncio.run(main())
"""
CLI = BLOCK + "from semantic_router.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def run_server_only(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})


@pytest.mark.slow
def test_the_gateway_runs_on_the_server_extra_alone(tmp_path):
    """The gateway's app imported redis-py at module level (cluster stats), so `pip install '.[server]'` could
    not serve at all: `No module named 'redis'`. A keyword-only gateway needs no model and no other extra."""
    pytest.importorskip("fastapi")
    config = {"models": {"m": {"backends": [{"base_url": "http://127.0.0.1:9/v1"}]}},
              "signals": {"keywords": [{"name": "hi", "words": ["hello"]}]},
              "decisions": [{"name": "greet", "rule": {"signal": "keywords:hi"}, "model": "m"}]}
    path = tmp_path / "gateway.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    out = run_server_only(SERVE, str(path))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["200", "greet"]
    # `cluster:` is what needs redis-py: named in one line, before anything is built
    path.write_text(json.dumps({**config, "cluster": {"redis_url": "redis://127.0.0.1:1"}}), encoding="utf-8")
    out = run_server_only(CLI, "classify", str(path), "hello there")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and "needs the 'redis' extra" in lines[0]
