"""Lifecycle: close()/aclose(), `with` and `async with` close what the router opened; warmup()."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from semantic_router import Route, RouteLayer
from semantic_router.index.local import LocalIndex
from semantic_router.index.redis import RedisIndex
from tests.test_snapshots import WordHashEncoder

ROOT = Path(__file__).resolve().parent.parent
ROUTES = [Route(name="greet", utterances=["hello there", "good morning"])]


class Recording(LocalIndex):
    """A LocalIndex that records which of its clients were closed."""

    def __init__(self) -> None:
        super().__init__()
        self.closed: list[str] = []

    def close(self) -> None:
        self.closed.append("close")

    async def aclose(self) -> None:
        self.closed.append("aclose")


def _refresh_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "semantic-router-refresh" and t.is_alive()]


def test_with_closes_the_index_and_stops_the_refresh_thread():
    before = len(_refresh_threads())
    index = Recording()
    with RouteLayer(encoder=WordHashEncoder(), routes=ROUTES, index=index, auto_sync="local",
                    refresh_interval=0.05) as rl:
        assert len(_refresh_threads()) == before + 1
        assert rl("hello there").name == "greet"
    assert index.closed == ["close"]
    assert len(_refresh_threads()) == before


async def test_async_with_awaits_the_async_close():
    index = Recording()
    async with RouteLayer(encoder=WordHashEncoder(), routes=ROUTES, index=index) as rl:
        assert (await rl.acall("hello there")).name == "greet"
    assert index.closed == ["aclose", "close"]


async def test_aclose_closes_the_redis_clients_it_opened(redis_url):
    import redis

    name = f"life{uuid.uuid4().hex[:8]}"
    watcher = redis.Redis.from_url(redis_url)
    watcher.client_setname("watcher")

    def connections() -> int:
        return len([c for c in watcher.client_list() if c.get("name") != "watcher"])

    baseline = connections()
    index = RedisIndex(redis_url, name=name)
    rl = RouteLayer(encoder=WordHashEncoder(), routes=ROUTES, index=index, rule="knn")
    assert (await rl.acall("hello there")).name == "greet"  # opens the async client on this loop
    assert connections() > baseline
    await rl.aclose()
    assert connections() <= baseline  # the sync and the async client's connections are gone
    RedisIndex(redis_url, name=name).drop()
    watcher.close()


@pytest.mark.slow
def test_a_router_on_a_qdrant_path_exits_quietly(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from semantic_router import Route, RouteLayer
        from semantic_router.index.qdrant import QdrantIndex
        from tests.test_snapshots import WordHashEncoder
        with RouteLayer(encoder=WordHashEncoder(), routes=[Route(name="a", utterances=["hello there"])],
                        index=QdrantIndex(path={str(tmp_path)!r}), rule="knn") as rl:
            assert rl("hello there").name == "a"
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""


def test_warmup_runs_the_encoder_once():
    encoder = WordHashEncoder()
    rl = RouteLayer(encoder=encoder, routes=ROUTES)
    before = encoder.calls
    rl.warmup()
    assert encoder.calls == before + 1
