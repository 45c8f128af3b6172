"""`semantic-router serve CONFIG --ext-proc-port P` in a subprocess: ext_proc beside the HTTP proxy (the MoM
example's three documented request shapes through both front doors) or instead of it (`--no-http`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("envoy.service.ext_proc.v3")

from semantic_router.cli import app  # noqa: E402
from tests.server.envoy_client import Envoy  # noqa: E402
from tests.server.test_gateway_demo import MOM, _free_ports  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"virtual_models": ["MoM"],
            "models": {"reasoner": {"backends": [{"base_url": "http://127.0.0.1:1/v1"}],
                                    "reasoning_family": "chat_template_kwargs"},
                       "general": {"backends": [{"base_url": "http://127.0.0.1:2/v1"}]}},
            "signals": {"keywords": [{"name": "think", "words": ["walk me through"]}]},
            "decisions": [{"name": "forced-reasoning", "rule": {"signal": "keywords:think"}, "model": "reasoner",
                           "reasoning": "on"},
                          {"name": "rest", "rule": {}, "model": "general"}],
            "default_decision": "rest"}


def test_no_http_needs_an_ext_proc_port(tmp_path):
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(KEYWORDS))
    out = CliRunner().invoke(app, ["serve", str(path), "--no-http"])
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--ext-proc-port" in lines[0], out.output


@contextlib.contextmanager
def serving(config: dict[str, Any], tmp_path: Path, *flags: str) -> Iterator[tuple[int, int, dict[str, str]]]:
    """The config with its backends moved to free ports, served with --demo-backends and `flags`; yields the
    HTTP port, the ext_proc port (ready) and {model: backend URL} (Envoy's route table). SIGTERM stops it:
    exit status 0 (uvicorn, once it shut down gracefully, raises the signal again: -15 with HTTP)."""
    cfg = yaml.safe_load(yaml.safe_dump(config))
    http_port, ext_port, *ports = _free_ports(2 + len(cfg["models"]))
    routes = {}
    for (name, model), port in zip(cfg["models"].items(), ports):
        model["backends"] = [{"base_url": f"http://127.0.0.1:{port}/v1"}]
        routes[name] = f"http://127.0.0.1:{port}/v1"
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cli = "import sys; from semantic_router.cli import app; sys.argv[0] = 'semantic-router'; app()"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", cli, "serve", str(path), "--port", str(http_port),
                             "--ext-proc-port", str(ext_port), "--demo-backends", "--log-level", "warning", *flags],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{ext_port}")
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            try:
                grpc.channel_ready_future(channel).result(timeout=0.5)
                break
            except grpc.FutureTimeoutError:
                assert time.monotonic() < deadline, "ext_proc never listened"
        channel.close()
        yield http_port, ext_port, routes
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == (0 if "--no-http" in flags else -signal.SIGTERM), proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]


def ask(envoy: Envoy, text: str, system: str | None = None) -> Any:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return envoy.chat({"model": "MoM", "messages": messages, "max_tokens": 200})


@pytest.mark.slow  # a gateway process (the bundled model loads) and its demo backends
def test_the_three_documented_request_shapes_through_ext_proc_beside_http(tmp_path):
    config = yaml.safe_load(MOM.read_text())
    with serving(config, tmp_path) as (http_port, ext_port, routes):
        envoy = Envoy(ext_port, routes)
        try:
            math = ask(envoy, "Solve this equation: what is the derivative of x^3 + 2x?", "You are helpful.")
            market = ask(envoy, "What are the key factors to consider when entering a new market?")
            walk = ask(envoy, "Walk me through how to structure a business merger proposal.")
        finally:
            envoy.close()
        assert (math.upstream_headers["x-selected-model"], math.upstream_headers["x-router-decision"]) == \
            ("reasoner", "stem")
        assert math.upstream_body["chat_template_kwargs"] == {"enable_thinking": True}
        assert (market.upstream_headers["x-selected-model"], market.upstream_headers["x-router-decision"]) == \
            ("general", "everything-else")
        assert market.upstream_body["chat_template_kwargs"] == {"enable_thinking": False}
        assert (walk.upstream_headers["x-selected-model"], walk.upstream_headers["x-router-decision"]) == \
            ("reasoner", "forced-reasoning")
        assert walk.upstream_body["chat_template_kwargs"] == {"enable_thinking": True}
        for out, model in ((math, "reasoner"), (market, "general"), (walk, "reasoner")):
            assert out.status == 200 and out.json()["echo"]["model"] == model  # the routed stand-in answered
        # the HTTP proxy of the same process decides alike, and its stats count both doors' requests
        r = httpx.post(f"http://127.0.0.1:{http_port}/v1/chat/completions", timeout=30, json={
            "model": "MoM", "messages": [{"role": "user", "content": "Walk me through a merger."}]})
        assert r.headers["x-router-decision"] == "forced-reasoning"
        metrics = httpx.get(f"http://127.0.0.1:{http_port}/metrics", timeout=10).text
        assert 'router_extproc_streams_total{outcome="forwarded"} 3.0' in metrics
        assert 'router_requests_total{decision="forced-reasoning",model="reasoner"} 2.0' in metrics


@pytest.mark.slow  # a gateway process and its demo backends
def test_no_http_serves_ext_proc_alone_and_stops_on_sigterm(tmp_path):
    with serving(KEYWORDS, tmp_path, "--no-http") as (http_port, ext_port, routes):
        envoy = Envoy(ext_port, routes)
        try:
            out = ask(envoy, "Walk me through a merger.")
        finally:
            envoy.close()
        assert out.upstream_headers["x-selected-model"] == "reasoner" and out.status == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{http_port}/health", timeout=2)
