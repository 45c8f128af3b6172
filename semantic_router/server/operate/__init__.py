"""Operate (beside the request path): admin key, reload, routes at run time, cluster state, stats, metrics, dashboard."""
