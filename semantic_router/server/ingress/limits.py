"""Virtual API keys with per-minute limits and spend budgets (`Limiter`) over a `KeyStore` of plain data.

A request with a virtual key is admitted (ingress, before the decision) by one atomic step of the store:
the key still exists, its spend and its tenant's are under budget, the tokens counted in this minute are under
`tpm`, and the requests of this minute (counted by the same step) stay within `rpm`; the same step reserves
the request's estimated tokens (`reserve_of`) in the minute's `tpm` counter, so concurrent requests see each
other. After the answer, the act phase's usage (`usage` of the body or of the streamed last chunk) is charged:
the minute's tokens are corrected from the reservation to the actual count, spend goes to the key and its tenant.
Windows are fixed minutes (`floor(now / 60)`), so `Retry-After` is the seconds to the minute's end.
Secrets are stored as sha256 digests only; the secret is shown once at creation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from semantic_router.errors import ConfigError
from semantic_router.server.ingress.errors import APIError
from semantic_router.server.ingress.limits_config import KEY_PREFIX, LimitsConfig

__all__ = ["Admission", "Grant", "KeyRecord", "KeySpend", "KeyStore", "Limiter", "MemoryKeyStore", "Refusal", "hash_secret",
           "reserve_of", "tokens_of", "window_of"]

log = logging.getLogger("semantic_router.server")
WINDOW = 60  # seconds: rpm and tpm count per fixed minute
Refusal = Literal["ok", "revoked", "rpm", "tpm", "key_budget", "tenant_budget"]


def hash_secret(secret: str) -> str:
    """The stored form of a key's secret (sha256 hex): a leaked store gives away no usable key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def window_of(now: float) -> int:
    """The minute window `now` (epoch seconds) falls in."""
    return int(now // WINDOW)


@dataclass(frozen=True)
class KeyRecord:
    """A virtual key (never its secret): id, tenant, allowed models (empty: all) and limits (None: none)."""

    id: str
    tenant: str
    models: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    budget: float | None = None
    created: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "models": list(self.models)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRecord:
        return cls(**{**data, "models": tuple(data.get("models") or ())})


@dataclass(frozen=True)
class Admission:
    """What the store's admission step decided (`outcome` "ok" or the limit that refused) in `window`."""

    outcome: Refusal
    window: int


@dataclass(frozen=True)
class Grant:
    """An admitted request: the minute it counts in and the tokens reserved for it there."""

    window: int
    reserved: int = 0


@dataclass(frozen=True)
class KeySpend:
    """A key's counters: its spend, its tenant's, and this minute's requests and tokens."""

    spend: float
    tokens: int
    tenant_spend: float
    window_requests: int
    window_tokens: int


class KeyStore(Protocol):
    """Where keys and their counters live (memory for one replica, Redis for many). Plain data in and out."""

    async def add(self, digest: str, record: KeyRecord) -> None: ...

    async def find(self, digest: str) -> KeyRecord | None: ...

    async def records(self) -> list[KeyRecord]: ...

    async def revoke(self, key_id: str) -> bool: ...

    async def admit(self, record: KeyRecord, tenant_budget: float | None, now: float, reserve: int) -> Admission: ...

    async def charge(self, record: KeyRecord, grant: Grant, tokens: int, cost: float) -> None: ...

    async def spend(self, record: KeyRecord, now: float) -> KeySpend: ...

    async def aclose(self) -> None: ...


@dataclass
class _Counters:
    spend: float = 0.0
    tokens: int = 0
    windows: dict[int, list[int]] = field(default_factory=dict)  # window -> [requests, tokens]

    def window(self, w: int) -> list[int]:
        for old in [k for k in self.windows if k < w - 1]:  # the previous window may still be charged
            del self.windows[old]
        return self.windows.setdefault(w, [0, 0])


class MemoryKeyStore:
    """Keys and counters in this process (one replica). Every step runs without an await, so it is atomic on
    the event loop."""

    def __init__(self) -> None:
        self._by_digest: dict[str, KeyRecord] = {}
        self._digest_of: dict[str, str] = {}
        self._counters: dict[str, _Counters] = {}
        self._tenant_spend: dict[str, float] = {}

    async def add(self, digest: str, record: KeyRecord) -> None:
        if record.id in self._digest_of:
            raise ValueError(f"a key with id {record.id!r} already exists")
        self._by_digest[digest] = record
        self._digest_of[record.id] = digest

    async def find(self, digest: str) -> KeyRecord | None:
        return self._by_digest.get(digest)

    async def records(self) -> list[KeyRecord]:
        return sorted(self._by_digest.values(), key=lambda r: r.id)

    async def revoke(self, key_id: str) -> bool:
        digest = self._digest_of.pop(key_id, None)
        if digest is None:
            return False
        del self._by_digest[digest]
        return True

    def _of(self, key_id: str) -> _Counters:
        return self._counters.setdefault(key_id, _Counters())

    async def admit(self, record: KeyRecord, tenant_budget: float | None, now: float, reserve: int) -> Admission:
        w = window_of(now)
        if record.id not in self._digest_of:
            return Admission("revoked", w)
        counters = self._of(record.id)
        if record.budget is not None and counters.spend >= record.budget:
            return Admission("key_budget", w)
        if tenant_budget is not None and self._tenant_spend.get(record.tenant, 0.0) >= tenant_budget:
            return Admission("tenant_budget", w)
        current = counters.window(w)
        if record.tpm is not None and current[1] >= record.tpm:
            return Admission("tpm", w)
        if record.rpm is not None and current[0] >= record.rpm:
            return Admission("rpm", w)
        current[0] += 1
        current[1] += reserve
        return Admission("ok", w)

    async def charge(self, record: KeyRecord, grant: Grant, tokens: int, cost: float) -> None:
        counters = self._of(record.id)
        counters.spend += cost
        counters.tokens += tokens
        counters.windows.setdefault(grant.window, [0, 0])[1] += tokens - grant.reserved
        self._tenant_spend[record.tenant] = self._tenant_spend.get(record.tenant, 0.0) + cost

    async def spend(self, record: KeyRecord, now: float) -> KeySpend:
        counters = self._of(record.id)
        requests, tokens = counters.windows.get(window_of(now), [0, 0])
        return KeySpend(counters.spend, counters.tokens, self._tenant_spend.get(record.tenant, 0.0), requests, tokens)

    async def aclose(self) -> None:
        return None


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def reserve_of(body: dict[str, Any]) -> int:
    """Tokens a request is expected to use: the text it sends (about 4 characters a token: `messages`, or the
    `prompt` / `input` / `system` / `instructions` of the other APIs) plus the answer's `max_completion_tokens` /
    `max_tokens` / `max_output_tokens` when it sets one."""
    answer = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens") or 0
    answer = answer if isinstance(answer, int) and not isinstance(answer, bool) and answer > 0 else 0
    sent = [body.get(k) for k in ("messages", "prompt", "input", "system", "instructions") if body.get(k) is not None]
    return len(json.dumps(sent, ensure_ascii=False)) // 4 + answer


def tokens_of(usage: dict[str, Any] | None) -> int:
    """Total tokens of a backend's `usage` (total_tokens, else prompt + completion, or Anthropic's input +
    output); 0 when absent."""
    if not usage:
        return 0

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    return (count("total_tokens") or count("prompt_tokens") + count("completion_tokens")
            or count("input_tokens") + count("output_tokens"))


class Limiter:
    """The `limits:` section over a key store: identifies virtual keys, admits requests, charges usage."""

    def __init__(self, config: LimitsConfig, store: KeyStore, models: list[str],
                 clock: Callable[[], float] = time.time) -> None:
        unknown = sorted(set(config.prices) - set(models))
        if unknown:
            raise ConfigError(f"limits.prices: unknown model(s) {unknown} (configured: {sorted(models)})")
        if config.budget_unit == "price":
            missing = sorted(set(models) - set(config.prices))
            if missing:
                raise ConfigError(f"limits.prices: budget_unit 'price' needs a price for every model; missing {missing}")
        self.config = config
        self.store = store
        self.clock = clock
        self._pending: set[asyncio.Task[None]] = set()

    def cost(self, model: str, tokens: int) -> float:
        """Spend of `tokens` on `model` in the configured unit."""
        if self.config.budget_unit == "tokens":
            return float(tokens)
        return tokens / 1000.0 * self.config.prices[model]

    async def create(self, key_id: str | None = None, tenant: str | None = None, models: list[str] | None = None,
                     rpm: int | None = None, tpm: int | None = None,
                     budget: float | None = None) -> tuple[str, KeyRecord]:
        """A new key: (its secret, shown this once; its record). ValueError when `key_id` is taken."""
        key_id = key_id or "key-" + secrets.token_hex(6)
        record = KeyRecord(key_id, tenant or key_id, tuple(models or ()), rpm, tpm, budget, round(self.clock(), 3))
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        await self.store.add(hash_secret(secret), record)
        return secret, record

    async def identify(self, authorization: str | None) -> KeyRecord | None:
        """The virtual key the request carries (None: its token is not a virtual key); 401 for a token shaped
        like one that is unknown or revoked, and when `require_key` and there is none."""
        token = _bearer(authorization)
        if not token.startswith(KEY_PREFIX):
            if self.config.require_key:
                raise APIError(401, "this gateway needs a virtual API key (Authorization: Bearer sk-sr-...)",
                               code="invalid_api_key")
            return None
        record = await self.store.find(hash_secret(token))
        if record is None:
            raise APIError(401, "unknown or revoked API key", code="invalid_api_key")
        return record

    async def admit(self, record: KeyRecord, model: str, reserve: int = 0) -> Grant:
        """The request's grant (its window; `reserve` tokens held in it when the key has a `tpm`) when `record`
        may call `model` now; else 403 (model) or 429 (a limit)."""
        if record.models and model not in record.models:
            raise APIError(403, f"key {record.id!r} may not use model {model!r} (allowed: {list(record.models)})",
                           param="model", code="model_not_allowed")
        tenant = self.config.tenants.get(record.tenant)
        now = self.clock()
        reserve = reserve if record.tpm is not None else 0
        admission = await self.store.admit(record, None if tenant is None else tenant.budget, now, reserve)
        retry = str(max(1, math.ceil((admission.window + 1) * WINDOW - now)))
        if admission.outcome == "ok":
            return Grant(admission.window, reserve)
        if admission.outcome == "revoked":
            raise APIError(401, "unknown or revoked API key", code="invalid_api_key")
        if admission.outcome in ("rpm", "tpm"):
            limit = record.rpm if admission.outcome == "rpm" else record.tpm
            what = "requests" if admission.outcome == "rpm" else "tokens"
            raise APIError(429, f"key {record.id!r} reached its limit of {limit} {what} per minute; "
                                f"retry in {retry} s", code="rate_limit_exceeded", type_="rate_limit_error",
                           headers={"Retry-After": retry})
        whose = f"key {record.id!r}" if admission.outcome == "key_budget" else f"tenant {record.tenant!r}"
        raise APIError(429, f"{whose} has spent its budget", code="budget_exceeded", type_="insufficient_quota")

    async def charge(self, record: KeyRecord, grant: Grant, model: str, usage: dict[str, Any] | None) -> None:
        """Count an answer's usage against the key (its window's tokens, its spend and its tenant's). An answer
        without usage keeps its reservation as its count."""
        tokens = tokens_of(usage)
        if tokens:
            await self.store.charge(record, grant, tokens, self.cost(model, tokens))

    def charge_later(self, record: KeyRecord, grant: Grant, model: str, usage: dict[str, Any] | None) -> None:
        """`charge` in the background (the act phase reports usage synchronously, mid-stream or after it)."""
        if not tokens_of(usage):
            return

        async def run() -> None:
            try:
                await self.charge(record, grant, model, usage)
            except Exception as exc:  # noqa: BLE001 - the answer is out; a lost charge is logged, never raised
                log.warning("could not charge key %r for %s: %s", record.id, model, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drained(self) -> None:
        """Wait for background charges (shutdown and tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def record(self, key_id: str) -> KeyRecord:
        """The live key with `key_id`; 404 when there is none."""
        for record in await self.store.records():
            if record.id == key_id:
                return record
        raise APIError(404, f"no key with id {key_id!r}", param="id", code="key_not_found")

    async def spend(self, record: KeyRecord) -> dict[str, Any]:
        """The key's record and counters, for the admin endpoints."""
        counted = await self.store.spend(record, self.clock())
        tenant = self.config.tenants.get(record.tenant)
        return {**record.as_dict(), **asdict(counted), "unit": self.config.budget_unit,
                "tenant_budget": None if tenant is None else tenant.budget}
