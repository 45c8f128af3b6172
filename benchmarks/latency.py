"""Latency on CLINC150 routes with the bundled model: text-in and vector-in p50/p95/p99, batch
throughput, and the query cache.

- text-in, cache miss: `rl(text)` on distinct test queries (encoding with the real model included)
- text-in, cache hit: the same queries again (served by the encoder's LRU cache)
- vector-in: `rl(vector=v)` with precomputed query vectors (routing cost alone)
- batch: `route_batch(vectors=...)` and `route_batch(texts)` throughput
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks import data as bd
from benchmarks.scale import percentiles

RULES = ("knn", "centroid", "classifier")


def run(singles: int = 300, batch_texts: int = 256, rules: tuple[str, ...] = RULES, quick: bool = False,
        encoder: Any = None, log: Any = print) -> dict[str, Any]:
    from semantic_router import Route, RouteLayer

    d = bd.clinc()
    cached = encoder or bd.bundled_encoder()
    real = cached.inner
    if quick:
        from benchmarks.quality import quick_data

        d = quick_data(d)[0]
        singles, batch_texts = 10, 8
    texts = [t for t, _ in d["test"]]
    rng = np.random.default_rng(0)
    picks = [texts[i] for i in rng.choice(len(texts), size=singles + batch_texts, replace=False)]
    singles_t, batch_t = picks[:singles], picks[singles:]
    cached.warm(picks if quick else [t for t, _ in d["train"]] + picks)
    qv = cached.encode(singles_t, "query")
    all_v = cached.encode(texts, "query")
    rows = []
    for per_route, label in [(3, "K=3 first")] if quick else [(10, "K=10 first"), (None, "ALL")]:
        routes = bd.select(d["train"], per_route)
        for rule in rules:
            layer = RouteLayer(encoder=cached, routes=[Route(name=n, utterances=u) for n, u in routes.items()],
                               rule=rule)
            layer.train_rule()
            layer.encoder = real  # text-in goes through the real model
            real.clear_cache()
            layer(singles_t[0])
            real.clear_cache()
            miss, hit, vec = [], [], []
            for t in singles_t:
                t0 = time.perf_counter()
                layer(t)
                miss.append(time.perf_counter() - t0)
            for t in singles_t:
                t0 = time.perf_counter()
                layer(t)
                hit.append(time.perf_counter() - t0)
            for v in qv:
                t0 = time.perf_counter()
                layer(vector=v)
                vec.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            layer.route_batch(vectors=all_v)
            bv = time.perf_counter() - t0
            real.clear_cache()
            t0 = time.perf_counter()
            layer.route_batch(batch_t)
            bt = time.perf_counter() - t0
            row = {"routes": label, "utterances": sum(len(u) for u in routes.values()), "rule": rule,
                   "text_miss": percentiles(miss), "text_hit": percentiles(hit), "vector": percentiles(vec),
                   "batch_vectors_per_s": round(len(all_v) / bv, 1), "batch_texts_per_s": round(len(batch_t) / bt, 1)}
            rows.append(row)
            log(f"  {label:10s} {rule:10s} text miss {row['text_miss']} hit {row['text_hit']} vector {row['vector']} "
                f"batch {row['batch_vectors_per_s']:.0f} vec/s {row['batch_texts_per_s']:.0f} texts/s")
    return {"encoder": real.name, "singles": singles, "batch_texts": batch_texts, "rows": rows}
