"""Router instances in separate processes share one route set in a real Redis.

The worker processes and the routers here that share an index with them encode with the cheap HashEncoder
(tests.sharing_worker.make_encoder): the sharing is under test, not the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from semantic_router import Route, RouteLayer
from semantic_router.errors import IndexBackendError, LockTimeout
from semantic_router.index.redis import RedisIndex
from tests.sharing_worker import make_encoder

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["don't you just love politics", "lovely weather today", "are aliens real?", "I want a pizza"]
ROUTES = [
    {"name": "politics", "utterances": ["isn't politics the best thing ever", "don't you just love the president"]},
    {"name": "chitchat", "utterances": ["how's the weather today?", "lovely weather today"], "score_threshold": 0.4},
]


class Worker:
    """A router process driven over stdin/stdout."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.sharing_worker"], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.read()

    def send(self, **cmd) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = 120.0) -> dict:
        line = self.proc.stdout.readline()
        assert line, f"worker died (exit {self.proc.poll()})"
        return json.loads(line)

    def __call__(self, **cmd) -> dict:
        self.send(**cmd)
        out = self.read()
        assert out["ok"], out
        return out

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send(op="quit")
            self.proc.wait(timeout=30)


@pytest.fixture()
def workers():
    made: list[Worker] = []

    def start(n: int) -> list[Worker]:
        new = [Worker() for _ in range(n)]
        made.extend(new)
        return new

    yield start
    for w in made:
        try:
            w.close()
        except Exception:
            w.kill()


@pytest.fixture()
def name() -> str:
    return f"share{uuid.uuid4().hex[:8]}"


@pytest.mark.slow
def test_second_process_routes_like_the_first_without_encoding(redis_url, name, workers):
    a, b = workers(2)
    a(op="open", url=redis_url, name=name, mode="local", routes=ROUTES)
    a(op="add", route={"name": "food", "utterances": ["I want a pizza", "what's for dinner"]})
    expected = a(op="route", texts=QUERIES)["names"]
    assert expected == ["politics", "chitchat", None, "food"]
    opened = b(op="open", url=redis_url, name=name, mode="remote", refresh_interval=3600)
    assert opened["encoded"] == 0 and opened["routes"] == ["chitchat", "food", "politics"]
    routed = b(op="route", texts=QUERIES)
    assert routed["names"] == expected
    assert routed["encoded"] == len(QUERIES)  # the queries only

    a(op="delete", name="politics")
    assert b(op="route", texts=QUERIES[:1])["names"] == ["politics"]  # b has not looked yet
    assert b(op="refresh")["changed"] is True
    assert b(op="route", texts=QUERIES[:1])["names"] == [None]


@pytest.mark.slow
def test_two_processes_syncing_at_once_end_with_the_union(redis_url, name, workers):
    a, b = workers(2)
    mine = [{"name": f"a{i}", "utterances": [f"alpha topic {i}", f"first set {i}"]} for i in range(4)]
    theirs = [{"name": f"b{i}", "utterances": [f"beta topic {i}", f"second set {i}"]} for i in range(4)]
    shared = {"name": "both", "utterances": ["common ground"]}
    barrier = time.time() + 1.0
    a.send(op="open", url=redis_url, name=name, mode="merge", routes=mine + [shared], barrier=barrier)
    b.send(op="open", url=redis_url, name=name, mode="merge", routes=theirs + [shared], barrier=barrier)
    ra, rb = a.read(), b.read()
    assert ra["ok"] and rb["ok"], (ra, rb)
    final = RouteLayer.from_index(RedisIndex(redis_url, name=name), encoder=make_encoder())
    expected = {r["name"] for r in mine + theirs} | {"both"}
    assert set(final.list_route_names()) == expected
    stored = final.index.records()
    assert len(stored) == len({r.id for r in stored}) == 8 * 2 + 1  # no duplicates, nothing lost
    assert final.is_synced()


@pytest.mark.slow
def test_a_dead_lock_holder_does_not_block_writers_forever(redis_url, name, workers):
    a, b = workers(2)
    a(op="open", url=redis_url, name=name, mode="local", routes=ROUTES, lease=2.0)
    a(op="hold_lock")
    a.kill()  # dies holding the lock
    b(op="open", url=redis_url, name=name, mode="remote", lock_timeout=10.0)
    t0 = time.monotonic()
    b(op="add", route={"name": "food", "utterances": ["pizza"]})
    assert time.monotonic() - t0 < 10.0
    assert "food" in b(op="refresh")["routes"]


def test_a_live_lock_holder_makes_others_time_out_clearly(redis_url, name, encoder):
    index = RedisIndex(redis_url, name=name)
    rl = RouteLayer(encoder=encoder, routes=[Route(**r) for r in ROUTES], index=index, auto_sync="local",
                    lock_timeout=0.5)
    with RedisIndex(redis_url, name=name).lock(5.0):
        with pytest.raises(LockTimeout):
            rl.add(Route(name="food", utterances=["pizza"]))
    assert "food" not in rl.list_route_names()


def test_server_down_at_construction_names_the_url():
    with pytest.raises(IndexBackendError, match="127.0.0.1:1"):
        RedisIndex("redis://127.0.0.1:1", name="x")


def test_server_killed_mid_sync_then_the_next_sync_completes(private_redis, name, encoder):
    index = RedisIndex(private_redis.url, name=name, retries=1)
    rl = RouteLayer(encoder=encoder, routes=[Route(**r) for r in ROUTES], index=index, auto_sync="local")
    original = index.upsert

    def dying_upsert(records):
        original(records[:1])
        private_redis.kill()  # the server dies in the middle of the write
        original(records[1:])

    index.upsert = dying_upsert
    with pytest.raises(IndexBackendError):
        rl.add(Route(name="food", utterances=["I want a pizza", "what's for dinner"]))
    index.upsert = original
    assert "food" not in rl.list_route_names()  # the router did not take a half-applied change
    private_redis.start()  # back, empty (no persistence)
    rl.add(Route(name="food", utterances=["I want a pizza", "what's for dinner"]))  # lock + fresh state
    rl.sync("local")
    assert rl.is_synced()
    other = RouteLayer.from_index(RedisIndex(private_redis.url, name=name), encoder=encoder)
    assert sorted(other.list_route_names()) == ["chitchat", "food", "politics"]
    assert sorted((r.route, r.utterance) for r in other.index.records()) == sorted(
        (r.name, u) for r in other.routes for u in r.utterances)
    assert other("I'd love a pizza").name == "food"


@pytest.mark.slow
def test_a_writer_frozen_past_its_lease_loses_nothing(redis_url, name, workers):
    """SIGSTOP a writer between its record writes and its state write until its lease expires; a
    second writer commits meanwhile; resumed, the first one's fenced write is refused and its retry
    applies the change on top of the second's: both survive."""
    import signal

    (a,) = workers(1)
    a(op="open", url=redis_url, name=name, mode="local", routes=ROUTES, lease=1.0)
    b = RouteLayer(encoder=make_encoder(), index=RedisIndex(redis_url, name=name), auto_sync="remote",
                   lock_timeout=20.0, refresh_interval=3600)
    a.send(op="add_slow", route={"name": "food", "utterances": ["I want a pizza"]}, pause=0.3)
    assert a.read()["publishing"]
    a.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(2.0)  # a's lease (1 s) runs out while it is frozen
        b.add(Route(name="music", utterances=["play some jazz"]))
    finally:
        a.proc.send_signal(signal.SIGCONT)
    done = a.read()
    assert done["ok"], done
    final = RouteLayer.from_index(RedisIndex(redis_url, name=name), encoder=make_encoder())
    assert sorted(final.list_route_names()) == ["chitchat", "food", "music", "politics"]
    assert sorted({r.route for r in final.index.records()}) == ["chitchat", "food", "music", "politics"]
    assert final("play some jazz please").name == "music" and final("a pizza please").name == "food"
    final.close()
    b.close()
