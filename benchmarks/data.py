"""Benchmark data: the shipped CLINC150 copy, route selections, and an on-disk embedding cache.

CLINC150 (Larson et al., 2019; CC BY 3.0, see data/clinc150/LICENSE): 150 intents with
100/20/30 train/val/test queries each, plus out-of-scope ("no route") queries: 100 oos_val,
1000 oos_test. Routes are built from the train split; thresholds are fitted on val + oos_val;
figures are reported on test + oos_test. The test splits are never used for fitting.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.output import write_atomic
from semantic_router.encoders.base import DenseEncoder, InputType

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "clinc150" / "data_full.json"
CACHE = Path(os.environ.get("SR_BENCH_CACHE", HERE / ".cache"))


@lru_cache(maxsize=2)
def clinc(path: str | None = None) -> dict[str, list[list[str]]]:
    """The CLINC150 "full" splits: {split: [[text, intent], ...]}."""
    with open(path or DATA, encoding="utf-8") as fh:
        return json.load(fh)


def select(train: list[list[str]], per_route: int | None, how: str = "first", seed: int = 0) -> dict[str, list[str]]:
    """Route name -> utterances from the train split.

    `per_route=None` takes every example; otherwise `per_route` per intent, either the first ones
    in file order (`how="first"`) or a seeded random sample (`how="random"`), in file order.
    """
    by_route: dict[str, list[str]] = {}
    for text, intent in train:
        by_route.setdefault(intent, []).append(text)
    if per_route is None:
        return by_route
    if how == "first":
        return {r: u[:per_route] for r, u in by_route.items()}
    if how == "random":
        rng = np.random.default_rng(seed)
        out = {}
        for r in sorted(by_route):
            u = by_route[r]
            keep = np.sort(rng.choice(len(u), size=min(per_route, len(u)), replace=False))
            out[r] = [u[i] for i in keep]
        return {r: out[r] for r in by_route}
    raise ValueError(f"selection must be 'first' or 'random', got {how!r}")


def labelled(split: str, data: dict | None = None) -> tuple[list[str], list[str | None]]:
    """Texts and labels of an in-scope split plus its out-of-scope twin (labels None)."""
    d = data or clinc()
    items = d[split] + d[f"oos_{split}"]
    return [t for t, _ in items], [None if i == "oos" else i for _, i in items]


def subset(texts: list[str], labels: list, per_label: int, oos: int) -> tuple[list[str], list]:
    """A small deterministic subset: the first `per_label` queries of each route and `oos` no-route ones."""
    seen: dict[Any, int] = {}
    out_t, out_l = [], []
    for t, lab in zip(texts, labels):
        cap = oos if lab is None else per_label
        if seen.get(lab, 0) < cap:
            seen[lab] = seen.get(lab, 0) + 1
            out_t.append(t)
            out_l.append(lab)
    return out_t, out_l


class CachedEncoder(DenseEncoder):
    """Wraps a dense encoder with an on-disk cache of vectors (one .npy + text list per model).

    The first run encodes each text once with the real model; reruns read the vectors back, so
    the whole quality benchmark replays in seconds. Every router code path still runs.
    """

    def __init__(self, inner: DenseEncoder, cache_dir: str | Path = CACHE) -> None:
        super().__init__(cache_size=0)
        self.inner = inner
        self.name = inner.name
        self.type = inner.type
        self.score_threshold = inner.score_threshold
        key = hashlib.sha1(inner.name.encode()).hexdigest()[:12]
        self.dir = Path(cache_dir)
        self._path = self.dir / f"emb-{key}"
        self._index: dict[str, int] = {}
        self._vectors = np.zeros((0, inner.dimensions), dtype=np.float32)
        self.misses = 0
        if self._path.with_suffix(".npy").exists() and self._path.with_suffix(".json").exists():
            texts = json.loads(self._path.with_suffix(".json").read_text(encoding="utf-8"))
            vecs = np.load(self._path.with_suffix(".npy"))
            if len(texts) == len(vecs):
                self._index = {t: i for i, t in enumerate(texts)}
                self._vectors = vecs

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def spec(self) -> dict[str, Any]:
        return self.inner.spec()

    def _encode(self, texts: list[str], input_type: InputType) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._index))
        if missing:
            self.misses += len(missing)
            fresh = self.inner.encode(missing, "document")
            base = len(self._vectors)
            self._vectors = np.concatenate([self._vectors, fresh.astype(np.float32)])
            for j, t in enumerate(missing):
                self._index[t] = base + j
            self._save()
        return self._vectors[[self._index[t] for t in texts]]

    def cached(self, text: str) -> bool:
        """Whether `text`'s vector is in the cache (nothing is encoded)."""
        return text in self._index

    def warm(self, texts: list[str]) -> None:
        """Make sure every text is cached (one batched encode of the missing ones)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._index]
        if missing:
            self._encode(missing, "document")

    def _save(self) -> None:
        from semantic_router._files import atomic_open  # here: see benchmarks/output.py write_atomic

        self.dir.mkdir(parents=True, exist_ok=True)
        texts = [None] * len(self._index)
        for t, i in self._index.items():
            texts[i] = t
        with atomic_open(self._path.with_suffix(".npy"), "wb") as fh:
            np.save(fh, self._vectors)
        write_atomic(self._path.with_suffix(".json"), json.dumps(texts))


@lru_cache(maxsize=1)
def bundled_encoder() -> CachedEncoder:
    """The bundled all-MiniLM-L6-v2 behind the benchmark's embedding cache."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from semantic_router.encoders import HuggingFaceEncoder

    from benchmarks.output import show_progress

    return CachedEncoder(HuggingFaceEncoder(show_progress=show_progress()))  # bars only on a terminal
