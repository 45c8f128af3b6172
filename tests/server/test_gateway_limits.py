"""Virtual API keys: rpm/tpm limits and budgets (memory store with a test clock), 429 + Retry-After through a real
gateway, budgets charged from the backends' usage (whole and streamed), revoke, allowed models, and two gateways on
one Redis that together admit exactly a key's rpm."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from semantic_router.errors import ConfigError
from semantic_router.server.ingress.errors import APIError
from semantic_router.server.ingress.limits import WINDOW, Limiter, MemoryKeyStore, hash_secret
from semantic_router.server.ingress.limits_config import LimitsConfig
from tests.server.conftest import Gateway, gateway_config, openai_error, start_gateway

ADMIN = "admin-key-limits-0123"
MODELS = ["code-model", "math-model", "general-model", "deep-model", "o-model"]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **config: Any) -> Limiter:
    return Limiter(LimitsConfig(**config), MemoryKeyStore(), MODELS, clock)


# -- the memory store ------------------------------------------------------------------------------------------

def test_rpm_window_rolls_over_with_the_clock():
    async def run() -> None:
        clock = Clock(WINDOW * 1000 + 50.0)  # 10 s before the minute's end
        lim = limiter(clock)
        _, key = await lim.create(rpm=2)
        assert (await lim.admit(key, "general-model")).window == 1000
        await lim.admit(key, "general-model")
        with pytest.raises(APIError) as refused:
            await lim.admit(key, "general-model")
        assert refused.value.status == 429 and refused.value.code == "rate_limit_exceeded"
        assert refused.value.type == "rate_limit_error" and refused.value.headers == {"Retry-After": "10"}
        clock.now += 10.0  # the next minute
        assert (await lim.admit(key, "general-model")).window == 1001
        assert (await lim.spend(key))["window_requests"] == 1

    asyncio.run(run())


def test_tpm_counts_charged_tokens_of_the_admission_window():
    async def run() -> None:
        clock = Clock(WINDOW * 7.0)
        lim = limiter(clock)
        _, key = await lim.create(tpm=100)
        grant = await lim.admit(key, "math-model")
        await lim.charge(key, grant, "math-model", {"prompt_tokens": 60, "completion_tokens": 40})
        with pytest.raises(APIError) as refused:
            await lim.admit(key, "math-model")
        assert refused.value.status == 429 and "100 tokens per minute" in refused.value.message
        clock.now += WINDOW
        await lim.admit(key, "math-model")

    asyncio.run(run())


def test_tpm_reservations_hold_room_for_requests_in_flight():
    async def run() -> None:
        lim = limiter(Clock(WINDOW * 3.0))
        _, key = await lim.create(tpm=100)
        first = await lim.admit(key, "math-model", reserve=80)
        second = await lim.admit(key, "math-model", reserve=80)  # 80 < 100: admitted, the minute now holds 160
        assert (first.reserved, second.reserved) == (80, 80)
        with pytest.raises(APIError):
            await lim.admit(key, "math-model", reserve=1)
        await lim.charge(key, first, "math-model", {"total_tokens": 5})  # actual 5: 85 held
        await lim.charge(key, second, "math-model", {"total_tokens": 5})  # 10 held
        assert (await lim.spend(key))["window_tokens"] == 10 and (await lim.spend(key))["tokens"] == 10
        await lim.admit(key, "math-model")

    asyncio.run(run())


def test_budgets_per_key_and_per_tenant_in_price_units():
    async def run() -> None:
        clock = Clock(1000.0)
        prices = {m: 1.0 for m in MODELS} | {"deep-model": 10.0}
        lim = limiter(clock, budget_unit="price", prices=prices, tenants={"acme": {"budget": 1.5}})
        _, a = await lim.create(tenant="acme", budget=5.0)
        _, b = await lim.create(tenant="acme")
        w = await lim.admit(a, "deep-model", reserve=500)  # no tpm: nothing reserved
        await lim.charge(a, w, "deep-model", {"total_tokens": 200})  # 2.0 spent: over the tenant's 1.5
        spend = await lim.spend(a)
        assert spend["spend"] == pytest.approx(2.0) and spend["tenant_spend"] == pytest.approx(2.0)
        for key in (a, b):  # the tenant's other key is refused too
            with pytest.raises(APIError) as refused:
                await lim.admit(key, "general-model")
            assert refused.value.status == 429 and refused.value.code == "budget_exceeded"
            assert refused.value.type == "insufficient_quota" and "tenant 'acme'" in refused.value.message

    asyncio.run(run())


def test_allowed_models_revoke_and_hashed_secrets():
    async def run() -> None:
        lim = limiter(Clock(0.0))
        secret, key = await lim.create(key_id="team-a", models=["auto", "math-model"])
        assert await lim.identify(f"Bearer {secret}") == key
        assert await lim.store.find(secret) is None and await lim.store.find(hash_secret(secret)) == key
        with pytest.raises(APIError) as refused:
            await lim.admit(key, "general-model")
        assert refused.value.status == 403 and "'general-model'" in refused.value.message
        await lim.admit(key, "auto")
        with pytest.raises(ValueError, match="team-a"):
            await lim.create(key_id="team-a")
        assert await lim.store.revoke("team-a") and not await lim.store.revoke("team-a")
        with pytest.raises(APIError) as gone:
            await lim.identify(f"Bearer {secret}")
        assert gone.value.status == 401
        assert await lim.identify("Bearer some-static-key") is None  # not a virtual key: the static keys decide

    asyncio.run(run())


def test_prices_must_name_configured_models():
    with pytest.raises(ConfigError, match="nope"):
        limiter(Clock(0.0), prices={"nope": 1.0})
    with pytest.raises(ConfigError, match="missing"):
        limiter(Clock(0.0), budget_unit="price", prices={"math-model": 1.0})


# -- through a real gateway ------------------------------------------------------------------------------------

def _chat(model: str = "general-model", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello there"}], **extra}


def _admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}


def _create(gw: Gateway, **spec: Any) -> dict[str, Any]:
    r = httpx.post(gw.url + "/admin/keys", json=spec, headers=_admin())
    assert r.status_code == 201, r.text
    return r.json()


def _spend(gw: Gateway, key_id: str, more_than: float = 0.0, timeout: float = 5.0) -> dict[str, Any]:
    """The key's spend once it exceeds `more_than` (charges run right after the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(gw.url + f"/admin/keys/{key_id}/spend", headers=_admin())
        assert r.status_code == 200, r.text
        if r.json()["spend"] > more_than or time.monotonic() > deadline:
            return r.json()
        time.sleep(0.02)


def _wait_for_fresh_minute(margin: float = 8.0) -> None:
    """Sleep past the minute's end when it is near, so a test's requests share one rpm window."""
    left = WINDOW - time.time() % WINDOW
    if left < margin:
        time.sleep(left + 0.05)


@pytest.fixture(scope="module")
def limited(fleet, layer) -> Iterator[Gateway]:
    mp = pytest.MonkeyPatch()
    mp.setenv("GW_LIMITS_ADMIN", ADMIN)
    mp.setenv("GW_TEST_UPSTREAM_KEY", "sk-upstream")
    config = gateway_config(fleet, admin_key_env="GW_LIMITS_ADMIN") | {"limits": {}}
    gw = start_gateway(config, layer)
    yield gw
    gw.server.stop()
    mp.undo()


def test_over_rpm_is_429_with_retry_after_and_an_openai_error(limited, fresh):
    _wait_for_fresh_minute()
    key = _create(limited, rpm=2)
    auth = {"authorization": f"Bearer {key['secret']}"}
    assert [httpx.post(limited.url + "/v1/chat/completions", json=_chat(), headers=auth).status_code
            for _ in range(2)] == [200, 200]
    r = httpx.post(limited.url + "/v1/chat/completions", json=_chat(), headers=auth)
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= WINDOW
    error = openai_error(r)
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
    assert error["param"] is None and key["id"] in error["message"]
    assert len(fresh.backends["general"].requests) == 2  # the refused request never reached a backend
    assert _spend(limited, key["id"])["window_requests"] == 2


def test_budget_runs_out_after_usage_whole_and_streamed(limited, fresh):
    key = _create(limited, budget=15)
    auth = {"authorization": f"Bearer {key['secret']}"}
    r = httpx.post(limited.url + "/v1/chat/completions", json=_chat(), headers=auth)
    assert r.status_code == 200
    usage = r.json()["usage"]
    first = _spend(limited, key["id"])
    assert first["spend"] == usage["prompt_tokens"] + usage["completion_tokens"] == first["tokens"]
    if first["spend"] < 15:  # the stand-in's short answers: a streamed one (usage in its last chunk) tops it up
        with httpx.stream("POST", limited.url + "/v1/chat/completions", headers=auth,
                          json=_chat(stream=True, stream_options={"include_usage": True})) as s:
            assert s.status_code == 200 and b"[DONE]" in s.read()
        assert _spend(limited, key["id"], first["spend"])["spend"] > first["spend"]
    r = httpx.post(limited.url + "/v1/chat/completions", json=_chat(), headers=auth)
    assert r.status_code == 429
    error = openai_error(r)
    assert error["type"] == "insufficient_quota" and error["code"] == "budget_exceeded"


def test_revoke_and_allowed_models_and_admin_only(limited, fresh):
    key = _create(limited, models=["math-model"], tenant="acme")
    assert "secret" in key and key["secret"].startswith("sk-sr-")
    listing = httpx.get(limited.url + "/admin/keys", headers=_admin()).json()["keys"]
    assert key["id"] in [k["id"] for k in listing] and all("secret" not in k for k in listing)
    auth = {"authorization": f"Bearer {key['secret']}"}
    refused = httpx.post(limited.url + "/v1/chat/completions", json=_chat("general-model"), headers=auth)
    assert refused.status_code == 403 and "'general-model'" in openai_error(refused)["message"]
    assert httpx.post(limited.url + "/v1/chat/completions", json=_chat("math-model"), headers=auth).status_code == 200
    assert httpx.post(limited.url + "/admin/keys", json={"models": ["gpt-9"]}, headers=_admin()).status_code == 400
    assert httpx.post(limited.url + "/admin/keys", json={}, headers=auth).status_code == 401  # not the admin
    assert httpx.delete(limited.url + f"/admin/keys/{key['id']}", headers=_admin()).json() == {"revoked": key["id"]}
    gone = httpx.post(limited.url + "/v1/chat/completions", json=_chat("math-model"), headers=auth)
    assert gone.status_code == 401 and openai_error(gone)["code"] == "invalid_api_key"
    assert httpx.delete(limited.url + f"/admin/keys/{key['id']}", headers=_admin()).status_code == 404
    # a request without a virtual key is served as before (no `require_key`, no static keys)
    assert httpx.post(limited.url + "/v1/chat/completions", json=_chat()).status_code == 200


# -- two replicas on one Redis ---------------------------------------------------------------------------------

def test_redis_store_reserves_charges_and_revokes(redis_url):
    from semantic_router.server.ingress.limits_redis import RedisKeyStore

    async def run() -> None:
        clock = Clock(WINDOW * 11.0)
        store = RedisKeyStore(redis_url, f"limunit{time.time_ns()}")
        lim = Limiter(LimitsConfig(), store, MODELS, clock)
        try:
            secret, key = await lim.create(tpm=100, rpm=3, budget=50)
            assert await lim.identify(f"Bearer {secret}") == key
            first = await lim.admit(key, "math-model", reserve=80)
            second = await lim.admit(key, "math-model", reserve=80)
            with pytest.raises(APIError) as refused:  # 160 tokens held in the minute
                await lim.admit(key, "math-model")
            assert "tokens per minute" in refused.value.message
            await lim.charge(key, first, "math-model", {"total_tokens": 20})
            await lim.charge(key, second, "math-model", {"total_tokens": 20})
            spend = await lim.spend(key)
            assert (spend["window_tokens"], spend["window_requests"], spend["spend"]) == (40, 2, 40.0)
            third = await lim.admit(key, "math-model")
            await lim.charge(key, third, "math-model", {"total_tokens": 20})  # 60 spent: over the budget of 50
            with pytest.raises(APIError) as broke:
                await lim.admit(key, "math-model")
            assert broke.value.code == "budget_exceeded"
            assert [r.id for r in await store.records()] == [key.id]
            assert await store.revoke(key.id) and await store.records() == []
            with pytest.raises(APIError) as gone:
                await lim.admit(key, "math-model")
            assert gone.value.status == 401
        finally:
            await store.aclose()

    asyncio.run(run())


@pytest.mark.slow
def test_two_gateways_on_one_redis_admit_exactly_the_rpm(fleet, layer, redis_url, monkeypatch):
    monkeypatch.setenv("GW_LIMITS_ADMIN", ADMIN)
    monkeypatch.setenv("GW_TEST_UPSTREAM_KEY", "sk-upstream")
    namespace = f"lim{time.time_ns()}"
    config = gateway_config(fleet, admin_key_env="GW_LIMITS_ADMIN") | {
        "cluster": {"redis_url": redis_url, "namespace": namespace}, "limits": {"namespace": namespace}}
    one, two = start_gateway(config, layer), start_gateway(config, layer)
    try:
        _wait_for_fresh_minute(15.0)
        key = _create(one, rpm=20)
        auth = {"authorization": f"Bearer {key['secret']}"}

        async def load() -> list[int]:
            async with httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=60)) as client:
                calls = [client.post((one, two)[i % 2].url + "/v1/chat/completions", json=_chat(), headers=auth)
                         for i in range(60)]
                return [r.status_code for r in await asyncio.gather(*calls)]

        codes = asyncio.run(load())
        assert codes.count(200) == 20 and codes.count(429) == 40, codes
        on_two = _spend(two, key["id"])  # the other replica reads the same counters
        assert on_two["window_requests"] == 20 and on_two["spend"] > 0
        # revoked on one replica: refused on the other at once
        assert httpx.delete(one.url + f"/admin/keys/{key['id']}", headers=_admin()).status_code == 200
        assert httpx.post(two.url + "/v1/chat/completions", json=_chat(), headers=auth).status_code == 401
    finally:
        one.server.stop()
        two.server.stop()
