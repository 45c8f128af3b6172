"""The act phase of `/v1/embeddings`: a pass-through to the configured model the request names (an embedding
must come from the model the caller's vectors were made with, so it is never routed elsewhere)."""

from __future__ import annotations

import time

from fastapi import Request
from starlette.responses import Response

from semantic_router.server.act.apis import rewrite_for
from semantic_router.server.act.chat import Observer
from semantic_router.server.act.forward import ClientGone, race_disconnect, usage_of_body, whole_response
from semantic_router.server.act.upstream import UpstreamFailure, Upstreams
from semantic_router.server.config import GatewayConfig
from semantic_router.server.ingress.apis import API_PATHS, EmbeddingsRequest
from semantic_router.server.ingress.errors import APIError

__all__ = ["forward_embeddings"]


def embedding_model(config: GatewayConfig, virtual_models: set[str] | list[str], name: str) -> str:
    """The configured model an embeddings request names (4xx naming it otherwise)."""
    if name in virtual_models:
        raise APIError(400, f"embeddings are not routed: name a configured model instead of the virtual model "
                       f"{name!r} (known: {', '.join(config.models)})", param="model", code="model_not_routable")
    if name not in config.models:
        raise APIError(404, f"The model '{name}' does not exist; known: {', '.join(config.models)}",
                       param="model", code="model_not_found")
    if "embeddings" not in config.models[name].apis:
        raise APIError(400, f"the model {name!r} does not serve embeddings (its 'apis' lack 'embeddings')",
                       param="model", code="api_not_served")
    return name


async def forward_embeddings(client: Request, req: EmbeddingsRequest, config: GatewayConfig,
                             upstreams: Upstreams, observer: Observer) -> Response:
    """Forward to the named model's backends (failover among them), answer with their response."""
    model = embedding_model(config, config.virtual_models, req.model)
    try:
        opened = await race_disconnect(client, upstreams.open(
            [model], lambda m: rewrite_for("embeddings", req.body, None, m, config.models[m]), False,
            observer.upstream_error, API_PATHS["embeddings"]))
    except UpstreamFailure as exc:
        raise APIError(exc.status, str(exc), code=f"upstream_{exc.reason}") from None
    except ClientGone:
        observer.client_gone("upstream")
        return Response(status_code=499)
    observer.record_forward(None, "embeddings", model, False)
    observer.observe_usage(model, usage_of_body(opened.response.content))
    observer.record_latency((time.perf_counter() - req.started) * 1e3)
    return whole_response(opened, {"x-router-model": model})
