"""Hot reload on a real router: off-to-the-side build, atomic swap, in-flight requests keep their runtime,
invalid configs change nothing; PUT /admin/config under uvicorn, SIGHUP in process."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from semantic_router import RouteLayer
from semantic_router.server.operate.admin import AdminKey
from semantic_router.server.operate.reload import (
    LeaseMiddleware,
    Reloader,
    RuntimeHolder,
    admin_router,
    install_sighup,
)
from tests.gateway_prod.conftest import serving

ADMIN = "admin-9d1c"
V1 = {"routes": [{"name": "code", "utterances": ["write a python function", "fix this bug in my code"]}]}
V2 = {"routes": [{"name": "code", "utterances": ["write a python function", "fix this bug in my code"]},
                 {"name": "cooking", "utterances": ["how long do I boil an egg", "a recipe for pancakes"]}]}


class Built:
    """A runtime built from a router config: a real RouteLayer (utterances encoded at build time)."""

    def __init__(self, layer: RouteLayer) -> None:
        self.layer = layer
        self.closed = threading.Event()

    async def aclose(self) -> None:
        self.closed.set()


def builder(encoder, path: Path):
    def build(text: bytes | None) -> tuple[Built, bytes]:
        raw = path.read_bytes() if text is None else text
        data = yaml.safe_load(raw)
        if not isinstance(data, dict):
            raise TypeError(f"config must be a mapping, got {type(data).__name__}")
        return Built(RouteLayer.from_dict(data, encoder=encoder)), raw
    return build


def routes_of(holder: RuntimeHolder) -> list[str]:
    return sorted(holder.current.layer.list_route_names())


@pytest.fixture()
def config_file(tmp_path):
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump(V1))
    return path


async def test_reload_swaps_valid_configs_and_keeps_the_old_one_on_errors(encoder, config_file, caplog):
    build = builder(encoder, config_file)
    holder = RuntimeHolder(build(None)[0])
    reloader = Reloader(holder.swap, build)
    first = holder.current
    bad = await reloader.reload(b"routes: [{name: broken, utterances: not-a-list}]", "test")
    assert not bad.ok and "utterances" in bad.error and holder.current is first
    assert "rejected" in caplog.text
    assert not (await reloader.reload(b"- just a list", "test")).ok
    config_file.write_text(yaml.safe_dump(V2))
    good = await reloader.reload()
    assert good.ok and good.version == Reloader.version_of(config_file.read_bytes())
    assert routes_of(holder) == ["code", "cooking"]
    assert holder.current.layer("a recipe for pancakes please").name == "cooking"
    await holder.drained()
    assert first.closed.is_set() and not holder.current.closed.is_set()


async def test_in_flight_requests_finish_on_their_runtime(encoder, config_file):
    build = builder(encoder, config_file)
    holder = RuntimeHolder(build(None)[0])
    reloader = Reloader(holder.swap, build)
    first = holder.current
    async with holder.lease() as leased:
        assert (await reloader.reload(yaml.safe_dump(V2).encode())).ok
        await asyncio.sleep(0.05)
        assert leased is first and not first.closed.is_set()  # still serving its request
        assert leased.layer("a recipe for pancakes please").name != "cooking"
        assert holder.current.layer("a recipe for pancakes please").name == "cooking"
    await holder.drained()
    assert first.closed.is_set()


async def test_a_stuck_request_does_not_keep_the_old_runtime_open_forever(encoder, config_file):
    build = builder(encoder, config_file)
    holder = RuntimeHolder(build(None)[0], drain_seconds=0.2)
    first = holder.current
    async with holder.lease():
        holder.swap(build(yaml.safe_dump(V2).encode())[0])
        await asyncio.sleep(0.4)
        assert first.closed.is_set()


def gateway_like_app(encoder, config_file: Path, admin: AdminKey | None) -> tuple[FastAPI, RuntimeHolder]:
    """An app that routes with the leased runtime and streams its answer slowly."""
    build = builder(encoder, config_file)
    holder = RuntimeHolder(build(None)[0])
    reloader = Reloader(holder.swap, build)
    app = FastAPI()
    app.include_router(admin_router(reloader, admin))

    @app.get("/classify")
    async def classify(request: Request, q: str, chunks: int = 1) -> StreamingResponse:
        rt = request.state.runtime

        async def body():
            for _ in range(chunks):
                await asyncio.sleep(0.1)
                yield (",".join(sorted(rt.layer.list_route_names())) + "\n").encode()
            yield (str(rt.layer(q).name) + "\n").encode()

        return StreamingResponse(body(), media_type="text/plain")

    return LeaseMiddleware(app, holder), holder


def test_put_admin_config_over_http_while_a_stream_is_running(encoder, config_file):
    app, holder = gateway_like_app(encoder, config_file, AdminKey([ADMIN]))
    first = holder.current
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        with client.stream("GET", "/classify", params={"q": "a recipe for pancakes please", "chunks": 8}) as slow:
            lines = slow.iter_lines()
            assert next(lines) == "code"  # the stream has started on the first runtime
            assert client.put("/admin/config", content=yaml.safe_dump(V2)).status_code == 401
            assert client.put("/admin/config", content=yaml.safe_dump(V2),
                              headers={"Authorization": "Bearer wrong"}).status_code == 401
            r = client.put("/admin/config", content=yaml.safe_dump(V2), headers=auth)
            assert r.status_code == 200 and r.json()["status"] == "reloaded", r.text
            assert client.get("/classify", params={"q": "a recipe for pancakes please"}).text.split("\n")[:2] \
                == ["code,cooking", "cooking"]
            rest = list(lines)
            assert rest[:7] == ["code"] * 7 and rest[7] != "cooking"  # finished on the runtime it started with
        bad = client.put("/admin/config", content=b"routes: [{name: x}]", headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_config"
        assert "utterances" in bad.json()["error"]["message"]
        assert routes_of(holder) == ["code", "cooking"]
        state = client.get("/admin/config", headers=auth).json()
        assert state["last_reload"]["status"] == "rejected" and state["version"] == r.json()["version"]
        too_big = client.put("/admin/config", content=b"#" * (4 * 1024 * 1024 + 1), headers=auth)
        assert too_big.status_code == 413
    assert first.closed.wait(5)


def test_admin_endpoints_are_off_without_an_admin_key(encoder, config_file):
    app, holder = gateway_like_app(encoder, config_file, None)
    with serving(app) as url:
        r = httpx.put(url + "/admin/config", content=yaml.safe_dump(V2))
        assert r.status_code == 403 and "admin key" in r.text
        assert routes_of(holder) == ["code"]


async def test_sighup_reloads_the_file(encoder, config_file):
    build = builder(encoder, config_file)
    holder = RuntimeHolder(build(None)[0])
    reloader = Reloader(holder.swap, build)
    assert install_sighup(reloader)
    try:
        config_file.write_text(yaml.safe_dump(V2))
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(200):
            if reloader.last is not None:
                break
            await asyncio.sleep(0.05)
        assert reloader.last.ok and reloader.last.source == "SIGHUP"
        assert routes_of(holder) == ["code", "cooking"]
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


async def test_a_runtime_failing_its_check_is_closed_and_not_installed(encoder, config_file):
    build = builder(encoder, config_file)
    holder = RuntimeHolder(build(None)[0])
    first = holder.current
    built = []

    async def check(runtime):
        built.append(runtime)
        raise ValueError("warm-up failed")

    result = await Reloader(holder.swap, build, check).reload(yaml.safe_dump(V2).encode())
    assert not result.ok and result.error == "warm-up failed"
    assert holder.current is first and built[0].closed.is_set() and not first.closed.is_set()
