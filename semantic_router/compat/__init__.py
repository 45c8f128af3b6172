"""Drop-in names for users of other routers: change one import, keep the rest of the code.

- `semantic_router.compat.redisvl`: RedisVL's `SemanticRouter`, `Route`, `RouteMatch`,
  `RoutingConfig`, `DistanceAggregationMethod`, `HFTextVectorizer`.
- `semantic_router.compat.aurelio`: aurelio-labs' `SemanticRouter`, `HybridRouter`,
  `RouteLayer`, `HybridRouteLayer`, `RouterConfig`, `BaseEncoder`, `Route`, `RouteChoice`, encoders.

Both are thin layers over `RouteLayer`; see docs/migration.md for every mapped and unmapped name.
"""
