"""The AIBrix guide's flow through the ext_proc front door: its config (examples/vllm-sr/aibrix.yaml) served
unchanged, an Envoy stand-in sending the guide's requests as Envoy does and routing on `x-selected-model` to
stand-ins for qwen3-8b and llama3-8b-instruct; what each backend received is checked by the same
`expect_received` as the HTTP proxy's test (tests/server/test_vsr_guide.py)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("envoy.service.ext_proc.v3")

from semantic_router.server.config import parse_config  # noqa: E402
from semantic_router.server.demo import DemoBackend, run_in_thread  # noqa: E402
from semantic_router.server.extproc.service import ExtProcServer  # noqa: E402
from semantic_router.server.http import create_app  # noqa: E402
from semantic_router.server.runtime import Runtime  # noqa: E402
from tests.server.conftest import wait_ready  # noqa: E402
from tests.server.envoy_client import Envoy, Forwarded  # noqa: E402
from tests.server.test_vsr_guide import DOMAIN_SIGNAL, MODELS, NO_DOMAINS, keyword_only  # noqa: E402
from tests.server.vsr_guide import GUIDE_REQUESTS, GuideRequest, example_config, expect_received  # noqa: E402


class BehindEnvoy:
    """Their config served by one gateway app (HTTP proxy + ext_proc), its backends moved to loopback stand-ins,
    and an Envoy stand-in whose route table maps each model name to its stand-in."""

    def __init__(self, config: dict[str, Any], encoder: Any = None) -> None:
        self.backends = {name: DemoBackend(name=name) for name in MODELS}
        self.servers = [run_in_thread(b.app()) for b in self.backends.values()]
        config = copy.deepcopy(config)
        routes = {}
        for model, server in zip(MODELS, self.servers):
            entry = next(m for m in config["providers"]["models"] if m["name"] == model)
            entry["backend_refs"][0]["endpoint"] = f"127.0.0.1:{server.port}"
            routes[model] = f"{server.url}/v1"
        ext = ExtProcServer("127.0.0.1", 0)
        runtime = Runtime.build(parse_config(config, "aibrix.yaml"), encoder=encoder)
        self.gateway = run_in_thread(create_app(runtime, companions=[ext]))
        self.servers.append(self.gateway)
        wait_ready(self.gateway.url)
        self.envoy = Envoy(ext.port, routes)

    def chat(self, request: GuideRequest) -> tuple[Forwarded, dict[str, Any]]:
        """The request through Envoy; what Envoy did and the one request a backend received."""
        for b in self.backends.values():
            b.reset()
        out = self.envoy.chat(request.body)
        received = [{**rec} for b in self.backends.values() for rec in b.requests]
        assert len(received) == 1, received
        return out, received[0]

    def stop(self) -> None:
        self.envoy.close()
        for s in self.servers:
            s.stop()


@pytest.fixture(scope="module")
def keyword_envoy() -> Iterator[BehindEnvoy]:
    served = BehindEnvoy(keyword_only(example_config()))
    yield served
    served.stop()


def check(out: Forwarded, received: dict[str, Any], request: GuideRequest) -> None:
    assert out.status == 200 and out.immediate is None
    assert out.upstream_headers["x-selected-model"] == request.model  # Envoy's route table matched on it
    assert out.upstream_headers["x-router-decision"] in request.decisions
    assert received["backend"] == request.model  # the stand-in of that model received it
    expect_received(received, request)
    assert out.client_headers["x-router-model"] == request.model


def test_walk_me_through_goes_to_qwen3_with_reasoning_through_ext_proc(keyword_envoy):
    request = next(r for r in GUIDE_REQUESTS if r.name == "walk-me-through")
    check(*keyword_envoy.chat(request), request)


@pytest.mark.skipif(not DOMAIN_SIGNAL, reason=str(NO_DOMAINS))
@pytest.mark.slow  # the domain classifier loads the bundled model
def test_the_guides_three_requests_through_ext_proc(encoder):
    served = BehindEnvoy(example_config(), encoder)
    try:
        for request in GUIDE_REQUESTS:
            check(*served.chat(request), request)
    finally:
        served.stop()
