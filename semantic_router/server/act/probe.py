"""Active health checks: a periodic `GET <base_url><path>` to each backend that has them, with a bounded timeout.

Each backend is checked on its own schedule (spread over the first interval so checks do not come in bursts);
a status below 400 passes, anything else (a 5xx, a timeout, a refused connection) fails. `BackendHealth.checked`
turns the results into ejections and returns. Off unless a model's `balancing.health_check` is set.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Protocol

import httpx

from semantic_router.server.act.health import BackendHealth
from semantic_router.server.act.health_config import ActiveHealthConfig

__all__ = ["Probed", "check_once", "run_health_checks"]


class Probed(Protocol):
    """What a check needs of a backend (an `upstream.Backend`): its client, base URL and health."""

    @property
    def client(self) -> httpx.AsyncClient: ...

    @property
    def url(self) -> str: ...

    @property
    def health(self) -> BackendHealth: ...


async def check_once(client: httpx.AsyncClient, url: str, check: ActiveHealthConfig) -> bool:
    """One check of the backend at `url`: whether it answered below 400 within the timeout."""
    try:
        response = await client.get(url + check.path, timeout=check.timeout_seconds)
    except httpx.HTTPError:
        return False
    return response.status_code < 400


async def _check_loop(backend: Probed, check: ActiveHealthConfig, first_delay: float) -> None:
    await asyncio.sleep(first_delay)
    while True:
        backend.health.checked(await check_once(backend.client, backend.url, check))
        await asyncio.sleep(check.interval_seconds)


async def run_health_checks(checked: Sequence[tuple[Probed, ActiveHealthConfig]]) -> None:
    """Check every (backend, its check) until cancelled."""
    rng = random.Random()
    loops = [asyncio.ensure_future(_check_loop(b, c, rng.uniform(0, min(c.interval_seconds, 1.0))))
             for b, c in checked]
    try:
        await asyncio.gather(*loops)
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
