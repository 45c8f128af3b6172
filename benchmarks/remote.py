"""Remote index benchmark: routing overhead with a precomputed vector, and building a router
from an existing shared index (`auto_sync="remote"`), at 5,000 CLINC150 utterances.

Redis runs as a real redis-server with RediSearch on loopback (or $REDIS_URL); Qdrant runs
in-process; LocalIndex is the baseline. Usage:

    python -m benchmarks remote          # or: python benchmarks/remote.py
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
from benchmarks.output import bar

from benchmarks.data import bundled_encoder, clinc, labelled, select
from semantic_router import Route, RouteLayer
from semantic_router.index.base import Index


def _routes(n_utterances: int) -> list[Route]:
    """Routes from CLINC150 train: every intent, utterances taken round-robin up to n."""
    by_route = select(clinc()["train"], None)
    per = -(-n_utterances // len(by_route))
    routes, left = [], n_utterances
    for name, utts in by_route.items():
        take = utts[: min(per, left)]
        if take:
            routes.append(Route(name=name, utterances=take))
        left -= len(take)
    return routes


@contextlib.contextmanager
def _redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from tests.redis_server import RedisServer

    with RedisServer() as server:
        yield server.url


def _backends(url: str) -> dict[str, Any]:
    from semantic_router.index.qdrant import QdrantIndex
    from semantic_router.index.redis import RedisIndex

    name = f"bench{uuid.uuid4().hex[:8]}"
    return {
        "local": lambda: _SharedLocal.get(name),
        "redis-flat": lambda: RedisIndex(url, name=name + "f", algorithm="flat"),
        "redis-hnsw": lambda: RedisIndex(url, name=name + "h", algorithm="hnsw"),
        "qdrant-memory": lambda: _SharedLocal.get(name + "q", lambda: QdrantIndex(location=":memory:", name=name)),
    }


class _SharedLocal:
    """In-process stores are shared by object (a second process could not see them anyway)."""

    made: dict[str, Index] = {}

    @classmethod
    def get(cls, key: str, factory: Any = None) -> Index:
        if key not in cls.made:
            from semantic_router.index.local import LocalIndex

            cls.made[key] = (factory or LocalIndex)()
        return cls.made[key]


def _percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1e3
    return {f"p{p}_ms": round(float(np.percentile(arr, p)), 3) for p in (50, 95, 99)}


def run(n_utterances: int = 5000, n_queries: int = 300) -> dict[str, Any]:
    encoder = bundled_encoder()
    routes = _routes(n_utterances)
    texts, _ = labelled("test")
    queries = texts[:n_queries]
    encoder.warm([u for r in routes for u in r.utterances] + queries)
    vectors = encoder.encode(queries, "query")
    results: dict[str, Any] = {"utterances": sum(len(r.utterances) for r in routes), "routes": len(routes),
                               "queries": n_queries, "backends": {}}
    with _redis_url() as url:
        for name, make in bar(_backends(url).items(), "remote backends"):
            t0 = time.perf_counter()
            writer = RouteLayer(encoder=encoder, routes=routes, index=make(), auto_sync="local", rule="knn")
            build_s = time.perf_counter() - t0
            before = encoder.calls
            t0 = time.perf_counter()
            reader = RouteLayer(encoder=encoder, index=make(), auto_sync="remote", rule="knn",
                                refresh_interval=3600)
            remote_build_s = time.perf_counter() - t0
            encoded = encoder.calls - before
            for v in vectors[:20]:
                reader(vector=v)
            samples = []
            for v in vectors:
                t0 = time.perf_counter()
                reader(vector=v)
                samples.append(time.perf_counter() - t0)
            agree = np.mean([reader(vector=v).name == writer(vector=v).name for v in vectors[:100]])
            results["backends"][name] = {
                "push_build_s": round(build_s, 2), "remote_build_s": round(remote_build_s, 3),
                "remote_build_encoded": encoded, **_percentiles(samples), "agreement_with_writer": float(agree),
            }
            with contextlib.suppress(Exception):
                writer.index.drop()
            reader.close()  # stops the background refreshers before the Redis they poll goes away
            writer.close()
    return results


def markdown(results: dict[str, Any]) -> str:
    head = (f"Remote indexes at {results['utterances']:,} utterances ({results['routes']} routes), "
            f"{results['queries']} vector-in queries, rule=knn (the index path)\n\n")
    rows = ["| backend | vector-in p50 ms | p95 ms | p99 ms | build from index (auto_sync=remote) s | "
            "utterances encoded | first push s |", "|---|---|---|---|---|---|---|"]
    for name, r in results["backends"].items():
        rows.append(f"| {name} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['remote_build_s']} | "
                    f"{r['remote_build_encoded']} | {r['push_build_s']} |")
    return head + "\n".join(rows) + "\n"


if __name__ == "__main__":  # pragma: no cover
    out = run()
    print(markdown(out))
