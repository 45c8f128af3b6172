"""The ONNX export of the bundled model, made once per test session by two processes racing for it.

The race is the FastEmbedEncoder's concurrency test (tests/test_fastembed_encoder.py checks its outcome);
the export it leaves is the session's ONNX cache, so every test that runs the model on ONNX Runtime reuses
it instead of exporting again (or reading and writing the user's ~/.cache)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_CHILD = """
import json, os
import semantic_router.encoders.fastembed as fe
from semantic_router.encoders import FastEmbedEncoder
vec = FastEmbedEncoder().encode(["offline and concurrent"])[0]
print(json.dumps({"exports": fe.export_count, "head": vec[:4].tolist()}))
"""


@dataclass(frozen=True)
class OnnxCache:
    """`path`: a SEMANTIC_ROUTER_CACHE holding one export; `children`: what each racing process reported
    (its own export count and the head of one vector)."""

    path: Path
    children: list[dict]


def export_in_two_processes(cache: Path) -> OnnxCache:
    """Start two processes that export into the empty `cache` at once, offline, and wait for both.

    Both run with HF_HUB_OFFLINE=1 and every hub/proxy address pointing at a closed port, so any
    attempt to reach the network would fail."""
    assert not (cache / "onnx").exists(), f"{cache} is not an empty cache"
    dead = "http://127.0.0.1:9"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "SEMANTIC_ROUTER_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": dead,
           "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead,
           "PYTHONPATH": str(root), "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return OnnxCache(cache, results)
