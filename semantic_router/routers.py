"""Import path other routers' users expect: `from semantic_router.routers import SemanticRouter`."""

from semantic_router.router.layer import RouteLayer

SemanticRouter = RouteLayer

__all__ = ["SemanticRouter", "RouteLayer"]
