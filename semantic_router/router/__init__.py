"""The router: `RouteLayer` and its collaborators (route store, routing, sync, persistence)."""
