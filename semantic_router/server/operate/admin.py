"""The admin key: guards `PUT /admin/config` and the dashboard. Sent as `Authorization: Bearer <key>`, or (for
the browser) as the `sr_admin` cookie the dashboard's login sets, which holds an HMAC of the key, not the key."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException, Request

__all__ = ["COOKIE", "AdminKey", "admin_only"]

COOKIE = "sr_admin"
T = TypeVar("T")


class AdminKey:
    """One or more accepted admin keys, compared in constant time (every key is compared, no early exit)."""

    def __init__(self, keys: list[str]) -> None:
        keys = [k.strip() for k in keys if k.strip()]
        if not keys:
            raise ValueError("an admin key must not be empty")
        self._keys = tuple(k.encode() for k in keys)

    @classmethod
    def from_env(cls, name: str) -> AdminKey:
        """Keys from environment variable `name` (comma-separated); ValueError naming it when unset or empty."""
        value = os.environ.get(name, "")
        if not value.strip():
            raise ValueError(f"admin key environment variable {name!r} is not set")
        return cls(value.split(","))

    @staticmethod
    def _token(key: bytes) -> str:
        return hmac.new(key, b"semantic-router dashboard session", hashlib.sha256).hexdigest()

    def _matches(self, given: bytes) -> bool:
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(given, key)
        return ok

    def cookie_for(self, key: str) -> str | None:
        """The session cookie value for a correct `key` (None when it is wrong)."""
        return self._token(key.strip().encode()) if self._matches(key.strip().encode()) else None

    def allows(self, request: Request) -> bool:
        """Whether the request carries an admin key (header) or a dashboard session (cookie)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._matches(token.strip().encode()):
            return True
        cookie = request.cookies.get(COOKIE, "").encode()
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(cookie, self._token(key).encode())
        return ok

    def check(self, request: Request) -> None:
        """Raise 401 unless the request is an admin's."""
        if not self.allows(request):
            raise HTTPException(401, "this endpoint needs the admin key (Authorization: Bearer <admin key>)")


def admin_only(admin: AdminKey | None, request: Request, current: Callable[[], T | None], missing: str) -> T:
    """What an admin endpoint works on (`current()`): 403 without an admin key configured, 401 unless the
    request is an admin's, 409 with `missing` when there is nothing to work on."""
    if admin is None:
        raise HTTPException(403, "admin endpoints are disabled: configure an admin key to use them")
    admin.check(request)
    found = current()
    if found is None:
        raise HTTPException(409, missing)
    return found
