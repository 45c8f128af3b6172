"""Backends that fail are taken out and come back: passive outlier detection, half-open trials, growing
cooldowns, active health checks, the balancing strategies and a fallback that honours health, against real
stand-in backends (uvicorn on 127.0.0.1) that fail, recover, slow down and flap."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from semantic_router.server.act.health import BackendHealth, choose
from semantic_router.server.act.health_config import BalancingConfig, effective_balancing
from semantic_router.server.config import parse_config
from semantic_router.server.demo import DemoBackend, ThreadServer, run_in_thread
from semantic_router.server.http import create_app

from tests.server.conftest import wait_ready

pytestmark = pytest.mark.slow  # stand-in backends that fail, recover and wait out cooldowns


class Stand:
    """A stand-in backend on its own server."""

    def __init__(self, name: str) -> None:
        self.backend = DemoBackend(name=name)
        self.server: ThreadServer = run_in_thread(self.backend.app())

    @property
    def url(self) -> str:
        return self.server.url + "/v1"

    @property
    def hits(self) -> int:
        return len(self.backend.requests)


@pytest.fixture()
def stands() -> Iterator[dict[str, Stand]]:
    made = {n: Stand(n) for n in ("a", "b", "c")}
    yield made
    for s in made.values():
        s.server.stop()


def start(config: dict[str, Any]) -> tuple[str, ThreadServer]:
    server = run_in_thread(create_app(parse_config(config)))
    wait_ready(server.url)
    return server.url, server


@pytest.fixture()
def gateway_of() -> Iterator[Any]:
    servers: list[ThreadServer] = []

    def make(config: dict[str, Any]) -> str:
        url, server = start(config)
        servers.append(server)
        return url

    yield make
    for s in servers:
        s.stop()


def config(models: dict[str, Any], balancing: dict[str, Any], fallback: str | None = "f") -> dict[str, Any]:
    decision: dict[str, Any] = {"name": "all", "rule": {}, "model": "m"}
    if fallback:
        decision["fallback"] = fallback
    return {"models": models, "decisions": [decision], "default_decision": "all", "balancing": balancing}


def chat(url: str) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json={"model": "auto", "messages": [
        {"role": "user", "content": "hello"}]}, timeout=20)


def backend_stats(url: str, model: str, backend: Stand) -> dict[str, Any]:
    rows = httpx.get(url + "/stats").json()["backends"][model]
    return next(r for r in rows if r["url"] == backend.url)


OUTLIER = {"consecutive_failures": 3, "error_rate": None, "base_ejection_seconds": 3.0, "max_ejection_seconds": 12.0}


def metric_line(name: str, backend: Stand, value: float) -> str:
    return name + '{backend="' + backend.url + '",model="m"} ' + str(value)


def wait_until(when: float) -> None:
    time.sleep(max(0.0, when - time.time()) + 0.05)


@pytest.mark.slow
def test_ejection_cooldown_return_and_growing_cooldown(stands, gateway_of):
    a, c = stands["a"], stands["c"]
    url = gateway_of(config({"m": {"backends": [{"base_url": a.url}]}, "f": {"backends": [{"base_url": c.url}]}},
                            {"outlier": OUTLIER}))
    a.backend.fail(503, times=3)
    for i in range(3):  # each fails on a and is answered by the fallback model
        r = chat(url)
        assert r.status_code == 200 and r.headers["x-router-model"] == "f" and r.headers["x-router-fallback"] == "m"
        assert backend_stats(url, "m", a)["state"] == ("ejected" if i == 2 else "healthy")
    row = backend_stats(url, "m", a)
    assert row["failures"] == 3 and row["ejections"] == 1 and not row["healthy"] and row["cooldown_seconds"] == 3.0
    until = row["ejected_until"]
    sent = 0
    while time.time() < until - 1.0 and sent < 10:  # during the cooldown no request reaches a
        assert chat(url).headers["x-router-model"] == "f"
        sent += 1
    assert sent >= 1 and a.hits == 3
    metrics = httpx.get(url + "/metrics").text
    assert metric_line("router_backend_ejections_total", a, 1.0) in metrics
    assert metric_line("router_backend_healthy", a, 0.0) in metrics

    wait_until(until)  # cooldown over: half-open, the next request is the trial, and a answers it
    assert backend_stats(url, "m", a)["state"] == "half_open"
    r = chat(url)
    assert r.headers["x-router-model"] == "m" and a.hits == 4
    assert backend_stats(url, "m", a)["state"] == "healthy"
    assert metric_line("router_backend_healthy", a, 1.0) in httpx.get(url + "/metrics").text

    a.backend.fail(503, times=4)  # ejected again: the cooldown doubles
    for _ in range(3):
        chat(url)
    row = backend_stats(url, "m", a)
    assert row["ejections"] == 2 and row["cooldown_seconds"] == 6.0
    wait_until(row["ejected_until"] - 2.5)  # past the first cooldown's length, inside the second
    assert chat(url).headers["x-router-model"] == "f" and a.hits == 7
    wait_until(row["ejected_until"])
    r = chat(url)  # the trial fails (a 4th pending fault): ejected once more, for 12 s (the cap)
    assert r.headers["x-router-model"] == "f" and a.hits == 8
    row = backend_stats(url, "m", a)
    assert row["state"] == "ejected" and row["ejections"] == 3 and row["cooldown_seconds"] == 12.0


def test_every_backend_ejected_tries_the_least_recently_ejected(stands, gateway_of):
    a, c = stands["a"], stands["c"]
    url = gateway_of(config({"m": {"backends": [{"base_url": a.url}]}, "f": {"backends": [{"base_url": c.url}]}},
                            {"outlier": {**OUTLIER, "base_ejection_seconds": 30.0, "max_ejection_seconds": 60.0}}))
    a.backend.fail(503, times=3)
    for _ in range(3):
        chat(url)
    c.backend.fail(503, times=3)  # now the fallback fails too: each request tries c, then the last resort a
    for _ in range(3):
        r = chat(url)
        assert r.status_code == 200 and r.headers["x-router-model"] == "m"
    assert backend_stats(url, "f", c)["state"] == "ejected" and backend_stats(url, "m", a)["state"] == "ejected"
    hits = a.hits
    r = chat(url)  # both ejected: a was ejected first, so it gets the one try (and answers)
    assert r.status_code == 200 and r.headers["x-router-model"] == "m" and a.hits == hits + 1
    a.backend.fail(503, times=1)
    c_hits = c.hits
    r = chat(url)  # both ejected and the last resort fails: a clean 502, c never tried
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_http_5xx" and c.hits == c_hits


def test_flapping_backend_is_ejected_by_error_rate_not_by_consecutive_count(stands, gateway_of):
    a, b = stands["a"], stands["b"]
    outlier = {"consecutive_failures": 3, "error_rate": 0.4, "min_requests": 8, "window_seconds": 30.0,
               "base_ejection_seconds": 30.0, "max_ejection_seconds": 30.0}
    url = gateway_of(config({"m": {"backends": [{"base_url": a.url}]}, "f": {"backends": [{"base_url": b.url}]}},
                            {"outlier": outlier}))
    for i in range(7):  # fails every other request: never 3 in a row, 3 of 7 failed: not judged before 8
        if i % 2:
            a.backend.fail(503)
        chat(url)
        assert backend_stats(url, "m", a)["state"] == "healthy"
    a.backend.fail(503)
    chat(url)  # 4 of 8 failed >= 40%
    assert backend_stats(url, "m", a)["state"] == "ejected"
    hits = a.hits
    for _ in range(5):
        chat(url)
    assert a.hits == hits


@pytest.mark.slow
def test_least_outstanding_avoids_the_backend_with_requests_in_flight(stands, gateway_of):
    import concurrent.futures

    a, b = stands["a"], stands["b"]
    a.backend.stall(6.0, times=100)  # every request to a is held 6 s: it stays in flight
    url = gateway_of(config({"m": {"backends": [{"base_url": a.url}, {"base_url": b.url}], "timeout": 15.0}},
                            {"strategy": "least_outstanding"}, fallback=None))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        held = []
        while a.hits == 0 and len(held) < 8:  # with nothing in flight the two tie: a random one gets it
            held.append(pool.submit(chat, url))
            deadline = time.monotonic() + 2
            while a.hits == 0 and not held[-1].done() and time.monotonic() < deadline:
                time.sleep(0.01)
        assert a.hits == 1
        assert backend_stats(url, "m", a)["inflight"] == 1
        b_before = b.hits
        for _ in range(10):  # a has one in flight, b none: every new request goes to b (weighted: half to a)
            assert chat(url).status_code == 200
        assert a.hits == 1 and b.hits == b_before + 10
        assert all(f.result().status_code == 200 for f in held)
    assert backend_stats(url, "m", a)["inflight"] == 0 and backend_stats(url, "m", b)["inflight"] == 0


def test_a_streamed_answer_is_in_flight_until_its_stream_ends(stands, gateway_of):
    a = stands["a"]
    a.backend.delay = 0.2  # between chunks
    url = gateway_of(config({"m": {"backends": [{"base_url": a.url}]}}, {"strategy": "least_outstanding"},
                            fallback=None))
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "hello there"}]}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=20) as r:
        chunks = r.iter_bytes()
        next(chunks)  # the headers and a first event are here: the answer is still coming
        assert backend_stats(url, "m", a)["inflight"] == 1
        rest = b"".join(chunks)
    assert rest.endswith(b"data: [DONE]\n\n")
    deadline = time.monotonic() + 3  # released when the relay closes, just after the client read its end
    while backend_stats(url, "m", a)["inflight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert backend_stats(url, "m", a)["inflight"] == 0


def test_latency_strategy_prefers_the_fast_backend_and_notices_a_slowdown(stands, gateway_of):
    a, b = stands["a"], stands["b"]
    a.backend.latency = 0.4
    url = gateway_of(config({"m": {"backends": [{"base_url": a.url}, {"base_url": b.url}]}},
                            {"strategy": "latency", "latency_explore": 0.0, "latency_alpha": 0.5}, fallback=None))
    for _ in range(20):
        assert chat(url).status_code == 200
    assert a.hits == 1 and b.hits == 19  # each measured once, then always the faster one (no exploration)
    assert backend_stats(url, "m", a)["ewma_ms"] >= 400 > backend_stats(url, "m", b)["ewma_ms"]
    b.backend.latency = 1.0  # b slows down: one answer lifts its average past a's and a takes over
    for _ in range(6):
        chat(url)
    assert a.hits >= 4, (a.hits, b.hits)


def test_active_checks_eject_a_dead_backend_without_client_traffic(gateway_of):
    a, b = Stand("a"), Stand("b")
    check = {"path": "/models", "interval_seconds": 0.1, "timeout_seconds": 0.1, "unhealthy_threshold": 2}
    url = gateway_of(config({"m": {"backends": [{"base_url": a.url}, {"base_url": b.url}]}},
                            {"health_check": check, "outlier": {"base_ejection_seconds": 0.3,
                                                                "max_ejection_seconds": 0.3}}, fallback=None))
    try:
        time.sleep(0.5)
        assert backend_stats(url, "m", a)["state"] == "healthy"
        port = a.server.port
        a.server.stop()
        deadline = time.monotonic() + 5
        while backend_stats(url, "m", a)["state"] != "ejected" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backend_stats(url, "m", a)["state"] == "ejected"
        assert httpx.get(url + "/stats").json()["total_requests"] == 0  # no client traffic at all
        a.server = run_in_thread(a.backend.app(), port=port)  # back on the same port: a passing check restores it
        deadline = time.monotonic() + 5
        while backend_stats(url, "m", a)["state"] != "healthy" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backend_stats(url, "m", a)["state"] == "healthy" and a.hits == 0
    finally:
        a.server.stop()
        b.server.stop()


# -- the pieces, deterministic --------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_choose_orders_by_strategy_and_leaves_ejected_out():
    clock = Clock()
    policy = BalancingConfig(strategy="least_outstanding")
    hs = [BackendHealth("m", f"http://h{i}", policy, clock) for i in range(3)]
    hs[0].inflight, hs[1].inflight, hs[2].inflight = 3, 1, 2
    rng = random.Random(0)
    assert choose(hs, lambda h: h, lambda h: 1.0, policy, rng, clock.now) == [hs[1], hs[2], hs[0]]
    hs[1].eject()
    assert choose(hs, lambda h: h, lambda h: 1.0, policy, rng, clock.now) == [hs[2], hs[0]]
    latency = BalancingConfig(strategy="latency", latency_explore=0.0)
    hs[1].restore()
    for h, ms in zip(hs, (30.0, 10.0, 20.0)):
        h.inflight, h.ewma_ms = 0, ms
    assert choose(hs, lambda h: h, lambda h: 1.0, latency, rng, clock.now) == [hs[1], hs[2], hs[0]]


def test_repeat_ejections_are_forgotten_after_a_long_healthy_spell():
    clock = Clock()
    policy = BalancingConfig(outlier={"consecutive_failures": 1, "base_ejection_seconds": 1.0,
                                      "max_ejection_seconds": 8.0})
    h = BackendHealth("m", "http://h", policy, clock)
    cooldowns = []
    for _ in range(5):
        trial = h.begin()
        h.release()
        h.settle(False, None, trial)
        cooldowns.append(h.ejected_until - clock.now)
        clock.now = h.ejected_until
    assert cooldowns == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert h.state() == "half_open" and h.begin() and not h.available(clock.now)  # one trial at a time
    h.release()
    h.settle(True, 5.0, True)
    assert h.state() == "healthy"
    clock.now += 8.0  # healthy for max_ejection_seconds: the next ejection starts from the base again
    h.settle(False, None, h.begin())
    assert h.ejected_until - clock.now == 1.0


def test_model_balancing_overrides_only_the_fields_it_sets():
    cfg = parse_config(config({"m": {"backends": [{"base_url": "http://x/v1"}],
                                     "balancing": {"strategy": "latency"}},
                               "f": {"backends": [{"base_url": "http://y/v1"}]}},
                              {"strategy": "least_outstanding", "outlier": {"consecutive_failures": 2}}))
    m = effective_balancing(cfg.balancing, cfg.models["m"].balancing)
    f = effective_balancing(cfg.balancing, cfg.models["f"].balancing)
    assert (m.strategy, m.outlier.consecutive_failures) == ("latency", 2)
    assert (f.strategy, f.outlier.consecutive_failures) == ("least_outstanding", 2)


@pytest.mark.parametrize("bad, where", [
    ({"strategy": "fastest"}, "balancing.strategy"),
    ({"outlier": {"base_ejection_seconds": 10, "max_ejection_seconds": 5}}, "max_ejection_seconds"),
    ({"health_check": {"path": "models"}}, "balancing.health_check.path"),
    ({"health_check": {"interval_seconds": 1, "timeout_seconds": 5}}, "timeout_seconds"),
    ({"outlier": {"consecutive_failures": 0}}, "balancing.outlier.consecutive_failures"),
])
def test_bad_balancing_settings_are_refused_naming_the_field(bad, where):
    from semantic_router.errors import ConfigError

    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        parse_config(config({"m": {"backends": [{"base_url": "http://x/v1"}]}}, bad, fallback=None))
