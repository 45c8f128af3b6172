"""The HTTP front door's endpoints as FastAPI `APIRouter`s (the admin and dashboard routers live in operate/).

Each endpoint reads the current Runtime once (`deps.ReadyRuntime`) and checks the caller through a dependency
(`deps.Tenant`, `deps.CallerOrAdmin`), then walks ingress -> decide -> act.
"""

from semantic_router.server.endpoints.chat import router as chat_router
from semantic_router.server.endpoints.route import router as route_router
from semantic_router.server.endpoints.service import router as service_router

__all__ = ["chat_router", "route_router", "service_router"]
