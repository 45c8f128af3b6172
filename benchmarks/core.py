"""Core overhead benchmark: what the router adds on top of the encoder and of a bare numpy scan.

* text-in: router p50 vs the encoder's own p50 on the same (uncached) texts;
* cache hit: a repeated query;
* batch: `route_batch` of 1,000 precomputed vectors vs 1,000 single calls, and texts batched vs
  single, for each decision rule.

Usage: `python -m benchmarks core` (routes: CLINC150 K=10 first, 1,500 utterances).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from benchmarks.output import bar, show_progress

from benchmarks.data import clinc, labelled, select
from semantic_router import Route, RouteLayer


def run(n_texts: int = 200, n_vectors: int = 1000, quick: bool = False) -> dict[str, Any]:
    from semantic_router.encoders import HuggingFaceEncoder

    if quick:
        n_texts, n_vectors = 20, 100
    encoder = HuggingFaceEncoder(cache_size=100_000, show_progress=show_progress())
    routes = [Route(name=n, utterances=u) for n, u in select(clinc()["train"], 10).items()]
    texts, _ = labelled("test")
    out: dict[str, Any] = {"utterances": sum(len(r.utterances) for r in routes), "rules": {}}
    for t in texts[:10]:
        encoder.encode([t], "query")  # warm up
    vectors = encoder.encode(texts[:n_vectors], "query")
    enc_times = []
    for rule in bar(("knn", "classifier"), "core overhead"):
        rl = RouteLayer(encoder=encoder, routes=routes, rule=rule)
        rl(vector=vectors[0])
        # paired: the encoder alone, then the router on the same text with an empty query cache
        enc, router, hits = [], [], []
        for t in texts[1000:1000 + n_texts]:
            t0 = time.perf_counter()
            encoder.encode([t], "query")
            enc.append(time.perf_counter() - t0)
            encoder.clear_cache()
            t0 = time.perf_counter()
            rl(t)
            router.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rl(t)  # repeated: served from the query cache
            hits.append(time.perf_counter() - t0)
        enc_times += enc
        text_p50 = float(np.median(router) * 1e3)
        overhead = float(np.median(np.subtract(router, enc)) * 1e3)
        hit_p50 = float(np.median(hits) * 1e3)
        t0 = time.perf_counter()
        for v in vectors:
            rl(vector=v)
        singles = time.perf_counter() - t0
        t0 = time.perf_counter()
        rl.route_batch(vectors=vectors)
        batch = time.perf_counter() - t0
        batch_texts = texts[5000:5000 + 256] if len(texts) > 5256 else texts[-256:]
        encoder.clear_cache()
        t0 = time.perf_counter()
        rl.route_batch(batch_texts)
        batch_text_s = time.perf_counter() - t0
        out["rules"][rule] = {
            "text_in_p50_ms": round(text_p50, 3),
            "text_overhead_ms": round(overhead, 3),
            "cache_hit_p50_ms": round(hit_p50, 3),
            "single_vector_qps": round(n_vectors / singles),
            "batch_vector_qps": round(n_vectors / batch),
            "batch_speedup": round(singles / batch, 1),
            "single_text_qps": round(1e3 / text_p50, 1),
            "batch_text_qps": round(len(batch_texts) / batch_text_s, 1),
        }
    out["encoder_p50_ms"] = round(float(np.median(enc_times) * 1e3), 3)
    return out


def markdown(res: dict[str, Any]) -> str:
    lines = [f"Routes: CLINC150 K=10 first ({res['utterances']:,} utterances), LocalIndex, bundled model. "
             f"Encoder alone, p50 per uncached query: **{res['encoder_p50_ms']} ms**.", "",
             "| rule | text-in p50 ms | overhead over the encoder ms (median of paired differences) | cache hit p50 ms | "
             "1,000 single vector "
             "calls q/s | route_batch of 1,000 vectors q/s | batch speedup | texts single q/s | texts batched q/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for rule, r in res["rules"].items():
        lines.append(f"| {rule} | {r['text_in_p50_ms']} | {r['text_overhead_ms']} | {r['cache_hit_p50_ms']} | "
                     f"{r['single_vector_qps']} | {r['batch_vector_qps']} | {r['batch_speedup']}x | "
                     f"{r['single_text_qps']} | {r['batch_text_qps']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(markdown(run()))
