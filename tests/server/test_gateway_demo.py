"""The shipped gateway examples end to end: `semantic-router serve EXAMPLE --demo-backends` in a subprocess."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import yaml

from tests.processes import wait_ready_process
from tests.server.conftest import EXAMPLE

pytestmark = pytest.mark.slow  # starts the gateway and demo backends as processes

ROOT = Path(__file__).resolve().parents[2]
MOM = ROOT / "examples" / "gateway" / "mom.yaml"


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@contextlib.contextmanager
def demo_gateway(example: Path, tmp_path: Path, config: dict | None = None) -> Iterator[str]:
    """`semantic-router serve EXAMPLE --demo-backends` in a subprocess, on free ports (each backend's moved, the
    config otherwise as shipped, or as `config` says); yields the gateway's URL once /ready says so. Native
    configs and the vLLM Semantic Router's format (`providers.models[].backend_refs[].endpoint`) both work."""
    cfg = config if config is not None else yaml.safe_load(example.read_text())
    if "providers" in cfg:
        slots = [(b, "endpoint") for m in cfg["providers"]["models"] for b in m["backend_refs"]]
        place = "127.0.0.1:{port}"
    else:
        slots = [(b, "base_url") for m in cfg["models"].values() for b in m["backends"]]
        place = "http://127.0.0.1:{port}/v1"
    backends = sorted({b[key] for b, key in slots})
    gw_port, *backend_ports = _free_ports(1 + len(backends))
    moved = {addr: place.format(port=port) for addr, port in zip(backends, backend_ports)}
    for b, key in slots:
        b[key] = moved[b[key]]
    path = tmp_path / example.name
    path.write_text(yaml.safe_dump(cfg))
    cli = "import sys; from semantic_router.cli import app; sys.argv[0] = 'semantic-router'; app()"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", cli, "serve", str(path), "--port", str(gw_port),
                             "--demo-backends", "--log-level", "warning"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{gw_port}"
    try:
        wait_ready_process(proc, url, 120, lambda: proc.stderr.read().decode())
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def ask(url: str, model: str, prompt: str) -> httpx.Response:
    r = httpx.post(url + "/v1/chat/completions", timeout=30, json={
        "model": model, "messages": [{"role": "user", "content": prompt}]})
    assert r.status_code == 200, r.text
    return r


def test_serve_with_demo_backends_sends_three_prompts_to_three_models(tmp_path):
    with demo_gateway(EXAMPLE, tmp_path) as url:
        answers = {}
        for prompt in ("write a python function to merge two sorted lists", "what is the integral of x squared",
                       "recommend a good book to read"):
            r = ask(url, "auto", prompt)
            answers[r.headers["x-router-model"]] = r.json()
        assert set(answers) == {"code-model", "math-model", "general-model"}
        for model, body in answers.items():
            assert body["echo"]["model"] == model and body["echo"]["backend"] == model  # its own demo backend
        assert answers["math-model"]["echo"]["chat_template_kwargs"] == {"enable_thinking": True}
        stats = httpx.get(url + "/stats").json()
        assert stats["total_requests"] == 3 and stats["models"] == {m: 1 for m in answers}
        assert_idle_connection_outlives_client_keep_alive(url)


def assert_idle_connection_outlives_client_keep_alive(url: str) -> None:
    """`serve` keeps an idle connection open longer than clients do (httpx and the OpenAI SDK: 5 s). With
    uvicorn's default (also 5 s) the server closed connections clients were about to reuse: ReadError under load."""
    conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request("GET", "/health")
        first = conn.getresponse()
        assert first.status == 200 and json.loads(first.read())["status"] == "ok"
        sock = conn.sock
        time.sleep(6.5)  # idle past a 5 s keep-alive
        conn.request("GET", "/health")  # RemoteDisconnected before the fix: the server had closed it
        second = conn.getresponse()
        assert second.status == 200 and json.loads(second.read())["status"] == "ok" and conn.sock is sock  # same connection
    finally:
        conn.close()


def test_the_mom_example_serves_as_the_guide_says(tmp_path):
    """examples/gateway/mom.yaml (the guide's "MoM" scenario, included in docs/gateway.md from the file): STEM and
    "walk me through" go to the reasoner with thinking on, the rest to the general model with thinking off."""
    cases = {"explain how photosynthesis works in plants": ("stem", "reasoner", True),
             "walk me through filing my taxes": ("forced-reasoning", "reasoner", True),
             "what's a good name for a cat": ("everything-else", "general", False)}
    with demo_gateway(MOM, tmp_path) as url:
        for prompt, (decision, model, thinking) in cases.items():
            r = ask(url, "MoM", prompt)
            assert (r.headers["x-router-decision"], r.headers["x-router-model"]) == (decision, model), prompt
            echo = r.json()["echo"]
            assert echo["backend"] == model and echo["chat_template_kwargs"] == {"enable_thinking": thinking}


def test_demo_backend_connections_send_without_nagle_delay():
    """The thread server's accepted connections have TCP_NODELAY: with Nagle on, each response on a kept-alive
    connection waited ~40 ms for the client's delayed ACK (the demo backends and every test emulator)."""
    from semantic_router.server.demo import DemoBackend, run_in_thread

    server = run_in_thread(DemoBackend(name="nagle", models=("m",)).app())
    try:
        with httpx.Client() as client:  # keeps its connection open, so the server's side of it can be read
            for _ in range(2):
                assert client.get(server.url + "/v1/models").json()["data"] == [{"id": "m", "object": "model"}]
            (connection,) = server.server.server_state.connections
            sock = connection.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server.stop()
