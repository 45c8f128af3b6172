"""The dashboard in a real headless Chromium, on a small app serving stand-in /stats and a real /v1/route."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from playwright.sync_api import expect

from semantic_router import Route, RouteLayer
from semantic_router.server.admin import COOKIE, AdminKey
from semantic_router.server.ui import ui_router
from tests.gateway_prod.browser import browser_page
from tests.gateway_prod.conftest import serving

ADMIN = "admin-key-5b7e"
PROMPTS = {"write a python function that parses a csv file": "code",
           "what is the integral of x squared from 0 to 3": "math"}


def stand_in_app(encoder, admin: AdminKey | None = None) -> FastAPI:
    """A tiny app with the gateway's /stats and /v1/route shapes; /v1/route classifies for real."""
    layer = RouteLayer(encoder=encoder, routes=[
        Route(name="code", utterances=["write a function in python", "fix this bug in my code",
                                       "how do I parse a file in java"]),
        Route(name="math", utterances=["solve this equation", "what is the derivative of x^3",
                                       "compute the integral of sin x"])])
    app = FastAPI()
    seen = {"code": 0, "math": 0}

    @app.get("/stats")
    async def stats() -> dict:
        return {"total_requests": sum(seen.values()), "decisions": dict(seen),
                "models": {"qwen-coder": seen["code"], "deepseek-math": seen["math"]},
                "cache": {"hit_rate": 0.25}, "latency_ms": {"p50": 12.5, "p99": 80.0}}

    @app.post("/v1/route")
    async def route(request: Request) -> dict:
        body = await request.json()
        if not isinstance(body.get("prompt"), str):
            raise HTTPException(400, "prompt must be a string")
        choice = layer(body["prompt"])
        name = choice.name or "general"
        seen[name] = seen.get(name, 0) + 1
        signals = [{"type": "routes", "name": r, "matched": r == choice.name,
                    "confidence": choice.similarity_score if r == choice.name else None, "ms": 1.0}
                   for r in layer.list_route_names()]
        return {"decision": name, "model": {"code": "qwen-coder", "math": "deepseek-math"}.get(name, "general"),
                "route": choice.name, "score": choice.similarity_score, "confidence": choice.similarity_score,
                "signals": signals, "ms": 3.2}

    def overview() -> dict:
        return {"routes": [{"name": "code", "utterances": 3}, {"name": "math", "utterances": 3}],
                "decisions": [{"name": "code", "priority": 10, "rule": "routes:code", "model": "qwen-coder",
                               "plugins": ["cache"]},
                              {"name": "math", "priority": 10, "rule": "routes:math", "model": "deepseek-math",
                               "plugins": []}],
                "models": ["qwen-coder", "deepseek-math"], "virtual_models": ["auto"], "replica": "r1"}

    app.include_router(ui_router(overview, admin, poll_seconds=0.5))
    return app


def screenshot_dir(tmp_path: Path) -> Path:
    """Where the run saves screenshots: $SR_TEST_OUTPUT if set, else the test's tmp dir."""
    out = Path(os.environ.get("SR_TEST_OUTPUT") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def try_prompts(page, expected: dict[str, str]) -> None:
    for prompt, decision in expected.items():
        page.fill("#prompt", prompt)
        page.click("#route")
        expect(page.locator("#r-decision")).to_have_text(decision, timeout=15000)
        expect(page.locator("#r-signals tr")).to_have_count(2)
        expect(page.locator("#r-signals .matched")).to_have_count(1)


def test_dashboard_loads_clean_and_routes_two_prompts(encoder, tmp_path):
    console: list[str] = []
    with serving(stand_in_app(encoder)) as url, browser_page(console) as page:
        response = page.goto(url + "/ui")
        assert response.status == 200
        assert "script-src 'nonce-" in response.headers["content-security-policy"]
        expect(page.locator("#decisions tr")).to_have_count(2, timeout=15000)
        try_prompts(page, PROMPTS)
        assert page.text_content("#r-model") == "deepseek-math"
        expect(page.locator("#total")).to_have_text("2", timeout=15000)  # polled from /stats
        assert page.text_content("#hitrate") == "25.0%" and page.text_content("#p99") == "80.0 ms"
        assert page.locator("#by-decision tr").count() == 2
        shot = screenshot_dir(tmp_path) / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    assert console == []


def test_dashboard_behind_the_admin_key_logs_in_through_the_form(encoder, tmp_path):
    console: list[str] = []
    with serving(stand_in_app(encoder, AdminKey([ADMIN]))) as url, browser_page(console) as page:
        assert page.goto(url + "/ui").status == 401
        page.fill("input[name=key]", "wrong")
        page.click("button[type=submit]")
        assert "not the admin key" in page.content()
        page.fill("input[name=key]", ADMIN)
        page.click("button[type=submit]")
        expect(page.locator("#decisions tr")).to_have_count(2, timeout=15000)
        try_prompts(page, dict(list(PROMPTS.items())[:1]))
        cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and ADMIN not in cookie["value"]
    assert [c for c in console if "401" not in c] == []  # only the deliberate 401 login page


@pytest.mark.parametrize("headers, cookies, status", [
    ({}, {}, 401), ({"Authorization": "Bearer nope"}, {}, 401), ({"Authorization": f"Bearer {ADMIN}"}, {}, 200),
    ({}, {COOKIE: "forged"}, 401), ({}, {COOKIE: AdminKey([ADMIN]).cookie_for(ADMIN)}, 200)])
def test_overview_needs_the_admin_key(encoder, headers, cookies, status):
    with serving(stand_in_app(encoder, AdminKey([ADMIN]))) as url:
        r = httpx.get(url + "/ui/overview.json", headers=headers, cookies=cookies)
        assert r.status_code == status
        if status == 200:
            assert [d["name"] for d in r.json()["decisions"]] == ["code", "math"]
        page = httpx.get(url + "/ui", headers=headers, cookies=cookies)
        assert page.status_code == status and ("try-form" in page.text) == (status == 200)


def test_admin_key_refuses_empty_keys(monkeypatch):
    with pytest.raises(ValueError, match="must not be empty"):
        AdminKey([" "])
    monkeypatch.delenv("SR_TEST_ADMIN", raising=False)
    with pytest.raises(ValueError, match="SR_TEST_ADMIN"):
        AdminKey.from_env("SR_TEST_ADMIN")
    with pytest.raises(ValueError, match="poll_seconds"):
        ui_router(dict, poll_seconds=0)
