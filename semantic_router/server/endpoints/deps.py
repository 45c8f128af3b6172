"""FastAPI dependencies of the gateway's endpoints: the app's state, the ready Runtime (read once per request:
a reload swaps it, the request keeps its own) and auth (the caller's gateway key -> its tenant, or the admin
session where the dashboard may stand in for a client)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from semantic_router.server.ingress.limits import KeyRecord
from semantic_router.server.operate.operations import Operations
from semantic_router.server.runtime import Runtime
from semantic_router.server.state import GatewayState

__all__ = ["AnthropicTenant", "CallerOrAdmin", "Ops", "ReadyRuntime", "State", "StatsReader", "Tenant", "VirtualKey"]


def gateway(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


def operations(request: Request) -> Operations:
    ops: Operations = request.app.state.operations
    return ops


State = Annotated[GatewayState, Depends(gateway)]
Ops = Annotated[Operations, Depends(operations)]


def ready_runtime(gw: State) -> Runtime:
    """The current Runtime; 503 until it is warm."""
    return gw.require_ready(gw.runtime)


ReadyRuntime = Annotated[Runtime, Depends(ready_runtime)]


async def caller(request: Request, rt: Runtime, authorization: str | None = None) -> str:
    """The caller's tenant; 401 unless its key is accepted (the tenant is the key's, never a header's). A
    virtual key (`limits:`) is kept on `request.state.virtual_key` for the limits of the endpoint.
    `authorization`: the header's value when another header carries it (Anthropic's `x-api-key`)."""
    authorization = authorization or request.headers.get("authorization")
    if rt.limiter is not None:
        key = await rt.limiter.identify(authorization)
        if key is not None:
            request.state.virtual_key = key
            return "tenant-" + key.tenant
    return rt.keys.check(authorization)


async def tenant(request: Request, rt: ReadyRuntime) -> str:
    """The caller's tenant (see `caller`)."""
    return await caller(request, rt)


def virtual_key(request: Request) -> KeyRecord | None:
    """The request's virtual key, once `tenant` accepted it (None: a static key or an open gateway)."""
    key: KeyRecord | None = getattr(request.state, "virtual_key", None)
    return key


async def caller_or_admin(request: Request, rt: ReadyRuntime, ops: Ops) -> None:
    """A gateway key's holder, or the admin (the dashboard's try box runs on the admin session)."""
    if not ops.allows_admin(request):
        await caller(request, rt)


async def stats_reader(request: Request, gw: State, ops: Ops) -> Runtime | None:
    """The current Runtime (None while none is built: then /stats is open) for a key's holder or the admin."""
    rt = gw.runtime
    if rt is not None and not ops.allows_admin(request):
        await caller(request, rt)
    return rt


async def anthropic_tenant(request: Request, rt: ReadyRuntime) -> str:
    """As `tenant`, also reading Anthropic's `x-api-key` header (what the `anthropic` SDK sends)."""
    given = request.headers.get("authorization")
    if given is None and (key := request.headers.get("x-api-key")) is not None:
        given = f"Bearer {key}"
    return await caller(request, rt, given)


Tenant = Annotated[str, Depends(tenant)]
AnthropicTenant = Annotated[str, Depends(anthropic_tenant)]
VirtualKey = Annotated[KeyRecord | None, Depends(virtual_key)]
CallerOrAdmin = Depends(caller_or_admin)
StatsReader = Annotated[Runtime | None, Depends(stats_reader)]
