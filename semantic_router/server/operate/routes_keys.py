"""`/admin/keys`: create, list and revoke virtual API keys and read their spend (admin key only).

The keys live in the `limits:` key store: with Redis, a key created or revoked on one replica is created or
revoked on every replica at once (each request looks its key up in the store).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from semantic_router.server.ingress.body import read_json
from semantic_router.server.ingress.limits import Limiter
from semantic_router.server.operate.admin import AdminKey, admin_only

__all__ = ["NewKey", "keys_router"]

_NAME = r"^[A-Za-z0-9_.:-]{1,64}$"


class NewKey(BaseModel):
    """The body of `POST /admin/keys` (every field optional: no limits, every model)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=_NAME)
    tenant: str | None = Field(default=None, pattern=_NAME, description="keys of one tenant share its budget")
    models: list[str] = Field(default_factory=list, description="virtual or configured model names; empty: all")
    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)
    budget: float | None = Field(default=None, ge=0.0)


def keys_router(limiter_of: Callable[[], Limiter | None], model_names: Callable[[], set[str]],
                admin: AdminKey | None) -> APIRouter:
    """`limiter_of()`: the current runtime's Limiter (None: no `limits:` section); `model_names()`: the names
    a key may be allowed (virtual and configured)."""
    router = APIRouter()

    def limiter(request: Request) -> Limiter:
        return admin_only(admin, request, limiter_of,
                          "this gateway has no virtual keys: add a `limits:` section to its config")

    @router.post("/admin/keys")
    async def create(request: Request) -> JSONResponse:
        lim = limiter(request)
        try:
            spec = NewKey.model_validate(await read_json(request, 65536))
        except ValidationError as exc:
            raise HTTPException(400, "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                                               for e in exc.errors())) from None
        unknown = sorted(set(spec.models) - model_names())
        if unknown:
            raise HTTPException(400, f"models: unknown model(s) {unknown} (known: {sorted(model_names())})")
        try:
            secret, record = await lim.create(spec.id, spec.tenant, spec.models, spec.rpm, spec.tpm, spec.budget)
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return JSONResponse({**record.as_dict(), "secret": secret}, status_code=201)

    @router.get("/admin/keys")
    async def listing(request: Request) -> dict[str, Any]:
        lim = limiter(request)
        return {"keys": [await lim.spend(r) for r in await lim.store.records()]}

    @router.get("/admin/keys/{key_id}/spend")
    async def spend(key_id: str, request: Request) -> dict[str, Any]:
        lim = limiter(request)
        return await lim.spend(await lim.record(key_id))

    @router.delete("/admin/keys/{key_id}")
    async def revoke(key_id: str, request: Request) -> dict[str, Any]:
        lim = limiter(request)
        if not await lim.store.revoke(key_id):
            raise HTTPException(404, f"no key with id {key_id!r}")
        return {"revoked": key_id}

    return router
