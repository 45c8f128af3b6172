"""Active health checks: a periodic `GET <base_url><path>` to each backend that has them, with a bounded timeout.

Each backend is checked on its own schedule (spread over the first interval so checks do not come in bursts);
a status below 400 passes, anything else (a 5xx, a timeout, a refused connection) fails. `BackendHealth.checked`
turns the results into ejections and returns. Off unless a model's `balancing.health_check` is set.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

import httpx

from semantic_router.server.act.health_config import ActiveHealthConfig

__all__ = ["check_once", "run_health_checks"]


async def check_once(client: httpx.AsyncClient, url: str, check: ActiveHealthConfig) -> bool:
    """One check of the backend at `url`: whether it answered below 400 within the timeout."""
    try:
        response = await client.get(url + check.path, timeout=check.timeout_seconds)
    except httpx.HTTPError:
        return False
    return response.status_code < 400


async def _check_loop(backend: Any, check: ActiveHealthConfig, first_delay: float) -> None:
    await asyncio.sleep(first_delay)
    while True:
        backend.health.checked(await check_once(backend.client, backend.url, check))
        await asyncio.sleep(check.interval_seconds)


async def run_health_checks(checked: Sequence[tuple[Any, ActiveHealthConfig]]) -> None:
    """Check every (backend, its check) until cancelled; a backend is anything with `client`, `url`, `health`."""
    rng = random.Random()
    loops = [asyncio.ensure_future(_check_loop(b, c, rng.uniform(0, min(c.interval_seconds, 1.0))))
             for b, c in checked]
    try:
        await asyncio.gather(*loops)
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
