"""Gateway in production: what the response cache saves and what a hot reload costs.

Run: `python -m benchmarks.gateway_prod [--out DIR] [--doc docs/benchmarks.md] [--quick]` (JSON results go to
DIR, default the git-ignored benchmarks/.cache/results/; the Markdown section is written only with --doc).

- latency: one client, one request at a time, through the gateway (uvicorn in a thread, the example config's
  code/math/general routes on the bundled model, a stand-in backend answering at once): a forwarded request
  (cache bypassed with its header), an exact hit and a semantic hit (a paraphrase), on the memory and the
  Redis store. A real model takes 0.3-30 s to answer; the stand-in takes ~1 ms, so "forwarded" is a floor.
- hit rate: CLINC150 in-scope test queries (150 intents x 30) replayed in a seeded random order through one
  decision's semantic cache (memory store, vectors precomputed: encoder excluded). A miss stores an answer
  labelled with its intent; a hit is *correct* when the answer it returns has the query's intent. Per
  similarity threshold: hit rate and the share of hits that were correct.
- reload: `PUT /admin/config` on a running gateway (encoder reused, routes re-encoded) for the example config
  (31 utterances) and a CLINC150 config (150 routes x 10 utterances), while one client keeps sending
  requests: reload time, requests answered during it, their worst latency.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "gateway" / "config.yaml"
ADMIN = "bench-admin-key"
PARAPHRASES = [  # (stored, asked later): paraphrase pairs of the example's three routes
    ("write a python function to reverse a linked list", "write a function in python that reverses a linked list"),
    ("what is the derivative of x squared times sin x", "what's the derivative of x^2 times sin(x)"),
    ("recommend a good book to read this summer", "recommend a good book for this summer"),
]


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3),
            "mean": round(float(a.mean()), 3), "n": len(ms)}


def gateway_config(backend_url: str, cache: dict[str, Any] | None, router: dict[str, Any]) -> dict[str, Any]:
    """The example gateway with every model on one stand-in backend and (optionally) a cache on each decision."""
    from semantic_router.server.config import load_config

    example = load_config(EXAMPLE)
    decisions = []
    for d in example.decisions:
        plain = d.model_dump(by_alias=True, exclude_none=True, exclude={"plugins"})
        plain["rule"] = d.rule.model_dump(by_alias=True, exclude_none=True)
        if cache is not None:
            plain["plugins"] = {"cache": cache}
        decisions.append(plain)
    return {"server": {"admin_key_env": "SR_BENCH_ADMIN"},
            "models": {name: {"backends": [{"base_url": backend_url}]} for name in example.models},
            "signals": {"routes": {"router": router}}, "decisions": decisions,
            "default_decision": example.default_decision, "sessions": {"enabled": False}}


@contextlib.contextmanager
def running_gateway(config: dict[str, Any]) -> Iterator[Any]:
    from semantic_router.server.http import create_app
    from semantic_router.server.config import parse_config
    from semantic_router.server.demo import run_in_thread

    os.environ["SR_BENCH_ADMIN"] = ADMIN
    app = create_app(parse_config(config))
    server = run_in_thread(app)
    server.gateway = app.state.gateway  # its Stats: the server-side latency of every answer
    try:
        import httpx

        deadline = time.monotonic() + 120
        while httpx.get(server.url + "/ready").status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("gateway not ready")
            time.sleep(0.05)
        yield server
    finally:
        server.stop()


def _timed(client: Any, url: str, prompt: str, headers: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    r = client.post(url, json={"model": "auto", "messages": [{"role": "user", "content": prompt}]},
                    headers=headers or {})
    ms = (time.perf_counter() - start) * 1e3
    r.raise_for_status()
    return ms, r.headers.get("x-router-cache", "")


def latency(backend_url: str, router: dict[str, Any], store: dict[str, Any], n: int) -> dict[str, Any]:
    """p50/p99 of forwarded requests, exact hits and semantic hits through one gateway."""
    import httpx

    cache = {"mode": "exact_then_semantic", "similarity_threshold": 0.85, **store}
    out: dict[str, Any] = {}
    with running_gateway(gateway_config(backend_url, cache, router)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        url = "/v1/chat/completions"
        for stored, _ in PARAPHRASES:
            _timed(client, url, stored)  # miss: stored
        for _ in range(20):  # warm up connections and code paths
            _timed(client, url, PARAPHRASES[0][0])
        phases = (("forwarded (cache bypassed)", 0, {"x-router-cache-bypass": "1"}, "bypass"),
                  ("exact hit", 0, None, "hit"), ("semantic hit", 1, None, "hit"))
        for kind, which, headers, expected in phases:
            server.gateway.stats.latencies.clear()
            client_ms = []
            for i in range(n):
                ms, state = _timed(client, url, PARAPHRASES[i % len(PARAPHRASES)][which], headers)
                assert state == expected, (kind, state)
                client_ms.append(ms)
            out[kind] = {"client": percentiles(client_ms), "server": percentiles(list(server.gateway.stats.latencies))}
    return out


def hit_rate(thresholds: tuple[float, ...], per_intent: int | None, seed: int = 0) -> dict[str, Any]:
    """Replay CLINC150 test queries through a semantic cache; hit rate and correct-hit share per threshold."""
    import asyncio

    from prometheus_client import CollectorRegistry

    from benchmarks import data as bd
    from semantic_router.server.act.cache import (
        Bypass,
        CacheConfig,
        CacheMetrics,
        MemoryBackend,
        ResponseCache,
    )

    d = bd.clinc()
    by_intent: dict[str, list[str]] = {}
    for text, intent in d["test"]:
        by_intent.setdefault(intent, []).append(text)
    items = [(" ".join(t.split()), i) for i, texts in by_intent.items() for t in texts[:per_intent]]  # as keyed
    order = np.random.default_rng(seed).permutation(len(items))
    items = [items[k] for k in order]
    enc = bd.bundled_encoder()
    enc.warm([t for t, _ in items])
    vectors = {t: v for t, v in zip([t for t, _ in items], enc.encode([t for t, _ in items], "query"))}

    async def embed(texts: list[str]) -> np.ndarray:
        return np.stack([vectors[t] for t in texts])

    async def replay(threshold: float) -> dict[str, Any]:
        config = CacheConfig(mode="semantic", similarity_threshold=threshold, max_entries=100_000)
        cache = ResponseCache("bench", config, MemoryBackend(100_000), CacheMetrics(CollectorRegistry()), embed)
        hits = correct = 0
        for text, intent in items:
            req = cache.request({"messages": [{"role": "user", "content": text}]}, "m", "anonymous")
            assert not isinstance(req, Bypass)
            found = await cache.lookup(req)
            if found.status == "hit":
                hits += 1
                correct += found.answer["intent"] == intent
            else:
                await cache.store(req, {"intent": intent, "choices": []})
        return {"threshold": threshold, "queries": len(items), "hits": hits,
                "hit_rate": round(hits / len(items), 4), "correct_hits": round(correct / hits, 4) if hits else None,
                "entries": len(cache.backend)}

    return {"dataset": "CLINC150 test (in scope)", "intents": len(by_intent),
            "rows": [asyncio.run(replay(t)) for t in thresholds]}


def clinc_router(example_router: dict[str, Any], per_route: int) -> dict[str, Any]:
    from benchmarks import data as bd

    routes = bd.select(bd.clinc()["train"], per_route)
    return {**example_router, "routes": list(example_router["routes"]) +
            [{"name": r, "utterances": u} for r, u in routes.items()]}


def _traffic(url: str, stop: threading.Event, out: list[float]) -> None:
    """One client sending requests until `stop`; latencies (ms) appended to `out`."""
    import httpx

    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            out.append(_timed(client, "/v1/chat/completions", "what is 17 percent of 240")[0])


def reload_cost(backend_url: str, router: dict[str, Any], per_route: int) -> list[dict[str, Any]]:
    """Time of PUT /admin/config while a client keeps sending requests."""
    import httpx

    config = gateway_config(backend_url, None, router)
    rows = []
    with running_gateway(config) as server:
        for name, new_router in (("example (3 routes, 31 utterances)", router),
                                 (f"example + CLINC150 (153 routes, 31 + 150 x {per_route} utterances)",
                                  clinc_router(router, per_route))):
            new = copy.deepcopy(config)
            new["signals"]["routes"]["router"] = new_router
            stop = threading.Event()
            during: list[float] = []

            worker = threading.Thread(target=_traffic, args=(server.url, stop, during))
            worker.start()
            time.sleep(0.5)
            before = len(during)
            start = time.perf_counter()
            r = httpx.put(server.url + "/admin/config", content=json.dumps(new), timeout=600,
                          headers={"Authorization": f"Bearer {ADMIN}"})
            wall = (time.perf_counter() - start) * 1e3
            stop.set()
            worker.join()
            r.raise_for_status()
            answered = during[before:]
            rows.append({"config": name, "reload_ms": round(wall, 1), "server_ms": r.json()["ms"],
                         "requests_during": len(answered),
                         "worst_ms_during": round(max(answered), 1) if answered else None,
                         "p50_ms_before": percentiles(during[:before])["p50"] if before else None})
    return rows


def markdown(res: dict[str, Any], command: str) -> str:
    lines = [f"Command: `{command}` ({res['machine']}).", "",
             ("**Cache hit vs forwarded request** (one client, sequential; the stand-in backend answers in ~1 ms, "
              "a real model in seconds, so a hit saves the model's whole answer time on top of what is shown). "
              "*Server*: request start to answer inside the gateway (classification included); *client*: the "
              "whole HTTP round trip."), "",
             "| store | request | server p50 ms | server p99 ms | client p50 ms | client p99 ms |",
             "|---|---|---|---|---|---|"]
    for store, kinds in res["latency"].items():
        for kind, p in kinds.items():
            sv, cl = p["server"], p["client"]
            lines.append(f"| {store} | {kind} | {sv['p50']:.2f} | {sv['p99']:.2f} | {cl['p50']:.2f} | "
                         f"{cl['p99']:.2f} |")
    hr = res["hit_rate"]
    lines += ["", (f"**Hit rate on a replay of paraphrased queries** ({hr['dataset']}: {hr['rows'][0]['queries']} "
                   f"queries of {hr['intents']} intents in random order; a miss stores an answer, encoder "
                   "excluded). *Correct hits*: the answer served came from a query of the same intent."), "",
              "| similarity threshold | hit rate | correct hits | entries stored |", "|---|---|---|---|"]
    for row in hr["rows"]:
        lines.append(f"| {row['threshold']:.2f} | {row['hit_rate']:.1%} | "
                     f"{'-' if row['correct_hits'] is None else format(row['correct_hits'], '.1%')} | "
                     f"{row['entries']} |")
    lines += ["", ("**Cost of a reload** (`PUT /admin/config` with routes re-encoded and the loaded encoder "
                   "reused, while one client keeps sending requests):"), "",
              "| new config | reload ms | requests answered during it | worst latency during (ms) | p50 before (ms) |",
              "|---|---|---|---|---|"]
    for row in res["reload"]:
        lines.append(f"| {row['config']} | {row['reload_ms']:.0f} | {row['requests_during']} | "
                     f"{row['worst_ms_during']} | {row['p50_ms_before']} |")
    return "\n".join(lines) + "\n"


def run(quick: bool = False, log: Any = print) -> dict[str, Any]:
    from semantic_router.server.config import load_config
    from semantic_router.server.demo import DemoBackend, run_in_thread
    from tests.redis_server import RedisServer

    router = dict(load_config(EXAMPLE).signals.routes.router)
    backend = run_in_thread(DemoBackend(name="bench").app())
    n = 30 if quick else 300
    res: dict[str, Any] = {"machine": f"{os.cpu_count()} cores, gateway, backend and client in one process"}
    try:
        url = backend.url + "/v1"
        log("latency: memory store")
        res["latency"] = {"memory": latency(url, router, {"backend": "memory"}, n)}
        log("latency: redis store")
        with RedisServer() as redis:
            res["latency"]["redis"] = latency(url, router, {"backend": "redis", "redis_url": redis.url}, n)
        log("hit rate: CLINC150 replay")
        res["hit_rate"] = hit_rate((0.80, 0.85, 0.90, 0.95), 5 if quick else None)
        log("reload cost")
        res["reload"] = reload_cost(url, router, 2 if quick else 10)
    finally:
        backend.stop()
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway_prod", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / ".cache" / "results",
                        help="directory for the JSON results (default: the git-ignored benchmarks/.cache/results)")
    parser.add_argument("--doc", type=Path, default=None,
                        help="also write the Markdown section into this file (e.g. docs/benchmarks.md)")
    parser.add_argument("--quick", action="store_true", help="a small run (for smoke tests)")
    args = parser.parse_args(argv)
    from benchmarks.output import update_section, write_json

    res = run(quick=args.quick)
    name = "gateway-prod" + ("-quick" if args.quick else "")
    print(f"wrote {write_json(args.out / f'{name}.json', res)}")
    if args.doc is not None:
        command = "python -m benchmarks.gateway_prod" + (" --quick" if args.quick else "") + " --doc " + str(args.doc)
        update_section(args.doc, name, markdown(res, command))
        print(f"updated {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
