"""RouteLayer's async API: routing on the encoders' and indexes' native async clients.

Queries never block the event loop: encoding awaits the encoder's async client (OpenAI, Cohere;
a worker thread for local models), the search awaits the index's (redis.asyncio,
AsyncQdrantClient, Pinecone asyncio; a worker thread for LocalIndex), and dynamic routes await
the LLM's. Route changes (`aadd`, `adelete`, `async_sync`) are rare, hold the index lock and run
the same commit path as the sync API in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from semantic_router.dynamic import conversation as dynamic
from semantic_router.router.plans import adrive
from semantic_router.route import Route, RouteChoice

if TYPE_CHECKING:
    from semantic_router.router.layer import Query, RouteLayer


class AsyncMixin:
    """`acall`, `aroute_many`, `aroute_batch`, `aadd`, `adelete`, `async_sync`."""

    async def acall(self: RouteLayer, text: str | None = None, *, vector: Any = None, messages: Any = None,
                    route_filter: Sequence[str] | None = None, explain: bool = False,
                    simulate_static: bool = False) -> RouteChoice:
        """Async `rl(...)`: the best passing route for one query."""
        query = self._query(text, vector, messages)
        out = await self._aroute(query, route_filter, explain, 1, None, False, simulate_static)
        return out[0][0]

    async def aroute_many(self: RouteLayer, text: str | None = None, *, vector: Any = None, messages: Any = None,
                          max_k: int | None = None, aggregation: str | None = None,
                          route_filter: Sequence[str] | None = None, explain: bool = False,
                          simulate_static: bool = False) -> list[RouteChoice]:
        """Async `route_many`: every passing route, best first."""
        query = self._query(text, vector, messages)
        max_k, agg = self._many_args(max_k, aggregation)
        return (await self._aroute(query, route_filter, explain, max_k, agg, True, simulate_static))[0]

    async def aroute_batch(self: RouteLayer, texts: Sequence[str] | None = None, *, vectors: Any = None,
                           route_filter: Sequence[str] | None = None, explain: bool = False,
                           simulate_static: bool = False) -> list[RouteChoice]:
        """Async `route_batch`: one batched encode, one batched search."""
        query = self._batch_query(texts, vectors)
        out = await self._aroute(query, route_filter, explain, 1, None, False, simulate_static)
        return [c[0] for c in out]

    async def aadd(self: RouteLayer, routes: Route | Sequence[Route]) -> None:
        await asyncio.to_thread(self.add, routes)

    async def adelete(self: RouteLayer, name: str) -> None:
        await asyncio.to_thread(self.delete, name)

    async def async_sync(self: RouteLayer, mode: str | None = None) -> None:
        await asyncio.to_thread(self.sync, mode)

    async def _aroute(self: RouteLayer, query: Query, route_filter: Sequence[str] | None, explain: bool,
                      max_k: int, aggregation: str | None, many: bool,
                      simulate_static: bool) -> list[list[RouteChoice]]:
        if self.auto_sync is not None and time.monotonic() - self._last_check >= self.refresh_interval:
            await asyncio.to_thread(self.refresh)
        vectors, sparse = await self._aquery_vectors(query)
        plan = self._route_plan(vectors, sparse, route_filter, explain, max_k, aggregation, many)
        out = await adrive(plan, self.index.aquery_batch)
        if simulate_static or not self._table.dynamic:
            return out
        for i, choices in enumerate(out):
            text = None if query.texts is None else query.texts[0 if query.history else i]
            await dynamic.afill(self, choices, text, query.messages, simulate_static)
        return out

    async def _aquery_vectors(self: RouteLayer, query: Query):
        if query.vectors is not None:
            return query.vectors, None
        dense = await self.encoder.aencode_queries(query.texts)
        if query.history:
            dense = dynamic.blend(dense, self.history)
        texts = query.texts[:1] if query.history else query.texts
        sparse = None if self.sparse_encoder is None else await self.sparse_encoder.aencode_queries(texts)
        return dense, sparse
