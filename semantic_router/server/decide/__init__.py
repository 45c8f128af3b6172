"""Decide: signals -> decisions -> session stickiness, from a parsed request to a plain `Routed` result.

Never imports act/ or operate/, and never a FastAPI `Request`: both front doors (HTTP, Envoy ext_proc) call it."""
