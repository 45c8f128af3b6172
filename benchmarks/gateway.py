"""Gateway benchmark: the latency the routing gateway adds, its throughput and memory, against a bare proxy.

Every server runs in its own process (backend, bare FastAPI + httpx pass-through proxy, gateways); the load
generator (httpx, asyncio) runs here. Added latency = percentile through a server minus the same percentile
straight to the backend, measured in the same run. Scenarios: the default encoder (HuggingFace MiniLM) and
FastEmbed (ONNX) on distinct queries (encoder included) and on repeated ones (the query cache: encoder
excluded), and micro-batching switched off (one encoder call per request) at concurrency 32.

    python -m benchmarks.gateway [--out DIR] [--quick] [--doc docs/benchmarks.md]

Results go to DIR (default benchmarks/.cache/gateway/, git-ignored); --doc also rewrites the "gateway"
section of that Markdown file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.output import update_section, write_atomic, write_json

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / ".cache" / "gateway"
EXAMPLE = ROOT / "examples" / "gateway" / "config.yaml"
TOPICS = ["write a python function that {}", "solve this math problem: {}", "recommend something about {}",
          "fix the bug in my javascript code that {}", "what is the probability that {}"]
FILLERS = ["sorts a list of numbers", "two dice show the same face", "a quiet holiday by the sea",
           "handles dates and time zones", "a coin lands heads five times in a row", "parses a CSV file"]


# -- server roles (each runs in its own process) ----------------------------------------------------------
def bare_proxy_app(upstream: str) -> Any:
    """FastAPI + httpx pass-through: the reference a gateway is compared with (no parsing, no routing)."""
    import httpx
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
                               timeout=60, trust_env=False)
    app = FastAPI()

    async def proxy(request: Request) -> Response:
        r = await client.post(f"{upstream}/chat/completions", content=await request.body(),
                              headers={"content-type": "application/json"})
        return Response(r.content, r.status_code, media_type=r.headers.get("content-type"))

    app.router.add_route("/v1/chat/completions", proxy, methods=["POST"])  # plain Starlette: no annotations

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _serve_role(role: str, port: int, upstream: str | None) -> None:
    import uvicorn

    if role == "backend":
        from semantic_router.server.demo import DemoBackend

        app = DemoBackend(name="bench").app()

        @app.get("/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}
    else:
        app = bare_proxy_app(upstream or "")
    # keep-alive longer than the load generator's (2 s): a connection is never closed under a request in flight
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_keep_alive=75)


# -- process management ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A server subprocess on a loopback port; `rss_mb()` reads its resident memory from /proc."""

    def __init__(self, args: list[str], port: int, ready_path: str, timeout: float = 300.0) -> None:
        import httpx

        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{args} exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + ready_path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{args} did not become ready")

    def rss_mb(self) -> dict[str, float]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {k: round(int(fields[k].split()[0]) / 1024, 1) for k in ("VmRSS", "VmHWM")}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _role(role: str, upstream: str | None = None) -> Proc:
    port = _free_port()
    args = ["-m", "benchmarks.gateway", "--role", role, "--port", str(port)]
    return Proc(args + (["--upstream", upstream] if upstream else []), port, "/health")


def _gateway(backend: str, out: Path, name: str, encoder: dict[str, Any] | None, window_ms: float) -> Proc:
    import yaml

    from semantic_router.server.config import load_config

    cfg = load_config(EXAMPLE).model_dump(mode="json", by_alias=True)  # base_dir is the loader's, not dumped
    router = dict(cfg["signals"]["routes"]["router"])
    if encoder is not None:
        router["encoder"] = encoder
    cfg["signals"]["routes"]["router"] = router
    for model in cfg["models"].values():
        model["backends"] = [{"base_url": backend + "/v1", "weight": 1.0, "api_key_env": None}]
    cfg["server"]["batch_window_ms"] = window_ms
    cfg["sessions"]["enabled"] = False
    path = write_atomic(out / f"gateway-{name}.yaml", yaml.safe_dump(cfg, sort_keys=False))
    port = _free_port()
    cli = "import sys; from semantic_router.cli import app; sys.argv[0] = 'semantic-router'; app()"
    return Proc(["-c", cli, "serve", str(path), "--port", str(port), "--log-level", "warning"], port, "/ready")


# -- load -----------------------------------------------------------------------------------------------
def prompts(salt: str, n: int, distinct: bool) -> list[str]:
    if not distinct:
        base = [t.format(f) for t in TOPICS for f in FILLERS]
        return [base[i % len(base)] for i in range(n)]
    return [f"{TOPICS[i % len(TOPICS)].format(FILLERS[i % len(FILLERS)])} (case {salt}-{i})" for i in range(n)]


async def load(url: str, texts: list[str], concurrency: int) -> dict[str, Any]:
    """POST one chat completion per text with `concurrency` clients: latencies (s), elapsed (s), errors."""
    import httpx

    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in texts:
        queue.put_nowait(p)
    # idle connections dropped after 2 s, before any server's keep-alive (uvicorn's default is 5 s) closes them
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=60, limits=limits, trust_env=False) as client:
        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                prompt = queue.get_nowait()
                start = time.perf_counter()
                try:
                    r = await client.post(url + "/v1/chat/completions", json={
                        "model": "auto", "messages": [{"role": "user", "content": prompt}]})
                except httpx.TransportError:  # counted, not fatal: the run's error count says how many
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - start)
                errors += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"latencies": latencies, "elapsed": elapsed, "errors": errors}


def summary(runs: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """p50/p99 over every latency of the runs and req/s = requests / total elapsed time."""
    ms = 1000 * np.asarray([x for r in runs for x in r["latencies"]])
    elapsed = sum(r["elapsed"] for r in runs)
    return {"n": len(ms), "concurrency": concurrency, "errors": sum(r["errors"] for r in runs),
            "rps": round(len(ms) / elapsed, 1), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def encoder_single_ms(kind: str, n: int = 60) -> float:
    """Median time of one single-query encoder call (no cache), in this process."""
    from semantic_router.encoders import FastEmbedEncoder, HuggingFaceEncoder

    enc = HuggingFaceEncoder() if kind == "huggingface" else FastEmbedEncoder()
    enc.encode(["warm up"])
    times = []
    for i in range(n):
        start = time.perf_counter()
        enc.encode([f"write a python function that sorts a list ({i})"], "query")
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 3)


GATEWAYS = (("huggingface", None, 2.0), ("fastembed", {"type": "fastembed"}, 2.0),
            ("huggingface-no-batching", None, 0.0))


def run(out: Path, quick: bool = False, rounds: int = 5, log: Any = print) -> dict[str, Any]:
    """Start every server, then measure all scenarios in interleaved rounds, so a noisy neighbour on the
    machine slows them all alike instead of skewing one."""
    n1, n32, rounds = (30, 128, 1) if quick else (300, 1280, rounds)
    out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"cpus": os.cpu_count(), "n_c1": n1, "n_c32": n32, "rounds": rounds,
                           "load_average_before": os.getloadavg()[0]}
    log("encoder single-query time")
    res["encoder_ms"] = {k: encoder_single_ms(k, 10 if quick else 60) for k in ("huggingface", "fastembed")}
    procs: list[Proc] = []
    try:
        backend = _role("backend")
        procs.append(backend)
        procs.append(_role("proxy", backend.url + "/v1"))
        targets: dict[str, str] = {"direct": backend.url, "bare_proxy": procs[1].url}
        gateways: dict[str, Proc] = {}
        for name, encoder, window in GATEWAYS:
            log(f"starting gateway: {name}")
            gateways[name] = _gateway(backend.url, out, name, encoder, window)
            procs.append(gateways[name])
        # (result key, url, distinct prompts?, concurrency levels)
        plan = [("direct", targets["direct"], False, (1, 32)), ("bare_proxy", targets["bare_proxy"], False, (1, 32))]
        for name, _, window in GATEWAYS:
            if window:
                plan.append((f"gateway_{name}.cached", gateways[name].url, False, (1, 32)))
            plan.append((f"gateway_{name}.uncached", gateways[name].url, True, (1, 32) if window else (32,)))
        for _, url, _, _ in plan:  # warm connections and caches (repeated prompts are cached from here on)
            asyncio.run(load(url, prompts("", 30, False), 4))
        raw: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for r in range(rounds):
            log(f"round {r + 1}/{rounds}")
            for key, url, distinct, levels in plan:
                for c in levels:
                    n = (n1 if c == 1 else n32) // rounds
                    run_ = asyncio.run(load(url, prompts(f"{key}{c}r{r}", n, distinct), c))
                    if run_["errors"]:
                        raise RuntimeError(f"{key} c={c}: {run_['errors']} requests failed")
                    raw.setdefault((key, c), []).append(run_)
        for (key, c), runs in raw.items():
            entry, _, sub = key.partition(".")
            node = res.setdefault(entry, {})
            node = node.setdefault(sub, {}) if sub else node
            node[f"c{c}"] = summary(runs, c)
            log(f"  {key} c={c}: {node[f'c{c}']}")
        import httpx

        for name, gw in gateways.items():
            res[f"gateway_{name}"]["rss_mb"] = gw.rss_mb()
            res[f"gateway_{name}"]["classifier"] = httpx.get(gw.url + "/stats").json().get("classifier")
        res["load_average_after"] = os.getloadavg()[0]
    finally:
        for proc in reversed(procs):
            proc.stop()
    save(res, out)
    return res


def save(res: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """gateway.json and gateway.md in `out`, each written atomically."""
    return write_json(out / "gateway.json", res), write_atomic(out / "gateway.md", markdown(res))


def markdown(res: dict[str, Any]) -> str:
    d = res["direct"]

    def added(x: dict[str, Any], c: str, p: str) -> str:
        return f"{x[c][p] - d[c][p]:.2f}"

    rows = ["| path | added p50 c=1 (ms) | added p99 c=1 (ms) | added p50 c=32 (ms) | added p99 c=32 (ms) "
            "| req/s c=32 | RSS (MB) |", "|---|---|---|---|---|---|---|"]

    def row(label: str, x: dict[str, Any], rss: str = "") -> None:
        c1 = [added(x, "c1", "p50_ms"), added(x, "c1", "p99_ms")] if "c1" in x else ["-", "-"]
        rows.append(f"| {label} | {' | '.join(c1)} | {added(x, 'c32', 'p50_ms')} | {added(x, 'c32', 'p99_ms')} "
                    f"| {x['c32']['rps']} | {rss} |")

    rows.append(f"| direct to backend (baseline: p50 {d['c1']['p50_ms']:.2f} ms c=1) | 0 | 0 | 0 | 0 "
                f"| {d['c32']['rps']} | |")
    row("bare FastAPI + httpx proxy", res["bare_proxy"])
    for name in ("huggingface", "fastembed"):
        g = res[f"gateway_{name}"]
        rss = f"{g['rss_mb']['VmRSS']} (peak {g['rss_mb']['VmHWM']})"
        row(f"gateway, {name}, cached query (encoder excluded)", g["cached"], rss)
        row(f"gateway, {name}, distinct queries (encoder included)", g["uncached"], rss)
    nb = res["gateway_huggingface-no-batching"]
    row("gateway, huggingface, distinct queries, no micro-batching", nb["uncached"], f"{nb['rss_mb']['VmRSS']}")
    proxy = res["bare_proxy"]
    hf = res["gateway_huggingface"]
    calls = {k: (v or {}).get("classifier") or {} for k, v in res.items() if k.startswith("gateway_")}
    per_call = {k.removeprefix("gateway_"): c["items"] / c["batches"] for k, c in calls.items() if c.get("batches")}
    cached_gap = hf["cached"]["c1"]["p50_ms"] - proxy["c1"]["p50_ms"]
    enc_gap = hf["uncached"]["c1"]["p50_ms"] - proxy["c1"]["p50_ms"]
    ratio_cached = hf["cached"]["c32"]["rps"] / proxy["c32"]["rps"]
    batching = hf["uncached"]["c32"]["rps"] / nb["uncached"]["c32"]["rps"]
    enc = res["encoder_ms"]
    lines = [
        f"{res['cpus']} CPUs shared by the backend, the proxy/gateways and the load generator (load average "
        f"{res.get('load_average_before', 0):.1f} before the run, {res.get('load_average_after', 0):.1f} after); "
        f"{res['n_c1']} requests at concurrency 1 and {res['n_c32']} at 32 per path, in {res.get('rounds', 1)} "
        f"interleaved rounds. Encoder single-query time: HuggingFace {enc['huggingface']:.2f} ms, "
        f"FastEmbed {enc['fastembed']:.2f} ms. Requests per encoder call over the whole run: "
        + (", ".join(f"{k} {v:.1f}" for k, v in per_call.items()) or "-") + ".", "", *rows, "",
        "| target | measured | met |", "|---|---|---|",
        f"| cached query: p50 within 1 ms of the bare proxy's (c=1) | {cached_gap:+.2f} ms | "
        f"{'yes' if cached_gap <= 1 else 'no'} |",
        f"| cached query: req/s at c=32 >= 80% of the bare proxy's | {100 * ratio_cached:.0f}% | "
        f"{'yes' if ratio_cached >= 0.8 else 'no'} |",
        f"| with encoding: p50 within encoder time + 1 ms of the bare proxy's (c=1) | {enc_gap:+.2f} ms vs "
        f"{enc['huggingface'] + 1:.2f} ms | {'yes' if enc_gap <= enc['huggingface'] + 1 else 'no'} |",
        f"| micro-batching raises req/s at c=32 >= 2x over one encoder call per request | {batching:.2f}x | "
        f"{'yes' if batching >= 2 else 'no'} |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="results folder (default: benchmarks/.cache/gateway)")
    parser.add_argument("--quick", action="store_true", help="few requests (a smoke run)")
    parser.add_argument("--doc", type=Path, default=None, help="also rewrite the gateway section of this file")
    parser.add_argument("--role", choices=["backend", "proxy"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:
        _serve_role(args.role, args.port, args.upstream)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    res = run(args.out, args.quick, log=lambda m: print(m, flush=True))
    text = markdown(res)
    print(text)
    if args.doc is not None:
        update_section(args.doc, "gateway", "Command: `python -m benchmarks.gateway`\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
