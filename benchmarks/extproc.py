"""ext_proc benchmark: what the Envoy external processor adds to a request, against the HTTP proxy, in one run.

One process: a stand-in backend and ONE gateway app serving both front doors (uvicorn threads on loopback, the
router of examples/gateway/config.yaml on the bundled model), and the clients here, one request at a time. Per
request, in interleaved rounds:

- direct: the chat request straight to the backend;
- HTTP proxy: the same request through the gateway (added = its percentile minus direct's);
- ext_proc: an Envoy stand-in (tests/server/envoy_client.py) sends the four BUFFERED messages (request headers,
  request body -> the decision and the mutations, response headers, response body) around the same backend call;
  added = the time spent in those four exchanges;
- gRPC hop: one headers-only exchange of a request the processor passes through (no parsing, no decision).

The decision's own cost per front door is the gateway's `router_routing_seconds` (mean) while that door served.
Queries repeat (the encoder's query cache answers), so the encoder's 15-35 ms does not drown the difference.

    python -m benchmarks extproc [--out DIR] [--quick]
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "gateway" / "config.yaml"
PROMPTS = ["write a python function that reverses a linked list", "solve the equation 2x + 7 = 19 for x",
           "recommend a good book for my holiday"]


def _config(backend: str) -> dict[str, Any]:
    from semantic_router.server.config import load_config

    router = dict(load_config(EXAMPLE).signals.routes.router or {})
    model = {"backends": [{"base_url": backend}], "reasoning_family": "chat_template_kwargs"}
    return {"virtual_models": ["auto"], "models": {"code-model": model, "math-model": model, "general-model": model},
            "signals": {"routes": {"router": router}},
            "decisions": [{"name": "code", "priority": 10, "rule": {"signal": "routes:code"}, "model": "code-model",
                           "system_prompt": {"content": "You are a coding assistant."}},
                          {"name": "math", "priority": 10, "rule": {"signal": "routes:math"}, "model": "math-model",
                           "reasoning": "on"},
                          {"name": "general", "rule": {}, "model": "general-model"}],
            "default_decision": "general", "server": {"batch_window_ms": 0}}


def _pct(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p90": round(float(np.percentile(a, 90)), 3),
            "p99": round(float(np.percentile(a, 99)), 3), "n": len(values)}


def _routing(gw: Any) -> tuple[float, float]:
    r = gw.metrics.registry
    return (r.get_sample_value("router_routing_seconds_sum") or 0.0,
            r.get_sample_value("router_routing_seconds_count") or 0.0)


def run(quick: bool = False, rounds: int = 5, log: Any = print) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import httpx

    from semantic_router.server.config import parse_config
    from semantic_router.server.demo import DemoBackend, run_in_thread
    from semantic_router.server.extproc.service import ExtProcServer
    from semantic_router.server.http import create_app
    from semantic_router.server.runtime import Runtime
    from tests.server.envoy_client import Envoy, request_headers

    backend = run_in_thread(DemoBackend(name="backend").app())
    base = backend.url + "/v1"
    runtime = Runtime.build(parse_config(_config(base)))
    ext = ExtProcServer("127.0.0.1", 0)
    app = create_app(runtime, companions=[ext])
    server = run_in_thread(app)
    gw = app.state.gateway
    client = httpx.Client(timeout=30)
    deadline = time.monotonic() + 120
    while client.get(server.url + "/ready").status_code != 200:
        assert time.monotonic() < deadline, "the gateway never got ready"
        time.sleep(0.05)
    envoy = Envoy(ext.port, {m: base for m in ("code-model", "math-model", "general-model")})
    per_round = 20 if quick else 60
    times: dict[str, list[float]] = {"direct": [], "http": [], "ext_proc": [], "hop": []}
    steps: list[list[float]] = [[], [], [], []]  # per message: request headers, request body, response h., b.
    decide: dict[str, list[float]] = {"http": [0.0, 0.0], "ext_proc": [0.0, 0.0]}
    bodies = [json.dumps({"model": "auto", "messages": [{"role": "user", "content": p}]}).encode() for p in PROMPTS]
    try:
        for body in bodies:  # warm: each prompt's vector lands in the encoder's query cache
            client.post(server.url + "/v1/chat/completions", content=body)
            envoy.chat(json.loads(body))
        for r in range(rounds):
            log(f"extproc: round {r + 1}/{rounds}")
            for i in range(per_round):
                body = bodies[i % len(bodies)]
                t = time.perf_counter()
                client.post(base + "/chat/completions", content=body)
                times["direct"].append((time.perf_counter() - t) * 1e3)
                before = _routing(gw)
                t = time.perf_counter()
                assert client.post(server.url + "/v1/chat/completions", content=body).status_code == 200
                times["http"].append((time.perf_counter() - t) * 1e3)
                after = _routing(gw)
                decide["http"] = [decide["http"][0] + after[0] - before[0], decide["http"][1] + after[1] - before[1]]
                before = after
                out = envoy.chat(json.loads(body))
                assert out.status == 200
                times["ext_proc"].append(sum(out.exchange_ms))
                for step, ms in zip(steps, out.exchange_ms):
                    step.append(ms)
                after = _routing(gw)
                decide["ext_proc"] = [decide["ext_proc"][0] + after[0] - before[0],
                                      decide["ext_proc"][1] + after[1] - before[1]]
                stream = envoy.stream()
                t = time.perf_counter()
                stream.send(request_headers(None, path="/health", method="GET"))
                times["hop"].append((time.perf_counter() - t) * 1e3)
                stream.close()
    finally:
        envoy.close()
        client.close()
        server.stop()
        backend.stop()
    res: dict[str, Any] = {name: _pct(v) for name, v in times.items()}
    res["ext_proc_steps_p50_ms"] = [_pct(step)["p50"] for step in steps]
    res["http_added_p50_ms"] = round(res["http"]["p50"] - res["direct"]["p50"], 3)
    res["decision_mean_ms"] = {door: round(s / n * 1e3, 3) if n else None for door, (s, n) in decide.items()}
    res["rounds"], res["per_round"], res["cpus"] = rounds, per_round, os.cpu_count()
    return res


def markdown(res: dict[str, Any]) -> str:
    d = res["decision_mean_ms"]
    rows = [("straight to the backend", res["direct"], "-"),
            ("through the HTTP proxy", res["http"], f"{res['http_added_p50_ms']:.3f} (minus direct)"),
            ("ext_proc: the 4 BUFFERED exchanges", res["ext_proc"], f"{res['ext_proc']['p50']:.3f} (all of it)"),
            ("ext_proc: one pass-through exchange (the gRPC hop)", res["hop"], "-")]
    lines = ["| path | p50 ms | p90 ms | p99 ms | added at p50, ms |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {p['p50']:.3f} | {p['p90']:.3f} | {p['p99']:.3f} | {added} |" for name, p, added in rows]
    return ("\n".join(lines) + f"\n\nThe decision (signals and rules, the encoder's cached query included) costs "
            f"{d['http']:.3f} ms (HTTP proxy) and {d['ext_proc']:.3f} ms (ext_proc) on average: the same code. "
            f"The four ext_proc exchanges at p50 (request headers, request body with the decision, response "
            f"headers, response body): {', '.join(f'{v:.3f}' for v in res['ext_proc_steps_p50_ms'])} ms. "
            f"{res['rounds']} interleaved rounds of {res['per_round']} requests per path, one at a time, on "
            f"{res['cpus']} CPUs shared with other work.\n")
