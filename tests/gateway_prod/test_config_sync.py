"""One config for all replicas: two gateways (real uvicorn servers, each with its own config folder) on one real
redis-server. A config PUT on one is published as a version and applied by the other; a bad one is refused at the
PUT and never published; a version one replica cannot apply is reported there while it keeps the last good one;
a published config is validated like a pushed one; a restarted replica starts on the published version."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

redis = pytest.importorskip("redis")

from semantic_router.server.demo import ThreadServer, run_in_thread  # noqa: E402
from semantic_router.server.http import create_app  # noqa: E402

ADMIN = "sync-admin-key"
SUM = "please add up these numbers"


def base_config(fleet, redis_url: str, namespace: str) -> dict[str, Any]:
    return {
        "server": {"admin_key_env": "GW_SYNC_ADMIN"},
        "models": {"general-model": {"backends": [{"base_url": fleet.url("general")}]},
                   "math-model": {"backends": [{"base_url": fleet.url("math")}]}},
        "signals": {"keywords": [{"name": "sum", "words": ["add up"]}]},
        "decisions": [{"name": "general", "rule": {}, "model": "general-model"}],
        "default_decision": "general",
        "cluster": {"redis_url": redis_url, "namespace": namespace, "publish_seconds": 0.5,
                    "config_sync": {"poll_seconds": 0.2}},
    }


def with_math(config: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(config)
    new["decisions"].insert(0, {"name": "math", "priority": 10, "rule": {"signal": "keywords:sum"},
                                "model": "math-model"})
    return new


class Replica:
    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        folder.mkdir(exist_ok=True)
        self.path = folder / "gateway.yaml"
        self.path.write_text(json.dumps(config))
        self.server: ThreadServer | None = None
        self.start()

    def start(self) -> None:
        self.server = run_in_thread(create_app(self.path))
        deadline = time.monotonic() + 60
        while httpx.get(self.url + "/ready").status_code != 200:
            assert time.monotonic() < deadline, "replica never became ready"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def put(self, config: dict[str, Any] | str) -> httpx.Response:
        body = config if isinstance(config, str) else json.dumps(config)
        return httpx.put(self.url + "/admin/config", content=body, timeout=60,
                         headers={"Authorization": f"Bearer {ADMIN}"})

    def decision(self, prompt: str, key: str | None = None) -> str:
        r = httpx.post(self.url + "/v1/chat/completions", timeout=20,
                       headers={"Authorization": f"Bearer {key}"} if key else {},
                       json={"model": "auto", "messages": [{"role": "user", "content": prompt}]})
        assert r.status_code == 200, r.text
        return r.headers["x-router-decision"]

    def config(self) -> dict[str, Any]:
        return httpx.get(self.url + "/health").json()["config"]

    def stats_config(self) -> dict[str, Any]:
        return httpx.get(self.url + "/stats", headers={"Authorization": f"Bearer {ADMIN}"}).json()["config"]


def until(predicate, timeout: float = 10.0) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "condition not reached in time"
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture()
def pair(fleet, redis_url, tmp_path, monkeypatch) -> Iterator[tuple[Replica, Replica, dict[str, Any], Any]]:
    monkeypatch.setenv("GW_SYNC_ADMIN", ADMIN)
    config = base_config(fleet, redis_url, f"sync{uuid.uuid4().hex[:8]}")
    a, b = Replica(tmp_path / "a", config), Replica(tmp_path / "b", config)
    client = redis.Redis.from_url(redis_url)
    try:
        yield a, b, config, client
    finally:
        a.stop()
        b.stop()
        client.close()


def published(client, config: dict[str, Any]) -> int | None:
    raw = client.hget(config["cluster"]["namespace"] + ":config", "version")
    return None if raw is None else int(raw)


def test_put_on_one_replica_is_applied_by_the_other(pair, fresh):
    a, b, config, client = pair
    assert a.config()["version"] is None and a.config()["shared"] is True
    assert a.config()["hash"] == b.config()["hash"] is not None  # the same file text
    assert b.decision(SUM) == "general"
    r = a.put(with_math(config))
    assert r.status_code == 200 and r.json()["shared_version"] == 1, r.text
    assert a.decision(SUM) == "math" and a.config()["version"] == 1
    waited = until(lambda: b.config()["version"] == 1)
    assert waited < 3.0  # poll_seconds 0.2 plus building the runtime on a loaded machine
    assert b.decision(SUM) == "math"
    assert a.config()["hash"] == b.config()["hash"] == hashlib.sha256(
        json.dumps(with_math(config)).encode()).hexdigest()[:12]
    assert published(client, config) == 1
    stats = b.stats_config()
    assert stats == {"hash": a.config()["hash"], "shared": True, "version": 1, "error": None}


def test_bad_config_is_refused_at_the_put_and_never_published(pair, fresh):
    a, b, config, client = pair
    assert a.put(with_math(config)).status_code == 200
    until(lambda: b.config()["version"] == 1)
    broken = with_math(config)
    broken["decisions"][0]["model"] = "no-such-model"
    r = a.put(broken)
    assert r.status_code == 400 and "no-such-model" in r.json()["error"]["message"]
    stolen = with_math(config)  # the trust boundary of a pushed config: no backend key sent to a new URL
    stolen["models"]["math-model"]["backends"][0].update(base_url="http://198.51.100.7/v1", api_key_env="HOME")
    r = a.put(stolen)
    assert r.status_code == 400 and "api_key_env" in r.json()["error"]["message"]
    moved = with_math(config)  # nor may it move the replicas to another Redis namespace
    moved["cluster"]["namespace"] = "elsewhere"
    r = a.put(moved)
    assert r.status_code == 400 and "cluster" in r.json()["error"]["message"]
    time.sleep(0.6)
    assert published(client, config) == 1
    assert a.config()["version"] == b.config()["version"] == 1 and b.decision(SUM) == "math"


def test_replica_that_cannot_apply_keeps_the_last_good_config_and_says_so(pair, fresh, caplog):
    a, b, config, client = pair
    (a.path.parent / "keys.txt").write_text("gw-key-sync-1\n")  # only on a's machine
    keyed = with_math(config)
    keyed["server"]["api_keys_file"] = "keys.txt"
    with caplog.at_level(logging.ERROR, logger="semantic_router"):
        r = a.put(keyed)
        assert r.status_code == 200 and r.json()["shared_version"] == 1, r.text
        until(lambda: b.config()["error"] is not None)
    health = b.config()
    assert health["version"] is None and health["error"].startswith("cannot apply config version 1")
    assert "keys.txt" not in health["error"]  # the details are for key holders and the log
    assert "keys.txt" in b.stats_config()["error"]
    assert any("cannot apply config version 1" in rec.getMessage() for rec in caplog.records)
    assert b.decision(SUM) == "general"  # still the last good config (no key needed, no math decision)
    assert a.decision(SUM, key="gw-key-sync-1") == "math"
    # the next good version reaches b again and clears the error
    r = a.put(with_math(config))
    assert r.status_code == 200 and r.json()["shared_version"] == 2, r.text
    until(lambda: b.config()["version"] == 2)
    assert b.config()["error"] is None and b.decision(SUM) == "math"


def test_published_config_is_validated_like_a_pushed_one(pair, fresh):
    a, b, config, client = pair
    key = config["cluster"]["namespace"] + ":config"
    stolen = with_math(config)  # written straight to Redis: replicas still refuse a key sent to a new URL
    stolen["models"]["math-model"]["backends"][0].update(base_url="http://198.51.100.7/v1", api_key_env="HOME")
    text = json.dumps(stolen).encode()
    client.hset(key, mapping={"version": 7, "sha256": hashlib.sha256(text).hexdigest(), "text": text})
    until(lambda: a.config()["error"] is not None and b.config()["error"] is not None)
    assert "version 7" in a.config()["error"] and "api_key_env" in a.stats_config()["error"]
    assert a.decision(SUM) == b.decision(SUM) == "general"
    good = json.dumps(with_math(config)).encode()  # a text that does not match its hash is refused too
    client.hset(key, mapping={"version": 8, "sha256": hashlib.sha256(b"something else").hexdigest(), "text": good})
    until(lambda: "version 8" in (b.config()["error"] or ""))
    assert "sha256" in b.stats_config()["error"] and b.decision(SUM) == "general"


def test_restarted_replica_starts_on_the_published_version(pair, fresh):
    a, b, config, client = pair
    assert a.put(with_math(config)).status_code == 200
    until(lambda: b.config()["version"] == 1)
    b.stop()
    assert json.loads(b.path.read_text()) == config  # its file still has the old config
    b.start()
    assert b.config()["version"] == 1 and b.decision(SUM) == "math"  # ready means: on the published version


def test_put_that_cannot_be_published_changes_nothing(fleet, private_redis, tmp_path, monkeypatch, fresh):
    monkeypatch.setenv("GW_SYNC_ADMIN", ADMIN)
    config = base_config(fleet, private_redis.url, "down")
    a = Replica(tmp_path / "a", config)
    try:
        before = a.config()
        private_redis.stop()  # Redis goes away: the new config is built and checked, but cannot be shared
        r = a.put(with_math(config))
        assert r.status_code == 503 and r.json()["error"]["code"] == "config_not_published", r.text
        assert "nothing changed" in r.json()["error"]["message"]
        assert a.decision(SUM) == "general" and a.config() == before
    finally:
        a.stop()
