"""`ui_router`: the dashboard at `GET /ui`, a static page with one inline script (no build step).

The page reads `GET /ui/overview.json` (routes, decisions, models: given by the app), polls `GET /stats` for
live counters and posts the try box to `POST /v1/route`. With an admin key configured, the page and the
overview need it: a browser logs in once through the form (`POST /ui/login` sets an HttpOnly cookie).
"""

from __future__ import annotations

import html
import inspect
import secrets
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from semantic_router.server.operate.admin import COOKIE, AdminKey

__all__ = ["ui_router"]

Overview = Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]]
_PAGE = files("semantic_router.server.operate.ui").joinpath("dashboard.html").read_text(encoding="utf-8")
_LOGIN = """<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>{title}: sign in</title></head><body><h1>{title}</h1><p>{message}</p>
<form method="post" action="/ui/login"><label>Admin key <input type="password" name="key" autocomplete="off"
autofocus></label> <button type="submit">Sign in</button></form></body></html>"""
_MAX_FORM = 4096


def _headers(nonce: str) -> dict[str, str]:
    return {"Content-Security-Policy": f"default-src 'self'; script-src 'nonce-{nonce}'; "
                                      f"style-src 'nonce-{nonce}'; img-src 'self' data:; frame-ancestors 'none'",
            "X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def ui_router(overview: Overview, admin: AdminKey | None = None, *, title: str = "semantic-router gateway",
              poll_seconds: float = 2.0) -> APIRouter:
    """The dashboard's routes. `overview()` returns {"routes": [{"name", "utterances"}], "decisions": [{"name",
    "priority", "rule", "model", "plugins"}], "models": [...], "virtual_models": [...], "replica": str|None}."""
    if poll_seconds <= 0:
        raise ValueError(f"poll_seconds must be > 0, got {poll_seconds}")
    router = APIRouter()
    safe_title = html.escape(title)

    def login_page(message: str, status: int) -> HTMLResponse:
        return HTMLResponse(_LOGIN.format(title=safe_title, message=html.escape(message)), status_code=status,
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})

    @router.get("/ui", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> Response:
        if admin is not None and not admin.allows(request):
            return login_page("Sign in with the gateway's admin key.", 401)
        nonce = secrets.token_urlsafe(16)
        body = (_PAGE.replace("__TITLE__", safe_title).replace("__NONCE__", nonce)
                .replace("__POLL_MS__", str(int(poll_seconds * 1000))))
        return HTMLResponse(body, headers=_headers(nonce))

    @router.post("/ui/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if admin is None:
            return RedirectResponse("/ui", status_code=303)
        raw = await request.body()
        if len(raw) > _MAX_FORM:
            return login_page("The form is too large.", 413)
        key = (parse_qs(raw.decode("utf-8", "replace")).get("key") or [""])[0]
        cookie = admin.cookie_for(key)
        if cookie is None:
            return login_page("That key is not the admin key.", 401)
        response = RedirectResponse("/ui", status_code=303)
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return response

    @router.get("/ui/overview.json", include_in_schema=False)
    async def overview_json(request: Request) -> JSONResponse:
        if admin is not None:
            admin.check(request)
        data = overview()
        if inspect.isawaitable(data):
            data = await data
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    return router
