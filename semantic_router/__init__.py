"""semantic_router: millisecond routing decisions for LLM applications.

Embed a query, compare it with each route's example utterances, and answer which route (or
none) it belongs to, without calling an LLM.
"""

from semantic_router.errors import ConfigError, RouteNotFoundError, SemanticRouterError
from semantic_router.face import RouteLayer
from semantic_router.route import Route, RouteChoice
from semantic_router.version import package_version as _package_version

SemanticRouter = RouteLayer

__all__ = ["Route", "RouteChoice", "RouteLayer", "SemanticRouter", "SemanticRouterError", "ConfigError",
           "RouteNotFoundError"]
__version__ = _package_version()  # from the installed metadata (pyproject.toml)
