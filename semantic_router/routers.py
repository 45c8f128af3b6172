"""aurelio-labs semantic-router's import path: `from semantic_router.routers import SemanticRouter`.

aurelio users install this package under the same import name, so this module serves aurelio's
faces (`semantic_router.compat.aurelio`): `RouteLayer` subclasses with aurelio's call conventions.
"""

from semantic_router.compat.aurelio import (
    HybridRouteLayer,
    HybridRouter,
    LayerConfig,
    RouteLayer,
    RouterConfig,
    SemanticRouter,
)

__all__ = ["HybridRouteLayer", "HybridRouter", "LayerConfig", "RouteLayer", "RouterConfig", "SemanticRouter"]
