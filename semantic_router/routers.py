"""Import path other routers' users expect: `from semantic_router.routers import SemanticRouter`."""

from semantic_router.face import RouteLayer

SemanticRouter = RouteLayer

__all__ = ["SemanticRouter", "RouteLayer"]
