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
        layers = {}
        for rule in rules:
            layer = RouteLayer(encoder=cached, routes=[Route(name=n, utterances=u) for n, u in routes.items()],
                               rule=rule)
            layer.train_rule()
            layer.encoder = real  # text-in goes through the real model
            layer(vector=qv[0])
            layers[rule] = layer
        real.encode([singles_t[0]])  # warm the model
        times: dict[str, dict[str, list[float]]] = {r: {"miss": [], "hit": [], "vec": []} for r in rules}
        # rules take turns on every query, so load from other processes hits them alike
        for kind in ("miss", "hit"):
            if kind == "hit":
                real.encode_queries(singles_t)  # every query cached
            for t in singles_t:
                for rule, layer in layers.items():
                    if kind == "miss":
                        real.clear_cache()
                    t0 = time.perf_counter()
                    layer(t)
                    times[rule][kind].append(time.perf_counter() - t0)
        for v in qv:
            for rule, layer in layers.items():
                t0 = time.perf_counter()
                layer(vector=v)
                times[rule]["vec"].append(time.perf_counter() - t0)
        for rule, layer in layers.items():
            t0 = time.perf_counter()
            layer.route_batch(vectors=all_v)
            bv = time.perf_counter() - t0
            real.clear_cache()
            t0 = time.perf_counter()
            layer.route_batch(batch_t)
            bt = time.perf_counter() - t0
            row = {"routes": label, "utterances": sum(len(u) for u in routes.values()), "rule": rule,
                   "text_miss": percentiles(times[rule]["miss"]), "text_hit": percentiles(times[rule]["hit"]),
                   "vector": percentiles(times[rule]["vec"]),
                   "batch_vectors_per_s": round(len(all_v) / bv, 1), "batch_texts_per_s": round(len(batch_t) / bt, 1)}
            rows.append(row)
            log(f"  {label:10s} {rule:10s} text miss {row['text_miss']} hit {row['text_hit']} vector {row['vector']} "
                f"batch {row['batch_vectors_per_s']:.0f} vec/s {row['batch_texts_per_s']:.0f} texts/s")
    return {"encoder": real.name, "singles": singles, "batch_texts": batch_texts, "rows": rows}
