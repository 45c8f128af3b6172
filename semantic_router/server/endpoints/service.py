"""Service endpoints: `/health`, `/ready`, `/metrics`, `/stats` and `/v1/models`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.responses import Response

from semantic_router.server.endpoints.deps import Ops, ReadyRuntime, State, StatsReader, Tenant
from semantic_router.server.operate.metrics import CONTENT_TYPE_LATEST

__all__ = ["router"]

router = APIRouter()


@router.get("/health")
async def health(ops: Ops) -> dict[str, Any]:
    """Alive, and which config runs (its hash; with a shared config its version, and a version it could not apply)."""
    return {"status": "ok", "config": ops.config_status(False)}


@router.get("/ready")
async def ready(gw: State) -> JSONResponse:
    rt = gw.runtime
    if rt is None or not rt.ready:
        return JSONResponse({"status": "loading", "error": gw.startup_error}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
async def metrics(gw: State) -> Response:
    return Response(gw.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/stats")
async def stats(gw: State, ops: Ops, rt: StatsReader) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if rt is not None:
        extra["sessions"] = len(rt.sessions)
        extra["backends"] = rt.upstreams.health()
        if rt.batcher is not None:
            extra["classifier"] = {"batches": rt.batcher.batches, "items": rt.batcher.items}
    return await ops.stats_extra(gw.stats.snapshot(extra))


@router.get("/v1/models")
async def models(gw: State, rt: ReadyRuntime, _tenant: Tenant) -> dict[str, Any]:
    names = [*rt.config.virtual_models, *rt.model_names]
    return {"object": "list", "data": [{"id": n, "object": "model", "created": gw.created,
                                        "owned_by": "semantic-router"} for n in names]}
