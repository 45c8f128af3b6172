"""`/admin/routes`: add, list and delete semantic routes at run time (admin key only).

With `signals.routes.auto_sync: remote` the change is written to the shared index, so every replica adopts it
within its `refresh_seconds`; without it the change lives in this process until the next reload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from semantic_router import Route
from semantic_router.errors import RouteNotFoundError, SemanticRouterError
from semantic_router.server.operate.admin import AdminKey, admin_only
from semantic_router.server.ingress.body import read_json

__all__ = ["routes_router"]

_MAX_ROUTE_BYTES = 4 * 1024 * 1024


def routes_router(layer_of: Callable[[], Any], admin: AdminKey | None) -> APIRouter:
    """`layer_of()` returns the current runtime's RouteLayer (None: the gateway has no semantic routes)."""
    router = APIRouter()

    def layer(request: Request) -> Any:
        return admin_only(admin, request, layer_of, "this gateway has no semantic routes (signals.routes) to change")

    @router.get("/admin/routes")
    async def listing(request: Request) -> dict[str, Any]:
        rl = layer(request)
        return {"routes": [{"name": r.name, "utterances": len(r.utterances)} for r in rl.routes],
                "shared": rl.auto_sync is not None}

    @router.post("/admin/routes")
    async def add(request: Request) -> JSONResponse:
        rl = layer(request)
        body = await read_json(request, _MAX_ROUTE_BYTES)  # strict JSON; 400 / 413 as OpenAI-shaped errors
        try:
            route = Route.model_validate(body)
        except ValidationError as exc:
            raise HTTPException(400, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                               for e in exc.errors())) from None
        except ValueError as exc:  # a route's own checks
            raise HTTPException(400, str(exc)) from None
        try:
            await asyncio.to_thread(rl.add, route)  # encodes the utterances; publishes to the shared index
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        except SemanticRouterError as exc:
            raise HTTPException(503, f"could not store the route: {exc}") from None
        return JSONResponse({"added": route.name, "routes": sorted(rl.list_route_names())}, status_code=201)

    @router.delete("/admin/routes/{name}")
    async def delete(name: str, request: Request) -> dict[str, Any]:
        rl = layer(request)
        try:
            await asyncio.to_thread(rl.delete, name)
        except (RouteNotFoundError, KeyError):
            raise HTTPException(404, f"no route named {name!r}") from None
        except SemanticRouterError as exc:
            raise HTTPException(503, f"could not delete the route: {exc}") from None
        return {"deleted": name, "routes": sorted(rl.list_route_names())}

    return router
