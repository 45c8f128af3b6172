"""Gateway fixtures: stand-in backends and one gateway (real uvicorn on 127.0.0.1) shared by the module tests.

The router is the example config's code/math/general routes on the session's bundled MiniLM, behind a
counting encoder so tests can prove how many encoder calls a load made.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semantic_router import RouteLayer
from semantic_router.encoders import DenseEncoder

pytest.importorskip("fastapi")  # the [server] extra; the dev extra installs it

from semantic_router.server.config import load_config, parse_config
from semantic_router.server.demo import DemoBackend, ThreadServer, run_in_thread

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway" / "config.yaml"
UPSTREAM_SECRET = "sk-upstream-SECRET-7f3a9c"
GATEWAY_KEY = "gw-key-0123456789"


class CountingEncoder(DenseEncoder):
    """A real encoder behind a counter of model calls; optionally held at a gate (slow model start)."""

    type = "counting"

    def __init__(self, inner: DenseEncoder, cache_size: int = 4096, gate: threading.Event | None = None) -> None:
        super().__init__(cache_size=cache_size)
        self.inner = inner
        self.name = inner.name
        self.score_threshold = inner.score_threshold
        self.model_calls = 0
        self.gate = gate
        self._count_lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def _encode(self, texts: list[str], input_type: Any) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait(30)
        with self._count_lock:
            self.model_calls += 1
        return self.inner.encode(texts, input_type)


def example_router() -> dict[str, Any]:
    return dict(load_config(EXAMPLE).signals.routes.router)


def make_layer(encoder: DenseEncoder) -> RouteLayer:
    return RouteLayer.from_dict(example_router(), encoder=encoder)


@dataclass
class Fleet:
    backends: dict[str, DemoBackend]
    servers: dict[str, ThreadServer]

    def url(self, name: str) -> str:
        return self.servers[name].url + "/v1"

    def reset(self) -> None:
        for b in self.backends.values():
            b.reset()
            b.delay = 0.0

    def total(self) -> int:
        return sum(len(b.requests) for b in self.backends.values())


BACKENDS = ("code_a", "code_b", "math", "general", "deep", "o")


@pytest.fixture(scope="session")
def fleet() -> Iterator[Fleet]:
    backends = {n: DemoBackend(name=n) for n in BACKENDS}
    servers = {n: run_in_thread(b.app()) for n, b in backends.items()}
    yield Fleet(backends, servers)
    for s in servers.values():
        s.stop()


def gateway_config(fleet: Fleet, **server: Any) -> dict[str, Any]:
    """The test gateway: five models (one with two backends), keyword/context/route signals, six decisions."""
    return {
        "server": {"max_body_bytes": 65536, **server},
        "virtual_models": ["auto", "MoM"],
        "models": {
            "code-model": {"backends": [{"base_url": fleet.url("code_a")}, {"base_url": fleet.url("code_b")}],
                           "timeout": 15.0},
            "math-model": {"backends": [{"base_url": fleet.url("math")}], "reasoning_family": "chat_template_kwargs",
                           "timeout": 15.0},
            "general-model": {"backends": [{"base_url": fleet.url("general")}], "timeout": 15.0},
            "deep-model": {"backends": [{"base_url": fleet.url("deep")}], "reasoning_family": "thinking"},
            "o-model": {"backends": [{"base_url": fleet.url("o"), "api_key_env": "GW_TEST_UPSTREAM_KEY"}],
                        "reasoning_family": "reasoning_effort"},
        },
        "signals": {
            "routes": {"router": {"routes": []}},  # the layer is passed in (shared encoder)
            "keywords": [{"name": "think", "words": ["think step by step", "walk me through"]}],
            "context": [{"name": "long", "min_tokens": 2000}],
        },
        "decisions": [
            {"name": "reasoning", "priority": 20, "rule": {"signal": "keywords:think"}, "model": "deep-model",
             "reasoning": "on"},
            {"name": "long", "priority": 15, "rule": {"and": [{"signal": "context:long"},
                                                              {"not": {"signal": "routes:code"}}]},
             "model": "o-model", "reasoning": "on", "reasoning_effort": "high"},
            {"name": "code", "priority": 10, "rule": {"signal": "routes:code"}, "model": "code-model",
             "system_prompt": {"content": "You are a coding assistant.", "mode": "insert"},
             "fallback": "general-model"},
            {"name": "math", "priority": 10, "rule": {"signal": "routes:math"}, "model": "math-model",
             "reasoning": "on", "system_prompt": {"content": "Be rigorous.", "mode": "replace"},
             "fallback": "general-model"},
            {"name": "general", "priority": 0, "rule": {}, "model": "general-model",
             "plugins": {"response_headers": {"headers": {"x-demo-plugin": "general"}}}},
        ],
        "default_decision": "general",
    }


@pytest.fixture(scope="session")
def counting_encoder(encoder) -> CountingEncoder:
    return CountingEncoder(encoder)


@pytest.fixture(scope="session")
def layer(counting_encoder) -> RouteLayer:
    return make_layer(counting_encoder)


@dataclass
class Gateway:
    url: str
    app: Any
    server: ThreadServer

    @property
    def state(self) -> Any:
        return self.app.state.gateway


def start_gateway(config: dict[str, Any], layer: RouteLayer, **kwargs: Any) -> Gateway:
    from semantic_router.server.http import create_app
    from semantic_router.server.runtime import Runtime

    runtime = Runtime.build(parse_config(config), layer=layer, **kwargs)
    app = create_app(runtime)
    server = run_in_thread(app)
    gw = Gateway(server.url, app, server)
    wait_ready(gw.url)
    return gw


def wait_ready(url: str, timeout: float = 60.0) -> None:
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(url + "/ready").status_code == 200:
            return
        time.sleep(0.02)
    raise RuntimeError("gateway never became ready")


@pytest.fixture(scope="session")
def gateway(fleet, layer) -> Iterator[Gateway]:
    mp = pytest.MonkeyPatch()
    mp.setenv("GW_TEST_UPSTREAM_KEY", UPSTREAM_SECRET)
    gw = start_gateway(gateway_config(fleet), layer)
    yield gw
    gw.server.stop()
    mp.undo()


@pytest.fixture()
def fresh(fleet) -> Iterator[Fleet]:
    """The fleet with empty request logs and no pending faults."""
    fleet.reset()
    yield fleet
    fleet.reset()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def error_logs() -> Iterator[list[logging.LogRecord]]:
    """ERROR records of the gateway's and uvicorn's loggers while the block runs. Enter it after every server
    of the test started: uvicorn's logging config replaces the handlers of its loggers at each start."""
    handler = _Collect()
    loggers = [logging.getLogger(n) for n in ("semantic_router", "uvicorn")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield handler.records
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


def openai_error(r: Any) -> dict[str, Any]:
    """The `error` object of an OpenAI-shaped error answer (asserts the shape)."""
    body = r.json()
    assert set(body) >= {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return body["error"]
