"""Run-time route changes through /admin/routes on one gateway, and the cluster aggregate."""

from __future__ import annotations

import httpx
import pytest

from semantic_router.server.operate.cluster import aggregate
from tests.server.conftest import example_router, gateway_config, start_gateway

ADMIN = "routes-admin-key"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
EGG = "how long should I boil an egg for a soft yolk"


@pytest.fixture()
def gw(fleet, encoder, monkeypatch):
    monkeypatch.setenv("GW_TEST_ADMIN", ADMIN)
    config = gateway_config(fleet, admin_key_env="GW_TEST_ADMIN")
    config["signals"]["routes"] = {"router": example_router()}
    from semantic_router import RouteLayer

    gateway = start_gateway(config, RouteLayer.from_dict(example_router(), encoder=encoder))
    yield gateway
    gateway.server.stop()


def decide(gw, prompt):
    return httpx.post(gw.url + "/v1/route", json={"prompt": prompt}, timeout=10).json()


def test_routes_change_at_run_time(gw):
    assert decide(gw, EGG)["route"] != "cooking"
    r = httpx.post(gw.url + "/admin/routes", headers=AUTH, timeout=30,
                   json={"name": "cooking", "utterances": ["how long do I boil an egg", "a recipe for pancakes"]})
    assert r.status_code == 201 and "cooking" in r.json()["routes"]
    assert decide(gw, EGG)["route"] == "cooking"
    listed = httpx.get(gw.url + "/admin/routes", headers=AUTH).json()
    assert {"name": "cooking", "utterances": 2} in listed["routes"] and listed["shared"] is False
    again = httpx.post(gw.url + "/admin/routes", headers=AUTH, json={"name": "cooking", "utterances": ["x"]})
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    assert httpx.delete(gw.url + "/admin/routes/cooking", headers=AUTH).status_code == 200
    assert decide(gw, EGG)["route"] != "cooking"
    assert httpx.delete(gw.url + "/admin/routes/cooking", headers=AUTH).status_code == 404


@pytest.mark.parametrize("body, status, words", [
    ({"name": "x"}, 400, "utterances"), ({"name": "", "utterances": ["a"]}, 400, "name"),
    ("not json", 400, "not valid JSON"), ({"name": "x", "utterances": ["a"], "color": 1}, 400, "color")])
def test_bad_routes_are_refused_by_name(gw, body, status, words):
    kw = {"content": body} if isinstance(body, str) else {"json": body}
    r = httpx.post(gw.url + "/admin/routes", headers=AUTH, **kw)
    assert r.status_code == status and words in r.json()["error"]["message"]


def test_route_changes_need_the_admin_key(gw):
    assert httpx.post(gw.url + "/admin/routes", json={"name": "a", "utterances": ["b"]}).status_code == 401
    assert httpx.get(gw.url + "/admin/routes").status_code == 401


def test_aggregate_sums_replicas():
    one = {"total_requests": 3, "decisions": {"code": 2, "general": 1}, "models": {"m": 3},
           "cache": {"hits": 1, "misses": 1, "stores": 1}}
    two = {"total_requests": 2, "decisions": {"code": 2}, "models": {"m": 1, "n": 1},
           "cache": {"hits": 2, "misses": 0}}
    out = aggregate({"a": one, "b": two})
    assert out["total_requests"] == 5 and out["decisions"] == {"code": 4, "general": 1}
    assert out["models"] == {"m": 4, "n": 1} and out["replicas"] == 2
    assert out["cache"]["hits"] == 3 and out["cache"]["hit_rate"] == 0.75
    assert aggregate({})["cache"]["hit_rate"] is None
