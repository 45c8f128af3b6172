"""Scale: build and query time at 1k, 10k and 100k utterances, per decision rule and index backend.

Synthetic data so the sizes are free: 100 routes, unit vectors clustered around random route
centres (d=384, the bundled model's size); a lookup encoder maps each utterance text to its
vector, so build time is the router's own work (ids, index writes, rule training), not a model's.
The floor is bare numpy on the same matrix: `matrix @ vector` plus `argmax`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from semantic_router.encoders.base import DenseEncoder, InputType

SIZES = (1_000, 10_000, 100_000)
N_ROUTES = 100
DIM = 384
RULES = ("knn", "centroid", "classifier")

# index backends to measure: name -> factory; remote backends register themselves here when available
BACKENDS: dict[str, Callable[[], Any]] = {}


def _local() -> Any:
    from semantic_router.index.local import LocalIndex

    return LocalIndex()


BACKENDS["local"] = _local


def _redis(algorithm: str) -> Callable[[], Any]:
    def make() -> Any:
        import uuid

        from semantic_router.index.redis import RedisIndex
        from tests.redis_server import server_url  # a real redis-server on loopback, or $REDIS_URL

        return RedisIndex(server_url(), name=f"scale{uuid.uuid4().hex[:8]}", algorithm=algorithm)

    return make


BACKENDS["redis-flat"] = _redis("flat")
BACKENDS["redis-hnsw"] = _redis("hnsw")


class LookupEncoder(DenseEncoder):
    """Texts of the form "u<i>" map to row i of a fixed matrix; anything else hashes to a vector."""

    type = "lookup"
    name = "synthetic-lookup"

    def __init__(self, vectors: np.ndarray) -> None:
        super().__init__(cache_size=0)
        self._v = vectors

    @property
    def dimensions(self) -> int:
        return self._v.shape[1]

    def _encode(self, texts: list[str], input_type: InputType) -> np.ndarray:
        rows = [int(t[1:]) if t.startswith("u") and t[1:].isdigit() else -1 for t in texts]
        out = self._v[rows].astype(np.float32)  # one gather; other texts are overwritten below
        for j, t in enumerate(texts):
            if rows[j] < 0:
                out[j] = np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self._v.shape[1])
        return out


def synthetic(n: int, routes: int = N_ROUTES, dim: int = DIM, queries: int = 1000, seed: int = 0):
    """Utterance vectors (n, dim), their route ids, and query vectors near random routes."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((routes, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.arange(n) % routes
    noise = rng.standard_normal((n, dim)).astype(np.float32) * 1.2 / np.sqrt(dim)
    x = centres[labels] + noise
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    qlab = rng.integers(0, routes, queries)
    q = centres[qlab] + rng.standard_normal((queries, dim)).astype(np.float32) * 1.2 / np.sqrt(dim)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x, labels, q.astype(np.float32), qlab


def percentiles(times: list[float]) -> dict[str, float]:
    ms = 1000 * np.asarray(times)
    return {f"p{p}_ms": round(float(np.percentile(ms, p)), 4) for p in (50, 95, 99)}


def floor(x: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """Bare numpy: one matrix-vector product and an argmax per query."""
    times = []
    for v in q:
        t0 = time.perf_counter()
        int(np.argmax(x @ v))
        times.append(time.perf_counter() - t0)
    return percentiles(times)


def measure(n: int, rule: str, backend: str, x: np.ndarray, labels: np.ndarray, q: np.ndarray,
            qlab: np.ndarray, singles: int = 500) -> dict[str, Any]:
    from semantic_router import Route, RouteLayer

    encoder = LookupEncoder(x)
    by_route: dict[int, list[str]] = {}
    for i, r in enumerate(labels.tolist()):
        by_route.setdefault(r, []).append(f"u{i}")
    routes = [Route(name=f"route{r}", utterances=u) for r, u in sorted(by_route.items())]
    t0 = time.perf_counter()
    layer = RouteLayer(encoder=encoder, routes=routes, index=BACKENDS[backend](), rule=rule, score_threshold=0.0)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    layer.train_rule()
    train = time.perf_counter() - t0
    layer(vector=q[0])
    times = []
    correct = 0
    for v, lab in zip(q[:singles], qlab[:singles]):
        t0 = time.perf_counter()
        c = layer(vector=v)
        times.append(time.perf_counter() - t0)
        correct += c.name == f"route{lab}"
    t0 = time.perf_counter()
    layer.route_batch(vectors=q)
    batch = time.perf_counter() - t0
    return {"utterances": n, "rule": rule, "backend": backend, "build_s": round(build, 3),
            "train_rule_s": round(train, 3), **percentiles(times),
            "batch_queries_per_s": round(len(q) / batch, 1), "accuracy": round(correct / len(times), 4)}


def run(sizes: tuple[int, ...] = SIZES, rules: tuple[str, ...] = RULES, backends: tuple[str, ...] | None = None,
        singles: int = 500, log: Any = print) -> dict[str, Any]:
    rows = []
    floors = {}
    for n in sizes:
        x, labels, q, qlab = synthetic(n)
        floors[n] = floor(x, q[:singles])
        log(f"  n={n:>7} numpy floor {floors[n]}")
        for backend in backends or tuple(BACKENDS):
            for rule in rules:
                row = measure(n, rule, backend, x, labels, q, qlab, singles)
                row["p50_over_floor"] = round(row["p50_ms"] / max(floors[n]["p50_ms"], 1e-9), 2)
                rows.append(row)
                log(f"  n={n:>7} {backend:6s} {rule:10s} build {row['build_s']:.2f}s train {row['train_rule_s']:.2f}s "
                    f"p50 {row['p50_ms']:.3f}ms p99 {row['p99_ms']:.3f}ms ({row['p50_over_floor']}x floor) "
                    f"batch {row['batch_queries_per_s']:.0f} q/s")
    return {"routes": N_ROUTES, "dim": DIM, "floors": {str(k): v for k, v in floors.items()}, "rows": rows}
