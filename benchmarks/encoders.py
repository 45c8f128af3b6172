"""Micro benchmark: FastEmbedEncoder (ONNX Runtime) vs HuggingFaceEncoder (torch) on the bundled model.

Measures what routing pays per decision: p50/p95 latency of encoding one query (the LRU cache is
bypassed), and throughput on batches of 32 (what adding utterances pays). Both encoders run the
same bundled all-MiniLM-L6-v2 on CPU with their default thread settings. Usage:

    python benchmarks/encoders.py        # prints a Markdown table
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SUBJECTS = ["the weather", "my invoice", "the president", "a refund", "my password", "the train schedule",
            "a table for two", "the football score", "my order #{n}", "the nearest pharmacy"]
FRAMES = ["what's up with {s}?", "tell me about {s}", "can you help me with {s} please",
          "I have a question about {s} and {s2}", "{s}", "is there any news on {s} today or tomorrow?"]


def make_texts(n: int, offset: int = 0) -> list[str]:
    """`n` distinct, varied short texts (distinct so no layer of caching can help)."""
    out = []
    for i in range(offset, offset + n):
        s = SUBJECTS[i % len(SUBJECTS)].format(n=i)
        s2 = SUBJECTS[(i * 7 + 3) % len(SUBJECTS)].format(n=i + 1)
        out.append(FRAMES[(i // len(SUBJECTS)) % len(FRAMES)].format(s=s, s2=s2) + f" (#{i})")
    return out


def _warm(encoder: Any) -> None:
    for text in make_texts(20, offset=10_000):  # sessions, allocators, thread pools
        encoder.encode([text], "query")
    encoder.encode(make_texts(32, offset=20_000))


def _summary(single: list[float], batch: list[float], batch_size: int) -> dict[str, float]:
    single = sorted(single)
    return {
        "single_p50_ms": statistics.median(single) * 1e3,
        "single_p95_ms": single[int(0.95 * (len(single) - 1))] * 1e3,
        "batch32_ms_per_batch": statistics.median(batch) * 1e3,
        "batch32_texts_per_s": batch_size * len(batch) / sum(batch),
    }


def run(singles: int = 200, batches: int = 20, batch_size: int = 32) -> dict[str, Any]:
    """Benchmark both encoders; returns {"setup": ..., "results": {encoder: metrics}}.

    The encoders take turns on every query and batch, so load from other processes on the
    machine hits both alike instead of skewing whichever ran during a busy spell.
    """
    from semantic_router.encoders import FastEmbedEncoder, HuggingFaceEncoder

    queries = make_texts(singles)
    batch_texts = make_texts(batches * batch_size, offset=singles)
    chunks = [batch_texts[i : i + batch_size] for i in range(0, len(batch_texts), batch_size)]
    encoders: dict[str, Any] = {}
    load: dict[str, float] = {}
    for name, factory in (("FastEmbedEncoder", FastEmbedEncoder), ("HuggingFaceEncoder", HuggingFaceEncoder)):
        start = time.perf_counter()
        encoders[name] = factory()
        encoders[name].encode(["load"])  # FastEmbed: loads (on the very first run: exports) the ONNX model
        load[name] = time.perf_counter() - start
        _warm(encoders[name])
    single: dict[str, list[float]] = {name: [] for name in encoders}
    batch: dict[str, list[float]] = {name: [] for name in encoders}
    rounds = [([q] for q in queries), iter(chunks)]
    for texts_list, times, kind in zip(rounds, (single, batch), ("query", "document")):
        for texts in texts_list:
            for name, encoder in encoders.items():
                start = time.perf_counter()
                encoder.encode(texts, kind)
                times[name].append(time.perf_counter() - start)
    results = {name: {"load_s": load[name], **_summary(single[name], batch[name], batch_size)} for name in encoders}
    setup = {"model": "sentence-transformers/all-MiniLM-L6-v2 (bundled)", "singles": singles,
             "batches": batches, "batch_size": batch_size, "cpus": os.cpu_count(),
             "python": platform.python_version(), "machine": platform.machine()}
    return {"setup": setup, "results": results}


def markdown(report: dict[str, Any]) -> str:
    setup = report["setup"]
    lines = [
        f"Bundled all-MiniLM-L6-v2, CPU x{setup['cpus']}; {setup['singles']} single queries, "
        f"{setup['batches']} batches of {setup['batch_size']}.",
        "",
        "| encoder | load (s) | single p50 (ms) | single p95 (ms) | batch-32 p50 (ms) | batch-32 (texts/s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in report["results"].items():
        lines.append(f"| {name} | {m['load_s']:.2f} | {m['single_p50_ms']:.2f} | {m['single_p95_ms']:.2f} | "
                     f"{m['batch32_ms_per_batch']:.1f} | {m['batch32_texts_per_s']:.0f} |")
    fast, hf = (report["results"][k] for k in ("FastEmbedEncoder", "HuggingFaceEncoder"))
    lines += ["", f"FastEmbed vs HuggingFace: single-query p50 x{hf['single_p50_ms'] / fast['single_p50_ms']:.2f} "
                  f"faster, batch throughput x{fast['batch32_texts_per_s'] / hf['batch32_texts_per_s']:.2f}."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run()))
