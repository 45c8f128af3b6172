"""The gateway benchmark's pieces: the bare pass-through proxy, the load generator and the report."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks import gateway as bench
from semantic_router.server.demo import DemoBackend, run_in_thread


def test_bare_proxy_and_load_generator_against_a_backend():
    backend = DemoBackend(name="b")
    b = run_in_thread(backend.app())
    proxy = run_in_thread(bench.bare_proxy_app(b.url + "/v1"))
    try:
        runs = [asyncio.run(bench.load(proxy.url, bench.prompts(f"t{r}", 12, distinct=True), 4)) for r in range(2)]
        result = bench.summary(runs, 4)
        assert result["n"] == 24 and result["errors"] == 0
        assert result["rps"] == pytest.approx(24 / (runs[0]["elapsed"] + runs[1]["elapsed"]), rel=0.01)
        assert result["p99_ms"] >= result["p50_ms"] > 0
        assert len(backend.requests) == 24 and len({r["messages"][0]["content"] for r in backend.requests}) == 24
    finally:
        proxy.stop()
        b.stop()


def test_report_subtracts_the_direct_baseline_and_checks_the_targets():
    def lat(p50, p99, rps):
        return {"p50_ms": p50, "p99_ms": p99, "rps": rps}

    def both(c1, c32):
        return {"c1": lat(*c1), "c32": lat(*c32)}

    res = {"cpus": 2, "n_c1": 10, "n_c32": 20, "encoder_ms": {"huggingface": 10.0, "fastembed": 5.0},
           "direct": both((1.0, 2.0, 0), (10.0, 20.0, 300.0)),
           "bare_proxy": both((3.0, 5.0, 0), (20.0, 40.0, 200.0)),
           "gateway_huggingface": {"cached": both((3.5, 6.0, 0), (22.0, 44.0, 170.0)),
                                   "uncached": both((14.5, 20.0, 0), (50.0, 90.0, 90.0)),
                                   "rss_mb": {"VmRSS": 700.0, "VmHWM": 720.0}},
           "gateway_fastembed": {"cached": both((3.4, 6.0, 0), (21.0, 44.0, 180.0)),
                                 "uncached": both((9.0, 20.0, 0), (40.0, 90.0, 100.0)),
                                 "rss_mb": {"VmRSS": 300.0, "VmHWM": 320.0}},
           "gateway_huggingface-no-batching": {"uncached": {"c32": lat(200.0, 400.0, 30.0)},
                                               "rss_mb": {"VmRSS": 690.0, "VmHWM": 700.0}}}
    text = bench.markdown(res)
    assert "| bare FastAPI + httpx proxy | 2.00 | 3.00 | 10.00 | 20.00 | 200.0 |" in text
    assert "| +0.50 ms | yes |" in text  # cached p50 3.5 vs proxy 3.0
    assert "| 85% | yes |" in text  # 170 / 200 req/s
    assert "+11.50 ms vs 11.00 ms | no |" in text  # 14.5 - 3.0 > encoder 10 + 1
    assert "| 3.00x | yes |" in text  # 90 / 30 req/s with vs without micro-batching
