"""The dashboard of the real gateway in a real headless Chromium (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from semantic_router.server.operate.admin import COOKIE, AdminKey
from semantic_router.server.operate.ui import ui_router
from tests.gateway_prod.browser import browser_page
from tests.server.conftest import gateway_config, start_gateway

ADMIN = "admin-key-5b7e"
PROMPTS = {"write a python function that parses a csv file": "code",
           "solve the equation 3x + 5 = 20 for x": "math"}


@pytest.fixture()
def gw(fleet, layer, monkeypatch, request):
    """The test gateway; with `admin` in the test's name it needs the admin key."""
    server = {}
    if "admin" in request.node.name:
        monkeypatch.setenv("GW_TEST_ADMIN", ADMIN)
        server = {"admin_key_env": "GW_TEST_ADMIN"}
    gateway = start_gateway(gateway_config(fleet, **server), layer)
    yield gateway
    gateway.server.stop()


def screenshot_dir(tmp_path: Path) -> Path:
    """Where the run saves screenshots: $SR_TEST_OUTPUT if set, else the test's tmp dir."""
    out = Path(os.environ.get("SR_TEST_OUTPUT") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def try_prompts(page, expected: dict[str, str], routes: int) -> None:
    for prompt, decision in expected.items():
        page.fill("#prompt", prompt)
        page.click("#route")
        expect(page.locator("#r-decision")).to_have_text(decision, timeout=15000)
        expect(page.locator("#r-model")).to_have_text(f"{decision}-model")
        expect(page.locator("#r-route")).to_have_text(decision)
        expect(page.locator("#r-signals tr")).to_have_count(routes + 2)  # every route, keyword and context signal
        expect(page.locator("#r-signals .matched").first).to_have_text("yes")


def test_dashboard_loads_clean_and_routes_two_prompts(gw, fresh, tmp_path):
    for _ in range(3):  # some traffic for the live counters
        httpx.post(gw.url + "/v1/chat/completions", timeout=10,
                   json={"model": "auto", "messages": [{"role": "user", "content": "recommend a good book"}]})
    console: list[str] = []
    with browser_page(console) as page:
        response = page.goto(gw.url + "/ui")
        assert response.status == 200
        assert "script-src 'nonce-" in response.headers["content-security-policy"]
        expect(page.locator("#decisions tr")).to_have_count(5, timeout=15000)
        expect(page.locator("#routes tr")).to_have_count(3)
        expect(page.locator("#by-decision tr").first).to_contain_text("general", timeout=15000)  # polled /stats
        expect(page.locator("#total")).to_have_text("3")
        expect(page.locator("#p50")).to_contain_text(" ms")
        try_prompts(page, PROMPTS, routes=3)
        shot = screenshot_dir(tmp_path) / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    assert console == []


def test_dashboard_behind_the_admin_key_logs_in_through_the_form(gw):
    console: list[str] = []
    with browser_page(console) as page:
        assert page.goto(gw.url + "/ui").status == 401
        page.fill("input[name=key]", "wrong")
        page.click("button[type=submit]")
        assert "not the admin key" in page.content()
        page.fill("input[name=key]", ADMIN)
        page.click("button[type=submit]")
        expect(page.locator("#decisions tr")).to_have_count(5, timeout=15000)
        try_prompts(page, dict(list(PROMPTS.items())[:1]), routes=3)
        cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and ADMIN not in cookie["value"]
    assert [c for c in console if "401" not in c] == []  # only the deliberate 401 of the login page


@pytest.mark.parametrize("headers, cookies, status", [
    ({}, {}, 401), ({"Authorization": "Bearer nope"}, {}, 401), ({"Authorization": f"Bearer {ADMIN}"}, {}, 200),
    ({}, {COOKIE: "forged"}, 401), ({}, {COOKIE: AdminKey([ADMIN]).cookie_for(ADMIN)}, 200)])
def test_admin_overview_and_page_need_the_admin_key(gw, headers, cookies, status):
    r = httpx.get(gw.url + "/ui/overview.json", headers=headers, cookies=cookies)
    assert r.status_code == status
    if status == 200:
        decisions = {d["name"]: d for d in r.json()["decisions"]}
        assert decisions["long"]["rule"] == "(context:long AND NOT routes:code)"
        assert decisions["general"]["rule"] == "" and decisions["code"]["model"] == "code-model"
    page = httpx.get(gw.url + "/ui", headers=headers, cookies=cookies)
    assert page.status_code == status and ("try-form" in page.text) == (status == 200)


def test_admin_key_refuses_empty_keys(monkeypatch):
    with pytest.raises(ValueError, match="must not be empty"):
        AdminKey([" "])
    monkeypatch.delenv("SR_TEST_ADMIN", raising=False)
    with pytest.raises(ValueError, match="SR_TEST_ADMIN"):
        AdminKey.from_env("SR_TEST_ADMIN")
    with pytest.raises(ValueError, match="poll_seconds"):
        ui_router(dict, poll_seconds=0)
