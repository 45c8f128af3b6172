"""Two real gateway processes (uvicorn subprocesses on loopback) on one redis-server: a route added through
one is routed by the other within its refresh interval, an answer cached through one is a hit through the
other, /stats adds an aggregate over both, each has its own Prometheus metrics, SIGHUP on one reloads both (one
shared config version)."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.redis_server import free_port
from tests.server.conftest import example_router

ADMIN = "replica-admin-key"
EGG = "how long should I boil an egg for a soft yolk"
BOOK = "recommend a good book for my holiday"
HAIKU = "write a haiku about the sea"
REPO = Path(__file__).resolve().parents[2]


def replica_config(fleet, redis_url: str, namespace: str) -> dict:
    cache = {"cache": {"backend": "redis", "redis_url": redis_url, "namespace": namespace,
                       "similarity_threshold": 0.9}}
    router = {**example_router(), "index": {"type": "redis", "url": redis_url, "name": namespace}}
    return {
        "server": {"admin_key_env": "SR_TEST_ADMIN"},
        "models": {"code-model": {"backends": [{"base_url": fleet.url("code_a")}]},
                   "general-model": {"backends": [{"base_url": fleet.url("general")}]},
                   "cooking-model": {"backends": [{"base_url": fleet.url("deep")}]}},
        "signals": {"routes": {"router": router, "auto_sync": "remote", "refresh_seconds": 0.5}},
        "decisions": [
            {"name": "code", "priority": 10, "rule": {"signal": "routes:code"}, "model": "code-model",
             "plugins": cache},
            {"name": "cooking", "priority": 10, "rule": {"signal": "routes:cooking"}, "model": "cooking-model"},
            {"name": "general", "priority": 0, "model": "general-model", "plugins": cache},
        ],
        "default_decision": "general",
        "cluster": {"redis_url": redis_url, "namespace": namespace, "publish_seconds": 0.5},
    }


class Replica:
    """`semantic-router serve CONFIG` in its own process."""

    def __init__(self, config: Path, name: str, tmp: Path) -> None:
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"replica-{name}.log"
        env = {**os.environ, "SR_TEST_ADMIN": ADMIN, "SR_REPLICA_ID": name, "HF_HUB_OFFLINE": "1",
               "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from semantic_router.cli import app; app()", "serve", str(config),
                 "--port", str(self.port), "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"replica {self.name} exited: {self.log.read_text()[-2000:]}"
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"replica {self.name} not ready: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def chat(self, prompt: str) -> httpx.Response:
        return httpx.post(self.url + "/v1/chat/completions", timeout=20,
                          json={"model": "auto", "messages": [{"role": "user", "content": prompt}]})

    def decision(self, prompt: str) -> str:
        return httpx.post(self.url + "/v1/route", json={"prompt": prompt}, timeout=20).json()["decision"]


def until(predicate, timeout: float, step: float = 0.05) -> float:
    """Seconds until `predicate()` held (fails after `timeout`)."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "condition not reached in time"
        time.sleep(step)
    return time.monotonic() - start


@pytest.fixture()
def replicas(fleet, redis_url, tmp_path) -> Iterator[tuple[Replica, Replica, Path, dict]]:
    config = replica_config(fleet, redis_url, f"rep{uuid.uuid4().hex[:8]}")
    path = tmp_path / "gateway.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML (and has no aliases)
    # started together: whichever syncs first publishes the routes (under the index lock), the other adopts them
    a, b = Replica(path, "A", tmp_path), Replica(path, "B", tmp_path)
    try:
        a.wait_ready()
        b.wait_ready()
        yield a, b, path, config
    finally:
        a.stop()
        b.stop()


def metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(want)}\}} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_two_replicas_share_routes_cache_and_stats(replicas, fresh):
    a, b, path, config = replicas
    assert b.decision(EGG) != "cooking"
    added = httpx.post(a.url + "/admin/routes", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30,
                       json={"name": "cooking", "utterances": ["how long do I boil an egg", "a recipe for pancakes",
                                                             "how do I roast a chicken", "what spices go in a curry"]})
    assert added.status_code == 201, added.text
    assert a.decision(EGG) == "cooking"
    waited = until(lambda: b.decision(EGG) == "cooking", timeout=10)
    assert waited < 0.5 + 3.0  # the refresh interval plus slack for a loaded machine
    assert b.chat(EGG).headers["x-router-model"] == "cooking-model"

    first = a.chat(BOOK)
    assert first.headers["x-router-cache"] == "miss" and first.headers["x-router-decision"] == "general"
    second = b.chat(BOOK)
    assert second.headers["x-router-cache"] == "hit"
    assert second.json()["choices"] == first.json()["choices"]
    assert len(fresh.backends["general"].requests) == 1

    def aggregate_total() -> int:
        return httpx.get(b.url + "/stats", timeout=10).json()["cluster"]["aggregate"]["total_requests"]

    until(lambda: aggregate_total() == 3, timeout=10)  # a: 1 request; b: 2 (one a cache hit)
    stats_a, stats_b = (httpx.get(r.url + "/stats", timeout=10).json() for r in (a, b))
    assert (stats_a["replica"], stats_b["replica"]) == ("A", "B")
    assert (stats_a["total_requests"], stats_b["total_requests"]) == (1, 2)
    assert stats_b["cluster"]["replicas"] == ["A", "B"]
    agg = stats_b["cluster"]["aggregate"]
    assert agg["decisions"] == {"general": 2, "cooking": 1} and agg["replicas"] == 2
    assert agg["cache"]["hits"] == 1 and agg["cache"]["hit_rate"] == 0.5
    metrics_a, metrics_b = (httpx.get(r.url + "/metrics", timeout=10).text for r in (a, b))
    assert metric(metrics_a, "router_cache_misses_total", decision="general", reason="not_found") == 1
    assert metric(metrics_a, "router_cache_hits_total", decision="general", kind="exact") == 0
    assert metric(metrics_b, "router_cache_hits_total", decision="general", kind="exact") == 1

    # SIGHUP reloads one replica from the file and publishes it (cluster.config_sync): the other applies it too
    changed = copy.deepcopy(config)
    changed["signals"]["keywords"] = [{"name": "poem", "words": ["haiku"]}]
    changed["decisions"].append({"name": "poetry", "priority": 30, "rule": {"signal": "keywords:poem"},
                                 "model": "general-model"})
    path.write_text(json.dumps(changed))
    a.proc.send_signal(signal.SIGHUP)
    until(lambda: a.decision(HAIKU) == "poetry", timeout=30, step=0.2)
    until(lambda: b.decision(HAIKU) == "poetry", timeout=30, step=0.2)
    health_a, health_b = (httpx.get(r.url + "/health", timeout=10).json()["config"] for r in (a, b))
    assert health_a["version"] == health_b["version"] == 1 and health_a["hash"] == health_b["hash"]
    assert a.decision(EGG) == "cooking"  # routes still come from the shared index after the reload
    assert a.proc.poll() is None and b.proc.poll() is None
